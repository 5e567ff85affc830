// fusepp::Operations: the base class a filesystem derives from, one coroutine per request of
// libfuse 3.14's low-level API. Signatures follow pyfuse3's Operations (argument names and
// order); additions pyfuse3 lacks are marked. Every handler defaults to ENOSYS except forget.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <fcntl.h>
#include <sys/file.h>
#include <sys/uio.h>

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fusepp/coroutine_frames.hpp"
#include "fusepp/types.hpp"

struct fuse_pollhandle;

namespace fusepp {

namespace asio = boost::asio;

// What every handler returns: a coroutine producing a T or an errno.
template <class T>
using Reply = asio::awaitable<Result<T>>;

// Opaque state of one readdir request; pass it to readdir_reply() unchanged.
class Operations;
namespace testing {
struct ReaddirEntry;
Result<std::vector<ReaddirEntry>> readdir_directly(Operations&, FileHandleT, off_t, size_t, bool);
}  // namespace testing

class ReaddirToken {
 public:
  ReaddirToken(const ReaddirToken&) = delete;
  ReaddirToken& operator=(const ReaddirToken&) = delete;
  // True for READDIRPLUS: each accepted entry adds one to its inode's lookup count.
  // False for a plain READDIR (kernels without readdirplus): no lookup count is added.
  bool plus() const { return plus_; }

 private:
  friend class Dispatcher;
  friend bool readdir_reply(ReaddirToken&, std::string_view, const EntryAttributes&, off_t);
  friend Result<std::vector<testing::ReaddirEntry>> testing::readdir_directly(Operations&, FileHandleT, off_t, size_t,
                                                                              bool);
  ReaddirToken(fuse_req* req, size_t size, bool plus) : req_(req), capacity_(size), plus_(plus) {}
  fuse_req* req_;
  size_t capacity_;
  bool plus_;
  std::string buffer_;
  std::vector<uint64_t> looked_up_;  // inodes whose lookup count an accepted entry raised
  bool record_names_ = false;        // an Observer is attached: it wants their names too
  std::vector<std::string> looked_up_names_;
  // A fault rule's reply {ino: 0}: every entry goes out with node id 0 (the kernel takes no
  // reference); the dispatcher gives back the counts the handler took for them.
  bool zero_node_ids_ = false;
  std::vector<uint64_t> zeroed_;
};

// Adds one entry to a readdir reply. Returns false and adds nothing when the kernel's
// buffer is full; the handler then returns and the kernel asks again from next_id.
// next_id must be non-zero and must stay valid while entries are added or removed.
// For '.' and '..' the lookup count is never touched; otherwise see ReaddirToken::plus().
bool readdir_reply(ReaddirToken& token, std::string_view name, const EntryAttributes& attr, off_t next_id);

// One (inode, nlookup) pair of a FORGET or BATCH_FORGET.
struct ForgetRequest {
  InodeT inode;
  uint64_t nlookup;
};

// A POSIX record lock as getlk/setlk see it; lock_owner identifies the open-file owner.
struct LockRequest {
  struct flock lock;
  uint64_t lock_owner;
};

// A poll handle the filesystem may keep to wake a poller later (owns fuse_pollhandle).
class PollHandle {
 public:
  explicit PollHandle(fuse_pollhandle* ph = nullptr) : ph_(ph) {}
  PollHandle(PollHandle&& o) noexcept : ph_(std::exchange(o.ph_, nullptr)) {}
  PollHandle& operator=(PollHandle&& o) noexcept;
  PollHandle(const PollHandle&) = delete;
  ~PollHandle();
  explicit operator bool() const { return ph_ != nullptr; }
  void notify();  // wakes the poller (fuse_lowlevel_notify_poll)

 private:
  fuse_pollhandle* ph_;
};

// A READ's answer as pieces of memory, written to the kernel in one writev without being
// copied first (fusepp addition: pyfuse3 answers with bytes). The binding keeps the
// ReadData, and so `keep_alive`, until that write is done: hold there whatever keeps the
// pieces valid and unchanged until then (the bytes themselves, a reference count, or the
// lock that guards them, if the handler runs to completion without suspending).
class ReadData {
 public:
  ReadData() = default;
  explicit ReadData(std::string bytes);  // owns its one piece: how read()'s answer travels
  void add(std::string_view piece) {
    if (!piece.empty()) pieces_.push_back({const_cast<char*>(piece.data()), piece.size()});
    size_ += piece.size();
  }
  const std::vector<iovec>& pieces() const { return pieces_; }
  size_t size() const { return size_; }
  std::shared_ptr<const void> keep_alive;

