// Executors of the requests only the harness sends, never reachable from a scenario (they are
// not in the op table): entering and leaving a test's workdir, making and removing workdirs
// (by descriptors, cheaply on FUSE), and reporting the actor's identity.
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "actor.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

// Leaves any earlier test's root: back to the real root directory the actor started in.
void leave_workdir() {
  close_everything();
  check(::fchdir(real_root_fd()) == 0);
  if (started_as_root()) check(::chroot(".") == 0);
}

// Enters a test's workdir as the process's root directory, so that no path a step names,
// whatever symlinks or `..` it goes through, resolves outside it (docs/architecture.md,
// "Confinement").
json chdir_op(const json& request) {
  leave_workdir();
  check(::chdir(path_arg(request).c_str()) == 0);
  // A harness that is not root cannot chroot; its actors stay unconfined (documented).
  if (started_as_root()) check(::chroot(".") == 0);
  return json::object();
}

json reset_op(const json&) {
  leave_workdir();
  check(::chdir("/") == 0);
  return json::object();
}

// mkdir with the mode unfiltered by our umask, then chown and chmod where the new directory is
// not already as asked (another owner; a setgid parent's group; a default ACL): on FUSE each
// of them is a SETATTR request, made once per test.
json prepare_workdir_op(const json& request) {
  std::string path = path_arg(request);
  const auto uid = static_cast<uid_t>(num(request, "uid", 0));
  const auto gid = static_cast<gid_t>(num(request, "gid", 0));
  const auto mode = static_cast<mode_t>(num(request, "mode", 0777));
  const mode_t mask = ::umask(0);
  // Others get in only once the owner is right.
  const bool ours = uid == ::geteuid() && gid == ::getegid();
  const int made = ::mkdir(path.c_str(), ours ? mode : mode & 0700);
  const int err = errno;
  ::umask(mask);
  if (made != 0) throw SyscallFailed{err};
  struct stat st {};
  check(::lstat(path.c_str(), &st) == 0);
  if (st.st_uid != uid || st.st_gid != gid) check(::chown(path.c_str(), uid, gid) == 0);
  // After a chown too: it may clear set-id bits.
  if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid) check(::chmod(path.c_str(), mode) == 0);
  return json::object();
}

int remove_entry(const char* path, const struct stat*, int typeflag, struct FTW*) {
  int rc = (typeflag == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 ? 0 : -1;
}

// The slow, general removal: copes with any depth, but stats every entry and names it by its
// whole path. FTW_MOUNT: never cross into another filesystem; FTW_PHYS: never follow symlinks.
void remove_tree_by_paths(const std::string& path) {
  check(::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0);
}

// Deeper subtrees than this go to remove_tree_by_paths, so a pathological tree never holds
// more descriptors open than this.
constexpr int kDescriptorDepth = 64;
// Listing passes over one directory: entries a listing missed (a filesystem whose cookies
// shift as names go) show up in the next, shorter one.
constexpr int kListingPasses = 4;

struct Entry {
  std::string name;
  unsigned char type;  // getdents' d_type; DT_UNKNOWN when the filesystem does not say
};

// Every entry but . and .., read in full before any is removed.
std::vector<Entry> list_entries(DIR* stream) {
  ::rewinddir(stream);
  std::vector<Entry> entries;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") entries.push_back({std::string(name), entry->d_type});
    errno = 0;
  }
  check(errno == 0);
  return entries;
}

// A subdirectory, opened without following a symlink or leaving the directory's mount.
int open_subdirectory(int dir, const std::string& name) {
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  return static_cast<int>(::syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how));
}

// Owns a directory stream for the duration of a removal.
struct DirStream {
  DIR* stream;
  explicit DirStream(int fd) : stream(::fdopendir(fd)) {
    if (stream == nullptr) {
      int err = errno;
      ::close(fd);
      throw SyscallFailed{err};
    }
  }
  ~DirStream() { ::closedir(stream); }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;
};

void remove_directory(int parent, const std::string& name, int dir_fd, const std::string& path, int depth);

// One entry of `dir` (whose path is `path`): a non-directory is unlinked by name; an empty
// directory (the common case) goes with one rmdir, without being opened and listed; any other
// is emptied through a descriptor of its own, then removed. d_type is only a hint: a
// filesystem under test may get it wrong.
void remove_entry_at(int dir, const Entry& entry, const std::string& path, int depth) {
  if (entry.type != DT_DIR) {
    if (::unlinkat(dir, entry.name.c_str(), 0) == 0) return;
    check(errno == EISDIR);  // a directory after all
  }
  if (::unlinkat(dir, entry.name.c_str(), AT_REMOVEDIR) == 0) return;
  check(errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR);
  const std::string entry_path = path + "/" + entry.name;
  if (depth >= kDescriptorDepth) return remove_tree_by_paths(entry_path);
  int child = open_subdirectory(dir, entry.name);
  if (child < 0 && (errno == ENOTDIR || errno == ELOOP)) {  // not a directory after all
    check(::unlinkat(dir, entry.name.c_str(), 0) == 0);
    return;
  }
  check(child >= 0);
  remove_directory(dir, entry.name, child, entry_path, depth + 1);
}

// Empties the directory open at `dir_fd` (taking the descriptor) by names relative to it, then
// removes it as `name` in `parent`. Names relative to a descriptor: no path is walked again per
// entry (on a FUSE mount with entry_timeout 0 every component of a path costs a LOOKUP); no
// entry is stat'ed (d_type says what it is). A listing that missed names (a filesystem whose
// cookies shift as names go) leaves the rmdir ENOTEMPTY; the next, shorter listing finds them.
void remove_directory(int parent, const std::string& name, int dir_fd, const std::string& path, int depth) {
  DirStream dir(dir_fd);
  for (int pass = 1;; ++pass) {
    for (const auto& entry : list_entries(dir.stream)) remove_entry_at(::dirfd(dir.stream), entry, path, depth);
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0) return;
    check(errno == ENOTEMPTY && pass < kListingPasses);
  }
}

// The tree at `path`; a symlink or file there is unlinked, never followed.
json rmtree_op(const json& request) {
  const std::string path = path_arg(request);
  int top = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0 && (errno == ENOTDIR || errno == ELOOP)) {
    check(::unlink(path.c_str()) == 0);
  } else {
    check(top >= 0);
    remove_directory(AT_FDCWD, path, top, path, 0);
  }
  return json::object();
}

json identity_op(const json&) {
  std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
  ::getgroups(static_cast<int>(groups.size()), groups.data());
  mode_t mask = ::umask(0);
  ::umask(mask);
  return json{{"uid", ::geteuid()}, {"gid", ::getegid()}, {"groups", groups}, {"umask", mask}};
}

}  // namespace

const std::vector<Executor> internal_executors = {
    {"chdir", chdir_op},   {"reset", reset_op},       {"prepare_workdir", prepare_workdir_op},
    {"rmtree", rmtree_op}, {"identity", identity_op},
};

}  // namespace fusecheck::actor
