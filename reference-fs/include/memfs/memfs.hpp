// memfs: an in-memory filesystem on fusepp that behaves like Linux tmpfs through the syscall
// interface. MemFs is the Operations object (usable in-process or by fusecheck-memfs);
// Options are tmpfs's mount options plus the FUSE cache timeouts.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fusepp/fusepp.hpp"

namespace memfs {

// How reads, readdir and readlink move atime, as tmpfs does under the mount flags of the
// same names. FUSE never tells the daemon the mount's flags, so memfs must be told.
enum class AtimePolicy {
  relatime,     // the kernel default ("relatime", "atime"): only when atime <= mtime or ctime, or a day old
  strictatime,  // every access
  noatime,      // never
};

struct Options {
  double entry_timeout = 1.0;  // seconds, handed to the kernel with every entry
  double attr_timeout = 1.0;
  uint64_t size_bytes = 0;   // 0: half of physical RAM, like tmpfs
  uint64_t max_inodes = 0;   // 0: half of the RAM pages, like tmpfs
  mode_t root_mode = 01777;  // tmpfs's mode= default
  uid_t root_uid = 0;        // tmpfs: the mounter
  gid_t root_gid = 0;
  AtimePolicy atime = AtimePolicy::relatime;
  bool nodiratime = false;  // directories keep their atime whatever the policy
  // FUSE writeback cache: the kernel buffers writes and owns size and mtime (a speed option;
  // the conformance runs keep it off, as write-through is what tmpfs's semantics need).
  bool writeback_cache = false;
  // FUSE_CAP_AUTO_INVAL_DATA: a read that finds a new mtime or size drops the cached pages.
  bool auto_inval_data = true;
  // A bug on purpose (the breaker of kernel/unmount-sends-no-forget): at the end of a
  // connection keep the lookup counts, as a filesystem that waits for FORGETs the kernel never
  // sends at unmount would; a remount then starts with stale references.
  bool unmount_keeps_lookup_counts = false;
  // Stamp times from CLOCK_REALTIME_COARSE, as tmpfs and ext4 do (an update within the clock's
  // tick leaves a time as it was), not CLOCK_REALTIME: a coarse-clock target for the fuzzer's tests.
  bool coarse_clock = false;
};

struct State;  // the inode table and accounting (src/state.hpp), opaque to users

// Parses a tmpfs-style size ("64m", "1g", "4096", "10%") into bytes; nullopt when invalid.
std::optional<uint64_t> parse_size(std::string_view text);

class MemFs : public fusepp::Operations {
 public:
  explicit MemFs(Options options = {});
  ~MemFs() override;

  // ----- test hooks -----
  size_t inode_count() const;
  // Structural invariants: nlink equals the number of names (directories: 2 + subdirs),
  // every name points to a live inode, parent links are right, no unreachable inode is
  // kept, lookup counts never went below zero (the kernel never forgot a reference memfs
  // did not count), page and inode-space accounting adds up. One line per problem.
  std::vector<std::string> check_consistency() const;
  const Options& options() const { return options_; }
  // The kernel's references memfs counts for ino (nullopt: no such inode), for the
  // Observer's balance (fusepp::Observer::set_lookup_count_source).
  std::optional<uint64_t> lookup_count(uint64_t ino) const;
  // Test hook: READDIRPLUS entries are not counted (the classic bug), so a test can show the
  // balance check catching it.
  void forget_to_count_readdirplus() { count_readdirplus_ = false; }
  // The kernel's connection ended (unmount): it forgot every reference without sending a
  // FORGET, so every count drops to 0 (the root's to the 1 a new mount holds) and unlinked
  // inodes nobody holds are freed. Open handles are left alone: an unmount has released them.
  void forget_all_references();

  // ----- behind the kernel's back (backend.cpp) -----
  // Changes memfs as another client of a network filesystem would: the kernel is not told.
  // The request is a JSON object {"action": ..., "path": ...} as docs/control-protocol.md
  // lists; the answer is {} or the action's result. Throws fusepp::ControlError.
  nlohmann::json backend(const nlohmann::json& request);

