// Test support: pyfuse3's hello example ported to fusepp (one read-only file "message" in the
// root), with hooks the mounted tests use: a getattr that can be made to throw, and an inode
// whose getattr suspends on an Asio timer.
#pragma once

#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <stdexcept>

#include "fusepp/fusepp.hpp"

namespace fusepp::test {

class HelloFs : public Operations {
 public:
  static constexpr InodeT kFileInode{2};
  static constexpr InodeT kSlowInode{3};  // "slow": getattr waits slow_delay on a timer
  inline static const std::string kFileName = "message";
  inline static const std::string kSlowName = "slow";
  inline static const std::string kData = "hello world\n";

  std::atomic<bool> throw_in_getattr{false};
  std::chrono::milliseconds slow_delay{2000};
  std::atomic<int> getattr_calls{0};

  EntryAttributes attrs(InodeT inode) const {
    EntryAttributes a;
    a.st_ino = inode;
    if (inode == ROOT_INODE) {
      a.st_mode = ModeT{S_IFDIR | 0755};
      a.st_nlink = 2;
    } else {
      a.st_mode = ModeT{S_IFREG | 0644};
      a.st_size = inode == kFileInode ? static_cast<int64_t>(kData.size()) : 0;
    }
    a.entry_timeout = 0;
    a.attr_timeout = 0;
    return a;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    if (parent != ROOT_INODE) co_return FUSEError(ENOENT);
    if (name == kFileName) co_return attrs(kFileInode);
    if (name == kSlowName) co_return attrs(kSlowInode);
    co_return FUSEError(ENOENT);
  }

  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext&) override {
    getattr_calls.fetch_add(1);
    if (throw_in_getattr && inode == kFileInode) throw std::runtime_error("getattr failed on purpose");
    if (inode == kSlowInode) {
      asio::steady_timer timer(co_await asio::this_coro::executor, slow_delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    if (inode != ROOT_INODE && inode != kFileInode && inode != kSlowInode) co_return FUSEError(ENOENT);
    co_return attrs(inode);
  }

  Reply<FileHandleT> opendir(InodeT inode, const RequestContext&) override {
    if (inode != ROOT_INODE) co_return FUSEError(ENOTDIR);
    co_return FileHandleT{inode.value};
  }

  Reply<void> readdir(FileHandleT, off_t start_id, ReaddirToken& token) override {
    if (start_id < 1 && !readdir_reply(token, kFileName, attrs(kFileInode), 1)) co_return ok;
    if (start_id < 2) readdir_reply(token, kSlowName, attrs(kSlowInode), 2);
    co_return ok;
  }

  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext&) override {
    if (inode != kFileInode) co_return FUSEError(EISDIR);
    if ((flags & O_ACCMODE) != O_RDONLY) co_return FUSEError(EACCES);
    co_return FileInfo{.fh = FileHandleT{inode.value}};
  }

  Reply<std::string> read(FileHandleT, off_t off, size_t size) override {
    if (off >= static_cast<off_t>(kData.size())) co_return std::string();
    co_return kData.substr(static_cast<size_t>(off), size);
  }
};

}  // namespace fusepp::test