 private:
  std::vector<iovec> pieces_;
  size_t size_ = 0;
};

// Result of a restricted (non-retry) ioctl.
struct IoctlReply {
  int result = 0;
  std::string out;  // at most out_size bytes, copied back to the caller's buffer
};

// The read-ahead the kernel gives a new FUSE mount (its VM_READAHEAD_PAGES).
inline constexpr size_t kKernelReadahead = 128 * 1024;

class Operations {
 public:
  // pyfuse3's class attributes, applied when the kernel's INIT arrives.
  bool supports_dot_lookup = true;      // FUSE_CAP_EXPORT_SUPPORT: lookups of . and ..
  bool enable_writeback_cache = false;  // FUSE_CAP_WRITEBACK_CACHE
  bool enable_acl = false;              // FUSE_CAP_POSIX_ACL
  // Addition to pyfuse3: FUSE_CAP_POSIX_LOCKS and FUSE_CAP_FLOCK_LOCKS. Off, the kernel keeps
  // fcntl/flock locks locally and getlk/setlk/flock are never called (the kernel would pass
  // a default ENOSYS straight to the caller instead of falling back to local locking).
  bool enable_locks = false;
  // Additions to pyfuse3, applied at INIT (so a change needs a remount). READDIRPLUS: on, the
  // kernel always asks for READDIRPLUS; off, only plain READDIR; automatic, the kernel picks
  // per call (FUSE_CAP_READDIRPLUS_AUTO: plus on the first call and after a lookup).
  enum class Readdirplus { on, off, automatic };
  Readdirplus readdirplus = Readdirplus::on;
  // FUSE_CAP_AUTO_INVAL_DATA (libfuse's default): a changed mtime or size in a reply drops
  // the inode's cached pages.
  bool auto_inval_data = true;
  // Addition to pyfuse3: read-ahead in bytes; 0 keeps the kernel's (128 KiB), which caps a
  // buffered READ at 128 KiB whatever max_pages allows. INIT can only lower it, so a larger
  // value is written to the mount's /sys/class/bdi/MAJOR:MINOR/read_ahead_kb when the
  // Session mounts, which only root may do (otherwise the kernel's default stays).
  size_t max_readahead = 0;

  Operations() = default;
  Operations(const Operations&) = delete;
  Operations& operator=(const Operations&) = delete;
  virtual ~Operations() = default;

  // Called inside the INIT request, before any other. Must not throw (a throw is logged).
  virtual void init() {}

  // ----- entries (names) -----
  // Name views (name, target, value, buf) stay valid until the handler completes, even
  // across suspension: the dispatcher pins the request buffer while a handler is suspended.
  virtual Reply<EntryAttributes> lookup(InodeT parent_inode, std::string_view name, const RequestContext& ctx);
  // Never fails; called after the kernel got its (empty) reply.
  virtual asio::awaitable<void> forget(std::vector<ForgetRequest> inode_list);
  virtual Reply<EntryAttributes> mknod(InodeT parent_inode, std::string_view name, ModeT mode, dev_t rdev,
                                       const RequestContext& ctx);
  virtual Reply<EntryAttributes> mkdir(InodeT parent_inode, std::string_view name, ModeT mode,
                                       const RequestContext& ctx);
  virtual Reply<void> unlink(InodeT parent_inode, std::string_view name, const RequestContext& ctx);
  virtual Reply<void> rmdir(InodeT parent_inode, std::string_view name, const RequestContext& ctx);
  virtual Reply<EntryAttributes> symlink(InodeT parent_inode, std::string_view name, std::string_view target,
                                         const RequestContext& ctx);
  virtual Reply<void> rename(InodeT parent_inode_old, std::string_view name_old, InodeT parent_inode_new,
                             std::string_view name_new, FlagT flags, const RequestContext& ctx);
  virtual Reply<EntryAttributes> link(InodeT inode, InodeT new_parent_inode, std::string_view new_name,
                                      const RequestContext& ctx);

