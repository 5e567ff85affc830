// memfs's private data model: inodes, directories with stable readdir cookies, sparse page
// maps, open files, and the tmpfs-style accounting of pages and "inode space". Shared by the
// op-family files; nothing here is visible to users of memfs.hpp.
#pragma once

#include <linux/fs.h>

#include <array>
#include <functional>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "directory.hpp"
#include "memfs/memfs.hpp"
#include "page_arena.hpp"
#include "state_mutex.hpp"

namespace memfs {

// The binding's names every op-family file uses (a private header: no user of memfs sees them).
using fusepp::EntryAttributes;
using fusepp::FUSEError;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;

inline constexpr uint64_t kPageSize = 4096;
inline constexpr int64_t kBlocksPerPage = kPageSize / 512;
inline constexpr uint64_t kInodeSpaceUnit = 1024;  // tmpfs BOGO_INODE_SIZE
inline constexpr int64_t kDirentBogoSize = 20;     // tmpfs BOGO_DIRENT_SIZE: dir st_size per entry
inline constexpr size_t kShortSymlinkLen = 128;    // tmpfs keeps shorter targets in the inode
inline constexpr size_t kNameMax = 255;
inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrSizeMax = 65536;
inline constexpr uint64_t kXattrOverhead = 40;      // tmpfs simple_xattr_space(): 40 + name + value
inline constexpr int64_t kMaxFileSize = INT64_MAX;  // tmpfs MAX_LFS_FILESIZE on 64-bit
// tmpfs's FS_IOC_SETFLAGS flags (SHMEM_FL_USER_MODIFIABLE, casefolding aside) and the ones
// a new inode takes from its directory (SHMEM_FL_INHERITED).
inline constexpr uint32_t kTmpfsFsFlags = FS_APPEND_FL | FS_IMMUTABLE_FL | FS_NODUMP_FL | FS_NOATIME_FL;
inline constexpr uint32_t kInheritedFsFlags = FS_NODUMP_FL | FS_NOATIME_FL;

// One 4 KiB page of a file, in a slot of memfs's page arena (page_arena.hpp), not the
// malloc heap. The slot holds nothing but the data, so it is page-aligned.
class Page {
 public:
  // `uninitialised` is for a page the caller fills whole at once: a reused arena slot still
  // holds an earlier file's bytes, so every other page starts zeroed.
  enum class Fill { zeros, uninitialised };
  explicit Page(Fill fill = Fill::zeros);
  char* bytes() { return bytes_.get(); }
  const char* bytes() const { return bytes_.get(); }
  // Written at least once. fallocate() reserves pages that read as zeros and count in
  // st_blocks but stay holes for SEEK_DATA until written, as on tmpfs.
  bool written = false;

 private:
  struct GiveBack {
    void operator()(char* slot) const noexcept { page_arena::deallocate(slot); }
  };
  std::unique_ptr<char, GiveBack> bytes_;
};
static_assert(page_arena::kSlotSize == kPageSize);
using PageMap = std::map<uint64_t, Page>;  // page index -> data; absent = hole

inline constexpr size_t kNotKept = SIZE_MAX;

struct Inode {
  uint64_t ino = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t nlink = 0;         // names (directories: 2 + subdirs while linked, 0 after rmdir)
  uint32_t open_count = 0;    // open file and directory handles
  uint64_t lookup_count = 0;  // the kernel's references (lookup/create/readdirplus - forget)
  uint64_t generation = 0;    // raised when the backend reuses this inode number
  size_t kept_at = kNotKept;  // its index in State::unlinked_kept
  // An unlinked inode still open keeps the directory its last name was removed from alive, as
  // its dentry's parent does on tmpfs (State::pin_parent): that directory, and on a directory
  // how many unlinked inodes keep it so.
  uint64_t pins_dir = 0;
  uint32_t pinned_by = 0;
  uint32_t fsflags = 0;  // FS_*_FL bits of FS_IOC_GETFLAGS/SETFLAGS (ioctl_ops.cpp)
  dev_t rdev = 0;
  int64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::unique_ptr<PageMap> pages;                                           // regular files, allocated on first write
  std::unique_ptr<Directory> dir;                                           // directories
  std::string symlink_target;                                               // symlinks
  std::unique_ptr<std::map<std::string, std::string, std::less<>>> xattrs;  // on first set

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_reg() const { return S_ISREG(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }
  int64_t page_count() const;  // pages charged to this inode (data, or a long symlink)
};

struct OpenFile {
  uint64_t ino;
  int flags;
};

// The caller of one request, with supplementary groups read from /proc only when a
// permission decision needs them.
class Caller {
 public:
  explicit Caller(const fusepp::RequestContext& ctx)
      : uid(ctx.uid()), gid(ctx.gid()), pid(ctx.pid()), umask(ctx.umask()) {}
  bool in_group(gid_t group) const;
  bool is_root() const { return uid == 0; }
  uid_t uid;
  gid_t gid;
  pid_t pid;
  mode_t umask;

