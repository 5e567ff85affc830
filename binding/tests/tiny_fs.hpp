// Test support: a flat filesystem (files and directories directly in the root) that counts its
// own lookups, as the observation tests need: the Observer's balance compares that count with
// the wire's. count_readdirplus = false is the classic bug (READDIRPLUS entries not counted).
#pragma once

#include <utility>

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "fusepp/fusepp.hpp"

namespace fusepp::test {

class TinyFs : public Operations {
 public:
  bool count_readdirplus = true;
  double timeout = 300;  // entry and attribute timeout
  std::atomic<pid_t> last_reader{0};

  explicit TinyFs(std::initializer_list<std::string> files = {}) {
    for (const auto& f : files) add(f);
  }

  uint64_t add(const std::string& name, bool dir = false) {
    std::lock_guard lock(mutex_);
    uint64_t ino = next_++;
    names_[name] = ino;
    dirs_[ino] = dir;
    return ino;
  }
  std::optional<uint64_t> lookup_count(uint64_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = lookups_.find(ino);
    return it == lookups_.end() ? 0 : it->second;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    std::lock_guard lock(mutex_);
    auto it = parent == ROOT_INODE ? names_.find(std::string(name)) : names_.end();
    if (it == names_.end()) co_return FUSEError(ENOENT);
    ++lookups_[it->second];
    co_return attrs(it->second);
  }
  asio::awaitable<void> forget(std::vector<ForgetRequest> list) override {
    std::lock_guard lock(mutex_);
    for (const auto& [ino, n] : list) lookups_[ino] -= std::min<uint64_t>(lookups_[ino], n);
    co_return;
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext&) override {
    std::lock_guard lock(mutex_);
    if (ino != ROOT_INODE && !dirs_.count(ino)) co_return FUSEError(ENOENT);
    co_return attrs(ino);
  }
  Reply<EntryAttributes> mkdir(InodeT parent, std::string_view name, ModeT, const RequestContext&) override {
    if (parent != ROOT_INODE) co_return FUSEError(EPERM);
    uint64_t ino = add(std::string(name), true);
    std::lock_guard lock(mutex_);
    ++lookups_[ino];
    co_return attrs(ino);
  }
  Reply<FileHandleT> opendir(InodeT ino, const RequestContext&) override {
    if (ino != ROOT_INODE) co_return FUSEError(EPERM);
    co_return FileHandleT{1};
  }
  Reply<void> readdir(FileHandleT, off_t start, ReaddirToken& token) override {
    std::lock_guard lock(mutex_);
    off_t cookie = 0;
    for (const auto& [name, ino] : names_) {
      if (++cookie <= start) continue;
      if (!readdir_reply(token, name, attrs(ino), cookie)) break;
      if (token.plus() && count_readdirplus) ++lookups_[ino];
    }
    co_return ok;
  }
  Reply<void> releasedir(FileHandleT) override { co_return ok; }
  Reply<FileInfo> open(InodeT ino, FlagT, const RequestContext&) override {
    co_return FileInfo{.fh = FileHandleT{ino}};
  }
  Reply<std::string> read(FileHandleT fh, off_t off, size_t size, const RequestContext& ctx) override {
    last_reader = ctx.pid();
    std::string data = contents(fh);
    if (off >= static_cast<off_t>(data.size())) co_return std::string();
    co_return data.substr(static_cast<size_t>(off), size);
  }
  Reply<void> release(FileHandleT) override { co_return ok; }

  static std::string contents(uint64_t ino) { return "contents of " + std::to_string(ino) + "\n"; }

 private:
  EntryAttributes attrs(uint64_t ino) const {
    EntryAttributes a{.st_ino = InodeT{ino}, .entry_timeout = timeout, .attr_timeout = timeout};
    bool dir = ino == ROOT_INODE || dirs_.at(ino);
    a.st_mode = ModeT{dir ? S_IFDIR | 0755u : S_IFREG | 0644u};
    a.st_size = dir ? 0 : static_cast<int64_t>(contents(ino).size());
    return a;
  }

  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> names_;
  std::map<uint64_t, bool> dirs_;
  std::map<uint64_t, uint64_t> lookups_;
  uint64_t next_ = 2;
};

}  // namespace fusepp::test