  // ----- attributes -----
  virtual Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx);
  // fh is set for calls on an open file (ftruncate, fchmod...), empty for path-based ones.
  virtual Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const SetattrFields& fields,
                                         std::optional<FileHandleT> fh, const RequestContext& ctx);
  virtual Reply<std::string> readlink(InodeT inode, const RequestContext& ctx);
  // Only called when mounted without default_permissions. false answers EACCES.
  virtual Reply<bool> access(InodeT inode, int mode, const RequestContext& ctx);
  virtual Reply<StatvfsData> statfs(const RequestContext& ctx);

  // ----- files -----
  // flags exclude O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC's creation bits as in pyfuse3;
  // O_TRUNC is passed when the kernel forwards it (atomic_o_trunc).
  virtual Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx);
  virtual Reply<std::pair<FileInfo, EntryAttributes>> create(InodeT parent_inode, std::string_view name, ModeT mode,
                                                             FlagT flags, const RequestContext& ctx);
  // A short result means end of file.
  virtual Reply<std::string> read(FileHandleT fh, off_t off, size_t size);
  // fusepp addition, the overload the binding calls: read() with the reader's context (to see
  // an INTERRUPT of a long read, or who reads). By default it forwards to read() above.
  virtual Reply<std::string> read(FileHandleT fh, off_t off, size_t size, const RequestContext& ctx);
  // fusepp addition, the one the binding calls: read() answered with views into the
  // filesystem's own storage (ReadData), which saves copying every byte once more. By default
  // it calls read(fh, off, size, ctx) and hands its bytes over.
  virtual Reply<ReadData> read_data(FileHandleT fh, off_t off, size_t size, const RequestContext& ctx);
  // Returns the count written: all of buf unless the file is direct_io.
  virtual Reply<size_t> write(FileHandleT fh, off_t off, std::string_view buf);
  // fusepp addition, the overload the binding calls: write() with the writer's context. By
  // default it forwards to pyfuse3's write() above. Override it when the writer matters: the
  // kernel leaves some setuid/setgid removal on write to the filesystem (docs/binding-ops.md).
  // A class that overrides only one overload adds `using fusepp::Operations::write;`.
  virtual Reply<size_t> write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext& ctx);
  virtual Reply<void> flush(FileHandleT fh);
  virtual Reply<void> release(FileHandleT fh);  // an error here is logged, the kernel ignores it
  virtual Reply<void> fsync(FileHandleT fh, bool datasync);
  // fusepp additions, the overloads the binding calls: the three above with the caller's
  // context (flush comes from each close(2), fsync from the syncing process; release from
  // whoever dropped the last reference). By default they forward to pyfuse3's forms.
  virtual Reply<void> flush(FileHandleT fh, const RequestContext& ctx);
  virtual Reply<void> release(FileHandleT fh, const RequestContext& ctx);
  virtual Reply<void> fsync(FileHandleT fh, bool datasync, const RequestContext& ctx);
  // Additions to pyfuse3:
  virtual Reply<void> fallocate(FileHandleT fh, int mode, off_t offset, off_t length);
  virtual Reply<off_t> lseek(FileHandleT fh, off_t off, int whence);  // SEEK_DATA / SEEK_HOLE
  virtual Reply<size_t> copy_file_range(FileHandleT fh_in, off_t off_in, FileHandleT fh_out, off_t off_out,
                                        size_t length, FlagT flags);
  virtual Reply<LockRequest> getlk(FileHandleT fh, LockRequest lock);
  virtual Reply<void> setlk(FileHandleT fh, LockRequest lock, bool sleep);
  virtual Reply<void> flock(FileHandleT fh, uint64_t lock_owner, int op);
  virtual Reply<unsigned> poll(FileHandleT fh, PollHandle handle);  // returns revents
  virtual Reply<IoctlReply> ioctl(FileHandleT fh, unsigned cmd, uint64_t arg, FlagT flags, std::string_view in_buf,
                                  size_t out_size);

  // ----- directories -----
  virtual Reply<FileHandleT> opendir(InodeT inode, const RequestContext& ctx);
  // fusepp addition, the overload the binding calls: opendir() with the open flags (O_NOATIME,
  // O_DIRECTORY...). By default it forwards to pyfuse3's opendir() above.
  virtual Reply<FileHandleT> opendir(InodeT inode, FlagT flags, const RequestContext& ctx);
  // Serves READDIRPLUS and plain READDIR alike (token.plus() tells which).
  virtual Reply<void> readdir(FileHandleT fh, off_t start_id, ReaddirToken& token);
  virtual Reply<void> releasedir(FileHandleT fh);
  virtual Reply<void> fsyncdir(FileHandleT fh, bool datasync);

  // ----- extended attributes -----
  // flags: 0, XATTR_CREATE or XATTR_REPLACE, passed through (pyfuse3 emulates them
  // non-atomically with a getxattr first; we let the filesystem decide atomically).
  virtual Reply<void> setxattr(InodeT inode, std::string_view name, std::string_view value, FlagT flags,
                               const RequestContext& ctx);
  // The binding answers size queries and ERANGE from the returned value.
  virtual Reply<std::string> getxattr(InodeT inode, std::string_view name, const RequestContext& ctx);
  virtual Reply<std::vector<std::string>> listxattr(InodeT inode, const RequestContext& ctx);
  virtual Reply<void> removexattr(InodeT inode, std::string_view name, const RequestContext& ctx);
};

}  // namespace fusepp