 private:
  mutable std::optional<std::set<gid_t>> groups_;
};

// The clock's time in nanoseconds; memfs stamps through MemFs::now_ns and State::now_ns.
int64_t clock_ns(clockid_t clock);

struct State {
  explicit State(const Options& options);

  // One lock for the whole filesystem: correct by construction, and cheap because no
  // handler blocks or suspends while holding it. Finer locking would buy parallelism
  // tmpfs semantics (rename across directories, link counts) make hard to get right.
  mutable StateMutex mutex;
  std::unordered_map<uint64_t, Inode> inodes;  // node-based: Inode& stays valid on rehash
  std::unordered_map<uint64_t, OpenFile> open_files;
  uint64_t next_ino = fusepp::ROOT_INODE + 1;  // never reused: st_ino stays stable
  uint64_t next_fh = 1;
  uint64_t max_pages;
  uint64_t used_pages = 0;
  // tmpfs "ispace": each inode and each extra hard link costs kInodeSpaceUnit, each xattr
  // kXattrOverhead + name + value; statfs shows free inodes as free space / unit.
  uint64_t max_ispace;
  uint64_t used_ispace = 0;
  // References the kernel forgot beyond what memfs counted: any is a counting bug.
  uint64_t excess_forgets = 0;
  // Inodes without a name kept because a handle or the kernel's lookup count still refers
  // to them. Those with no open handle are free space already, as on tmpfs: the kernel's
  // FORGET may come seconds after the last close, and the storage stays until then.
  // In no order: Inode::kept_at is each one's index, so joining and leaving cost O(1).
  std::vector<uint64_t> unlinked_kept;
  double entry_timeout;
  double attr_timeout;
  AtimePolicy atime_policy;
  bool nodiratime;
  clockid_t clock;  // CLOCK_REALTIME, or CLOCK_REALTIME_COARSE (Options::coarse_clock)
  int64_t now_ns() const { return clock_ns(clock); }

  Inode* find(uint64_t ino);
  Inode* find_dir(uint64_t ino);  // nullptr unless a directory
  // Allocates an inode (charging inode space) named `name` in `parent`, with tmpfs's
  // ownership rules (setgid directories pass on their group). ENOSPC when full.
  fusepp::Result<Inode*> create_inode(Inode& parent, std::string_view name, mode_t mode, const Caller& caller);
  fusepp::EntryAttributes attributes(const Inode& inode) const;
  // attributes() for a reply that hands the kernel a new reference (lookup, create...).
  fusepp::EntryAttributes reference(Inode& inode);
  void add_name(Inode& parent, std::string_view name, Inode& child);
  void remove_name(Inode& parent, std::string_view name, Inode& child);
  // Frees the inode once nothing can reach it: no name, no open handle, no kernel reference;
  // an unlinked inode that no longer holds space lets go of the directory it pinned.
  void release_if_unreferenced(Inode& inode);

