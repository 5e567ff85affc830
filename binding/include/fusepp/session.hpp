// fusepp's module functions: mount, serve, unmount and kernel notifications. A Session is
// one mounted filesystem; the free functions (init, main, terminate, close, invalidate_*,
// notify_store) act on one process-wide session exactly like pyfuse3's module functions.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fusepp/observe.hpp"
#include "fusepp/operations.hpp"

namespace fusepp {

struct MainOptions {
  // Threads serving requests. 1: handlers need no locks (pyfuse3's model). N > 1: N threads
  // read /dev/fuse (see docs/binding-ops.md for how, and why not libfuse's clone_fd), one of
  // them at a time runs the io_context while work is outstanding there; handlers run
  // concurrently and must synchronise themselves.
  unsigned threads = 1;
  // Most requests in flight at once (suspended handlers included); 0 means no limit.
  // When reached, the loop stops reading /dev/fuse until a handler completes.
  unsigned max_tasks = 0;
};

class Session {
 public:
  // pyfuse3.init: creates the libfuse session and mounts it. options are mount options
  // without "-o" (e.g. "default_permissions", "allow_other", "fsname=x"). Throws
  // std::system_error with the mountpoint in the message when mounting fails.
  Session(Operations& ops, const std::filesystem::path& mountpoint,
          const std::set<std::string>& options = default_options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();  // close(true) unless already closed

  // pyfuse3.main: serves requests until the filesystem is unmounted or terminate() is
  // called. Rethrows nothing from handlers (they are answered with EIO and logged).
  void main(MainOptions options = {});
  // Makes main() return soon. Safe from any thread and from inside a handler.
  void terminate();
  // Unmounts (if asked) and destroys the session. Idempotent.
  void close(bool unmount = true);

  // Kernel cache notifications. These block until the kernel processed them; calling
  // the synchronous forms from inside a handler of a "related" request can deadlock,
  // which the *_async forms never do (they run on a notifier thread, in FIFO order).
  // Errors: std::system_error (ENOENT when the kernel does not know the entry...).
  void invalidate_inode(InodeT inode, bool attr_only = false);
  void invalidate_entry(InodeT inode_p, std::string_view name, InodeT deleted = InodeT{0});
  void invalidate_entry_async(InodeT inode_p, std::string name, InodeT deleted = InodeT{0}, bool ignore_enoent = false);
  void invalidate_inode_async(InodeT inode, bool attr_only = false);
  void notify_store(InodeT inode, off_t offset, std::string_view data);
  // Marks an entry expired without dropping it (FUSE_NOTIFY_INVAL_ENTRY with
  // FUSE_EXPIRE_ONLY, kernel 6.2+): the next lookup revalidates it, but a cwd or a mount on
  // it survives. libfuse 3.14 has no call for it; the binding writes the message itself.
  void notify_expire_entry(InodeT inode_p, std::string_view name);
  // Asks the kernel for the cached pages of inode in [offset, offset + size); done gets the
  // bytes (only what the page cache holds, possibly nothing) on a serving thread.
  void notify_retrieve(InodeT inode, off_t offset, size_t size, std::function<void(std::string)> done);
  // Sends any notification synchronously (same errors as above).
  void notify(const Notification& notification);
  // Sends it on the notifier thread (never blocks the caller); done gets 0 or -errno there.
  void notify_async(Notification notification, std::function<void(int)> done);
  // Attaches an Observer (trace, fault rules, balance); nullptr detaches. Attach or detach
  // before main() or while no request is in flight; the observer must outlive the serving.
  void observe(Observer* observer);

  const std::filesystem::path& mountpoint() const;
  // Threads inside main() serving requests right now (a test that forks waits for all of
  // them to have started: testing::ScopedMount).
  unsigned serving_threads() const;
  // The io_context handlers run on (also reachable as co_await asio::this_coro::executor).
  // With no work outstanding on it (no suspended handler, timer, socket, posted function or
  // work guard), main()'s threads block in read(2) on /dev/fuse as libfuse's do, which
  // halves the syscalls per request; a function posted from another thread then runs after
  // the next request. To post from other threads at any time, keep Asio's
  // executor_work_guard on it, made before main() or inside a handler (a serving thread then
  // waits in epoll, where posts run at once). terminate() needs none: it ends that read(2)
  // with SIGURG, which main() handles only while it is SIG_DFL (else main() always uses
  // epoll, every thread in io_context::run()); max_tasks also keeps every thread in run().
  asio::io_context& io_context();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// pyfuse3-style module functions, on current_session().
void init(Operations& ops, const std::filesystem::path& mountpoint,
          const std::set<std::string>& options = default_options);
void main(MainOptions options = {});
void terminate();
void close(bool unmount = true);
void invalidate_inode(InodeT inode, bool attr_only = false);
void invalidate_entry(InodeT inode_p, std::string_view name, InodeT deleted = InodeT{0});
void invalidate_entry_async(InodeT inode_p, std::string name, InodeT deleted = InodeT{0}, bool ignore_enoent = false);
void notify_store(InodeT inode, off_t offset, std::string_view data);
// init()'s session, or else the only Session mounted (a ScopedMount's in a test); throws
// std::logic_error when there is none, or several and no init().
Session& current_session();

// Client-side helpers, as in pyfuse3 (they act on paths, not inside a handler).
std::set<gid_t> get_sup_groups(pid_t pid);                            // parses /proc/PID/status Groups:
std::vector<std::string> listdir(const std::filesystem::path& path);  // without . and ..
void syncfs(const std::filesystem::path& path);                       // syncfs(2) on the filesystem of path
void setxattr(const std::filesystem::path& path, std::string_view name, std::string_view value,
              std::string_view ns = "user");
std::string getxattr(const std::filesystem::path& path, std::string_view name, size_t size_guess = 128,
                     std::string_view ns = "user");  // retries ERANGE

}  // namespace fusepp