  // ----- entries (entry_ops.cpp) -----
  fusepp::Reply<fusepp::EntryAttributes> lookup(fusepp::InodeT parent, std::string_view name,
                                                const fusepp::RequestContext& ctx) override;
  boost::asio::awaitable<void> forget(std::vector<fusepp::ForgetRequest> inode_list) override;
  fusepp::Reply<fusepp::EntryAttributes> mknod(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                               dev_t rdev, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> mkdir(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                               const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> unlink(fusepp::InodeT parent, std::string_view name, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> rmdir(fusepp::InodeT parent, std::string_view name, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> symlink(fusepp::InodeT parent, std::string_view name, std::string_view target,
                                                 const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> rename(fusepp::InodeT parent_old, std::string_view name_old, fusepp::InodeT parent_new,
                             std::string_view name_new, fusepp::FlagT flags,
                             const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> link(fusepp::InodeT inode, fusepp::InodeT new_parent,
                                              std::string_view new_name, const fusepp::RequestContext& ctx) override;

  // ----- attributes (attr_ops.cpp) -----
  fusepp::Reply<fusepp::EntryAttributes> getattr(fusepp::InodeT inode, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> setattr(fusepp::InodeT inode, const fusepp::EntryAttributes& attr,
                                                 const fusepp::SetattrFields& fields,
                                                 std::optional<fusepp::FileHandleT> fh,
                                                 const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::string> readlink(fusepp::InodeT inode, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<bool> access(fusepp::InodeT inode, int mode, const fusepp::RequestContext& ctx) override;

  // ----- filesystem (fs_ops.cpp) -----
  fusepp::Reply<fusepp::StatvfsData> statfs(const fusepp::RequestContext& ctx) override;

  // ----- files (file_ops.cpp) -----
  fusepp::Reply<fusepp::FileInfo> open(fusepp::InodeT inode, fusepp::FlagT flags,
                                       const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::pair<fusepp::FileInfo, fusepp::EntryAttributes>> create(
      fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode, fusepp::FlagT flags,
      const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::string> read(fusepp::FileHandleT fh, off_t off, size_t size) override;
  // What the binding calls: read() answered with views into memfs's pages, holding the
  // filesystem lock until the reply is written (nothing changes them meanwhile).
  fusepp::Reply<fusepp::ReadData> read_data(fusepp::FileHandleT fh, off_t off, size_t size,
                                            const fusepp::RequestContext& ctx) override;
  // The overloads with the caller (and opendir's flags) that fusepp adds to pyfuse3's: memfs
  // needs the writer to drop setgid as tmpfs does, and O_NOATIME on directories.
  fusepp::Reply<size_t> write(fusepp::FileHandleT fh, off_t off, std::string_view buf,
                              const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> flush(fusepp::FileHandleT fh) override;
  fusepp::Reply<void> release(fusepp::FileHandleT fh) override;
  fusepp::Reply<void> fsync(fusepp::FileHandleT fh, bool datasync) override;
  fusepp::Reply<void> fallocate(fusepp::FileHandleT fh, int mode, off_t offset, off_t length) override;
  fusepp::Reply<off_t> lseek(fusepp::FileHandleT fh, off_t off, int whence) override;
  fusepp::Reply<size_t> copy_file_range(fusepp::FileHandleT fh_in, off_t off_in, fusepp::FileHandleT fh_out,
                                        off_t off_out, size_t length, fusepp::FlagT flags) override;
  // FS_IOC_GETFLAGS/SETFLAGS only (ioctl_ops.cpp), on files and directories.
  fusepp::Reply<fusepp::IoctlReply> ioctl(fusepp::FileHandleT fh, unsigned cmd, uint64_t arg, fusepp::FlagT flags,
                                          std::string_view in_buf, size_t out_size) override;

  // ----- directories (dir_ops.cpp) -----
  fusepp::Reply<fusepp::FileHandleT> opendir(fusepp::InodeT inode, fusepp::FlagT flags,
                                             const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> readdir(fusepp::FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) override;
  fusepp::Reply<void> releasedir(fusepp::FileHandleT fh) override;
  fusepp::Reply<void> fsyncdir(fusepp::FileHandleT fh, bool datasync) override;

  // ----- extended attributes (xattr_ops.cpp) -----
  fusepp::Reply<void> setxattr(fusepp::InodeT inode, std::string_view name, std::string_view value, fusepp::FlagT flags,
                               const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::string> getxattr(fusepp::InodeT inode, std::string_view name,
                                      const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::vector<std::string>> listxattr(fusepp::InodeT inode, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> removexattr(fusepp::InodeT inode, std::string_view name,
                                  const fusepp::RequestContext& ctx) override;

 protected:
  // For single-bug test variants (reference-fs/variants/), which build on src/state.hpp.
  State& state() { return *state_; }
  // The time to stamp now, by Options::coarse_clock; handlers (and State's members, through
  // State::now_ns) call it unqualified.
  int64_t now_ns() const;

 private:
  std::unique_ptr<State> state_;  // with its one mutex: see src/state.hpp
  Options options_;
  bool count_readdirplus_ = true;
};

}  // namespace memfs