  // What the limits and statfs count as used: everything charged, minus unlinked inodes
  // tmpfs would have freed already (computed on demand; there are few such inodes, briefly).
  uint64_t pages_in_use() const;
  uint64_t ispace_in_use() const;
  // Whether an unlinked inode still holds its space on tmpfs: while a handle is open, and a
  // directory also while an unlinked inode inside it does (State::pin_parent).
  static bool holds_space(const Inode& unlinked) { return unlinked.open_count != 0 || unlinked.pinned_by != 0; }
  // `inode` lost its last name in `parent` and still holds space: it keeps `parent` too.
  void pin_parent(Inode& inode, Inode& parent);
  // Once `inode` no longer holds space, neither does what it kept, up the chain of directories.
  void unpin_if_free(Inode& inode);
  uint64_t ispace_of(const Inode& inode) const;  // its unit plus its xattrs

  bool reserve_ispace(uint64_t bytes);
  void release_ispace(uint64_t bytes) { used_ispace -= bytes; }
  // Page accounting for regular files: ENOSPC when the size limit is reached.
  fusepp::Result<Page*> page_for_write(Inode& inode, uint64_t index);
  // Copies bytes in at off (allocating pages); returns the count stored, short on ENOSPC.
  fusepp::Result<size_t> store(Inode& inode, uint64_t off, std::string_view data);
  std::string load(const Inode& inode, uint64_t off, size_t size) const;  // clipped to st_size
  // The bytes load() copies, as views into the pages (holes: a static block of zeros), valid
  // while the lock is held and nothing writes.
  void view(const Inode& inode, uint64_t off, size_t size, fusepp::ReadData& out) const;
  // Size change by truncate/ftruncate/open(O_TRUNC): frees pages past the end and zeroes
  // the tail of the last page, so data exposed by growing again reads as zeros.
  void resize(Inode& inode, int64_t size);
  void touch_atime(Inode& inode);  // as Options::atime and nodiratime say
  // Data changed by a caller (write, truncate): the kernel's setattr_should_drop_suidgid().
  // setuid always goes; setgid goes with group execute, or when the caller is outside the
  // file's group. A caller with CAP_FSETID (root here) keeps both.
  void drop_setid_after_change(Inode& inode, const Caller& caller);
  void free_pages(Inode& inode, uint64_t first_index, uint64_t end_index);  // [first, end)

  // Permission checks. The kernel makes the same ones first under default_permissions;
  // without it they are the only ones, so memfs always makes them.
  // mask: R_OK | W_OK | X_OK.
  bool may(const Inode& inode, int mask, const Caller& caller) const;
  // Whether some handle has the inode open for writing: a SETATTR that only kills setuid /
  // setgid then may be a writer's file_remove_privs(), which needs no permission.
  bool open_for_writing(const Inode& inode) const;
  // Whether a name may be removed or replaced from a sticky directory.
  bool may_delete_in(const Inode& dir, const Inode& victim, const Caller& caller) const;
  // Parent directory checks for lookups (search) and for name changes (write + search).
  int check_search(const Inode& dir, const Caller& caller) const;
  int check_modify(const Inode& dir, const Caller& caller) const;
  // Where a new name will go (create, mknod, mkdir, symlink, link): an existing, still
  // linked directory the caller may modify, without that name yet.
  fusepp::Result<Inode*> parent_for_new_name(uint64_t parent_ino, std::string_view name, const Caller& caller);

  std::vector<std::string> check_consistency() const;
};

// What one readdir pass does with each entry it reaches: child is nullptr for '.' and '..'.
// Returns false to end the pass (the reply buffer is full).
using DirentSink = std::function<bool(std::string_view name, fusepp::EntryAttributes attr, off_t cookie, Inode* child)>;
// One readdir pass over the open directory fh, as memfs's readdir makes it (src/dir_ops.cpp):
// moves atime, then hands sink '.', '..' and the entries newest first, all past start_id.
// EBADF for an unknown handle, ENOENT for a removed directory. The caller holds the lock.
fusepp::Result<void> list_directory(State& state, fusepp::FileHandleT fh, off_t start_id, const DirentSink& sink);

}  // namespace memfs
