// memfs core: the inode table, name and page bookkeeping, tmpfs's accounting and permission
// rules, and the consistency check tests rely on. The op families live in *_ops.cpp.
#include "state.hpp"

#include <sys/sysinfo.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <new>
#include <utility>

namespace memfs {

int64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (value > (UINT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  std::string_view suffix = text.substr(i);
  if (suffix.empty()) return value;
  if (suffix.size() != 1) return std::nullopt;
  int shift = 0;
  switch (std::tolower(static_cast<unsigned char>(suffix[0]))) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    case 'p': shift = 50; break;
    case 'e': shift = 60; break;
    case '%': {
      struct sysinfo info;
      sysinfo(&info);
      return static_cast<uint64_t>(info.totalram) * info.mem_unit / 100 * value;
    }
    default: return std::nullopt;
  }
  if (value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

int64_t Inode::page_count() const {
  if (pages) return static_cast<int64_t>(pages->size());
  if (is_symlink() && symlink_target.size() >= kShortSymlinkLen) return 1;
  return 0;
}

bool Caller::in_group(gid_t group) const {
  if (group == gid) return true;
  if (!groups_) {
    try {
      groups_ = fusepp::get_sup_groups(pid);
    } catch (const std::exception&) {
      groups_.emplace();  // the caller already exited: only its primary group counts
    }
  }
  return groups_->count(group) != 0;
}

// ----- State -----

State::State(const Options& options)
    : entry_timeout(options.entry_timeout),
      attr_timeout(options.attr_timeout),
      atime_policy(options.atime),
      nodiratime(options.nodiratime),
      clock(options.coarse_clock ? CLOCK_REALTIME_COARSE : CLOCK_REALTIME) {
  struct sysinfo info;
  sysinfo(&info);
  uint64_t ram = static_cast<uint64_t>(info.totalram) * info.mem_unit;
  // tmpfs defaults: half of RAM for data, half as many inodes as RAM pages.
  uint64_t size = options.size_bytes ? options.size_bytes : ram / 2;
  max_pages = (size + kPageSize - 1) / kPageSize;
  // Memory emptied by deleting or truncating files is kept (at most a quarter of the size
  // limit, for two seconds) so that data written again does not fault in fresh memory.
  page_arena::set_retention({static_cast<size_t>(size / 4), page_arena::kDefaultDecay});
  uint64_t max_inodes = options.max_inodes ? options.max_inodes : ram / kPageSize / 2;
  max_ispace = max_inodes * kInodeSpaceUnit;

  Inode root;
  root.ino = fusepp::ROOT_INODE;
  root.mode = S_IFDIR | (options.root_mode & 07777);
  root.uid = options.root_uid;
  root.gid = options.root_gid;
  root.nlink = 2;
  root.size = 2 * kDirentBogoSize;
  root.atime_ns = root.mtime_ns = root.ctime_ns = now_ns();
  root.dir = std::make_unique<Directory>(fusepp::ROOT_INODE);
  root.lookup_count = 1;  // the kernel holds the root from mount to unmount
  used_ispace = kInodeSpaceUnit;
  inodes.emplace(root.ino, std::move(root));
}

Inode* State::find(uint64_t ino) {
  auto it = inodes.find(ino);
  return it == inodes.end() ? nullptr : &it->second;
}

Inode* State::find_dir(uint64_t ino) {
  Inode* inode = find(ino);
  return inode && inode->is_dir() ? inode : nullptr;
}

bool State::reserve_ispace(uint64_t bytes) {
  if (used_ispace + bytes > max_ispace && ispace_in_use() + bytes > max_ispace) return false;
  used_ispace += bytes;
  return true;
}

fusepp::Result<Inode*> State::create_inode(Inode& parent, std::string_view name, mode_t mode, const Caller& caller) {
  if (!reserve_ispace(kInodeSpaceUnit)) return FUSEError(ENOSPC);
  uint64_t ino = next_ino++;
  Inode& inode = inodes.try_emplace(ino).first->second;  // built in place: no Inode moved
  inode.ino = ino;
  inode.fsflags = parent.fsflags & kInheritedFsFlags;  // as tmpfs: nodump and noatime pass on
  inode.uid = caller.uid;
  inode.gid = caller.gid;
  // The kernel already applied the umask unless it asked us to (FUSE_DONT_MASK);
  // applying it again is harmless.
  mode_t type = mode & S_IFMT;
  mode_t perms = mode & 07777;
  if (!S_ISLNK(mode)) perms &= ~caller.umask;
  if (parent.mode & S_ISGID) {  // inode_init_owner(): setgid directories pass on their group
    inode.gid = parent.gid;
    if (S_ISDIR(mode)) {
      perms |= S_ISGID;
    } else if ((perms & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && !caller.is_root() &&
               !caller.in_group(inode.gid)) {
      perms &= ~S_ISGID;
    }
  }
  inode.mode = type | perms;
  inode.atime_ns = inode.mtime_ns = inode.ctime_ns = now_ns();
  if (S_ISDIR(mode)) {
    inode.dir = std::make_unique<Directory>(parent.ino);
    inode.size = 2 * kDirentBogoSize;
  }
  add_name(parent, name, inode);
  return &inode;
}

void State::add_name(Inode& parent, std::string_view name, Inode& child) {
  parent.dir->insert(name, child.ino);
  parent.size += kDirentBogoSize;
  if (child.is_dir()) {
    child.nlink = 2 + child.dir->subdirs;
    child.dir->parent = parent.ino;
    parent.dir->subdirs++;
    parent.nlink++;
  } else {
    child.nlink++;
  }
}

void State::remove_name(Inode& parent, std::string_view name, Inode& child) {
  parent.dir->erase(name);
  parent.size -= kDirentBogoSize;
  if (child.is_dir()) {
    child.nlink = 0;  // a directory has one name: removing it (rmdir, replaced) kills it
    parent.dir->subdirs--;
    parent.nlink--;
  } else {
    child.nlink--;
  }
}

fusepp::EntryAttributes State::attributes(const Inode& inode) const {
  fusepp::EntryAttributes attr;
  attr.st_ino = fusepp::InodeT{inode.ino};
  attr.generation = inode.generation;
  attr.entry_timeout = entry_timeout;
  attr.attr_timeout = attr_timeout;
  attr.st_mode = fusepp::ModeT{inode.mode};
  attr.st_nlink = inode.nlink;
  attr.st_uid = inode.uid;
  attr.st_gid = inode.gid;
  attr.st_rdev = inode.rdev;
  attr.st_size = inode.size;
  attr.st_blksize = kPageSize;
  attr.st_blocks = inode.page_count() * kBlocksPerPage;
  attr.st_atime_ns = inode.atime_ns;
  attr.st_mtime_ns = inode.mtime_ns;
  attr.st_ctime_ns = inode.ctime_ns;
  return attr;
}

fusepp::EntryAttributes State::reference(Inode& inode) {
  inode.lookup_count++;
  return attributes(inode);
}

void State::release_if_unreferenced(Inode& inode) {
  if (inode.nlink != 0 || inode.ino == fusepp::ROOT_INODE) return;
  bool referenced = inode.open_count != 0 || inode.lookup_count != 0;
  if (!referenced) inode.pinned_by = 0;  // gone for the kernel too: nothing it pinned keeps it
  unpin_if_free(inode);                  // its last handle closed, or it is gone
  if (referenced) {
    if (inode.kept_at == kNotKept) {
      inode.kept_at = unlinked_kept.size();
      unlinked_kept.push_back(inode.ino);
    }
    return;
  }
  if (inode.kept_at != kNotKept) {
    uint64_t last = unlinked_kept.back();
    unlinked_kept[inode.kept_at] = last;
    inodes.at(last).kept_at = inode.kept_at;
    unlinked_kept.pop_back();
  }
  used_pages -= static_cast<uint64_t>(inode.page_count());
  release_ispace(ispace_of(inode));
  inodes.erase(inode.ino);
}

uint64_t State::ispace_of(const Inode& inode) const {
  uint64_t ispace = kInodeSpaceUnit;
  if (inode.xattrs) {
    for (const auto& [name, value] : *inode.xattrs) ispace += kXattrOverhead + name.size() + value.size();
  }
  return ispace;
}

// On tmpfs an open file's dentry refers to its parent's, so a directory removed while a file
// removed from it is still open (or a directory removed from it is open) lives until that
// closes. The kernel's FORGET of the directory says the same, but comes in no fixed order with
// the requests after it. What memfs cannot see, a process's cwd inside a removed directory
// or an O_PATH descriptor, frees it at once (reference-fs/README.md, "Accounting").
void State::pin_parent(Inode& inode, Inode& parent) {
  inode.pins_dir = parent.ino;
  parent.pinned_by++;
}

void State::unpin_if_free(Inode& inode) {
  for (Inode* node = &inode; node->pins_dir != 0 && !holds_space(*node);) {
    Inode* dir = find(std::exchange(node->pins_dir, 0));
    if (!dir) return;  // the kernel forgot it already: its FORGET came before this RELEASE
    dir->pinned_by--;
    node = dir;
  }
}

uint64_t State::pages_in_use() const {
  uint64_t freed = 0;
  for (uint64_t ino : unlinked_kept) {
    const Inode& inode = inodes.at(ino);
    if (!holds_space(inode)) freed += static_cast<uint64_t>(inode.page_count());
  }
  return used_pages - freed;
}

uint64_t State::ispace_in_use() const {
  uint64_t freed = 0;
  for (uint64_t ino : unlinked_kept) {
    const Inode& inode = inodes.at(ino);
    if (!holds_space(inode)) freed += ispace_of(inode);
  }
  return used_ispace - freed;
}

Page::Page(Fill fill) : bytes_(static_cast<char*>(page_arena::allocate())) {
  if (fill == Fill::zeros) std::memset(bytes_.get(), 0, kPageSize);
}

fusepp::Result<Page*> State::page_for_write(Inode& inode, uint64_t index) {
  if (!inode.pages) inode.pages = std::make_unique<PageMap>();
  auto it = inode.pages->find(index);
  if (it != inode.pages->end()) return &it->second;
  if (used_pages >= max_pages && pages_in_use() >= max_pages) return FUSEError(ENOSPC);
  used_pages++;
  return &inode.pages->try_emplace(index).first->second;
}

void State::free_pages(Inode& inode, uint64_t first_index, uint64_t end_index) {
  if (!inode.pages || first_index >= end_index) return;
  auto first = inode.pages->lower_bound(first_index);
  auto last = inode.pages->lower_bound(end_index);
  used_pages -= static_cast<uint64_t>(std::distance(first, last));
  inode.pages->erase(first, last);
}

namespace {

// A large write's whole pages are copied with non-temporal stores: writing whole cache lines
// around the cache skips reading each destination line first (1 GiB rewritten: the serving
// thread's CPU 0.240 -> 0.208 s; bench/README.md). Small writes keep memcpy: their pages are
// likely read again soon.
constexpr size_t kStreamingWriteSize = 128 * 1024;

void copy_page(char* to, const char* from, bool streaming) {
#if defined(__x86_64__)
  if (streaming) {
    for (size_t i = 0; i < kPageSize; i += 64) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i + 16));
      __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i + 32));
      __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 48), d);
    }
    return;
  }
#endif
  (void)streaming;
  std::memcpy(to, from, kPageSize);
}

// Orders the streaming stores before anything the caller does next (the reply, the unlock).
void end_streaming(bool streaming) {
#if defined(__x86_64__)
  if (streaming) _mm_sfence();
#endif
  (void)streaming;
}

// Copies `data` (written at `off`) into consecutive pages from `page` on, which all exist.
void copy_into(PageMap::iterator page, uint64_t off, std::string_view data) {
  bool streaming = data.size() >= kStreamingWriteSize;
  for (size_t done = 0; done < data.size(); ++page) {
    size_t in_page = (off + done) % kPageSize;
    size_t chunk = std::min(data.size() - done, kPageSize - in_page);
    if (chunk == kPageSize)
      copy_page(page->second.bytes(), data.data() + done, streaming);
    else
      std::memcpy(page->second.bytes() + in_page, data.data() + done, chunk);
    page->second.written = true;
    done += chunk;
  }
  end_streaming(streaming);
}

}  // namespace

// Two passes: every page the write needs is found or inserted first (a page it fills whole
// without zeroing), then the data is copied. Keeping the allocations (malloc, the arena's
// lock) out of the copy lets the streaming stores run back to back: a locked instruction
// after a page waits until that page's streaming stores have drained. `next` is the first
// page at or after the one being reached; an inserted page goes just before it, so
// appending never walks the tree (`++` from the last node climbs to the root). Running out
// of pages (size=) or of memory ends the write short, after the pages it has.
fusepp::Result<size_t> State::store(Inode& inode, uint64_t off, std::string_view data) {
  if (!inode.pages) inode.pages = std::make_unique<PageMap>();
  PageMap& pages = *inode.pages;
  uint64_t first = off / kPageSize;
  uint64_t end = (off + data.size() + kPageSize - 1) / kPageSize;
  uint64_t index = first;
  auto reached = [&] { return std::min<uint64_t>(data.size(), index * kPageSize - off); };
  try {
    for (auto next = pages.lower_bound(first); index < end; ++index) {
      if (next != pages.end() && next->first == index) {
        ++next;
        continue;
      }
      if (used_pages >= max_pages && pages_in_use() >= max_pages) break;
      bool whole = index * kPageSize >= off && (index + 1) * kPageSize <= off + data.size();
      pages.emplace_hint(next, index, whole ? Page::Fill::uninitialised : Page::Fill::zeros);
      used_pages++;
    }
  } catch (const std::bad_alloc&) {
    // Out of memory midway: as tmpfs, a short write of what has pages, ENOMEM if nothing has.
    if (index == first) return FUSEError(ENOMEM);
  }
  if (index == first) return FUSEError(ENOSPC);
  size_t done = reached();
  copy_into(pages.find(first), off, data.substr(0, done));
  inode.size = std::max<int64_t>(inode.size, static_cast<int64_t>(off + done));
  return done;
}

// Appends page by page (holes as zeros) rather than zero-filling the reply first.
void State::view(const Inode& inode, uint64_t off, size_t size, fusepp::ReadData& out) const {
  static const std::array<char, 16 * kPageSize> zeros{};
  if (static_cast<int64_t>(off) >= inode.size) return;
  uint64_t end = off + std::min<uint64_t>(size, static_cast<uint64_t>(inode.size) - off);
  uint64_t pos = off;
  auto zeros_until = [&](uint64_t to) {
    for (; pos < to; pos += std::min<uint64_t>(to - pos, zeros.size()))
      out.add({zeros.data(), std::min<uint64_t>(to - pos, zeros.size())});
  };
  if (inode.pages) {
    for (auto it = inode.pages->lower_bound(off / kPageSize); it != inode.pages->end() && it->first * kPageSize < end;
         ++it) {
      uint64_t page_start = it->first * kPageSize;
      uint64_t from = std::max(off, page_start);
      uint64_t to = std::min(end, page_start + kPageSize);
      zeros_until(from);
      out.add({it->second.bytes() + (from - page_start), to - from});
      pos = to;
    }
  }
  zeros_until(end);
}

std::string State::load(const Inode& inode, uint64_t off, size_t size) const {
  fusepp::ReadData pieces;
  view(inode, off, size, pieces);
  std::string out;
  out.reserve(pieces.size());
  for (const iovec& piece : pieces.pieces()) out.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  return out;
}

void State::resize(Inode& inode, int64_t size) {
  // Not growing also drops pages fallocate(KEEP_SIZE) reserved past the end, like tmpfs.
  if (size <= inode.size) {
    uint64_t new_size = static_cast<uint64_t>(size);
    free_pages(inode, (new_size + kPageSize - 1) / kPageSize, UINT64_MAX);
    if (inode.pages && new_size % kPageSize) {
      auto last = inode.pages->find(new_size / kPageSize);
      if (last != inode.pages->end()) {
        char* bytes = last->second.bytes();
        std::fill(bytes + new_size % kPageSize, bytes + kPageSize, '\0');
      }
    }
  }
  inode.size = size;
}

// The rules of the kernel's atime_needs_update() and relatime_need_update().
void State::touch_atime(Inode& inode) {
  if (atime_policy == AtimePolicy::noatime || (nodiratime && inode.is_dir()) || (inode.fsflags & FS_NOATIME_FL)) return;
  constexpr int64_t kDay = int64_t{24} * 3600 * 1'000'000'000;
  int64_t now = now_ns();
  if (atime_policy == AtimePolicy::strictatime || inode.atime_ns <= inode.mtime_ns ||
      inode.atime_ns <= inode.ctime_ns || now - inode.atime_ns >= kDay) {
    inode.atime_ns = now;
  }
}

void State::drop_setid_after_change(Inode& inode, const Caller& caller) {
  if (caller.is_root() || !inode.is_reg()) return;
  inode.mode &= ~S_ISUID;
  if ((inode.mode & S_ISGID) && ((inode.mode & S_IXGRP) || !caller.in_group(inode.gid))) inode.mode &= ~S_ISGID;
}

bool State::open_for_writing(const Inode& inode) const {
  return std::ranges::any_of(open_files, [&](const auto& entry) {
    return entry.second.ino == inode.ino && (entry.second.flags & O_ACCMODE) != O_RDONLY;
  });
}

bool State::may(const Inode& inode, int mask, const Caller& caller) const {
  if (caller.is_root()) {
    // CAP_DAC_OVERRIDE: everything but executing a file nobody may execute.
    return !(mask & X_OK) || inode.is_dir() || (inode.mode & 0111);
  }
  mode_t bits;
  if (caller.uid == inode.uid) {
    bits = (inode.mode >> 6) & 7;
  } else if (caller.in_group(inode.gid)) {
    bits = (inode.mode >> 3) & 7;
  } else {
    bits = inode.mode & 7;
  }
  return (bits & static_cast<mode_t>(mask)) == static_cast<mode_t>(mask);
}

bool State::may_delete_in(const Inode& dir, const Inode& victim, const Caller& caller) const {
  if (!(dir.mode & S_ISVTX) || caller.is_root()) return true;
  return caller.uid == victim.uid || caller.uid == dir.uid;
}

int State::check_search(const Inode& dir, const Caller& caller) const { return may(dir, X_OK, caller) ? 0 : EACCES; }

int State::check_modify(const Inode& dir, const Caller& caller) const {
  return may(dir, W_OK | X_OK, caller) ? 0 : EACCES;
}

fusepp::Result<Inode*> State::parent_for_new_name(uint64_t parent_ino, std::string_view name, const Caller& caller) {
  if (name.size() > kNameMax) return FUSEError(ENAMETOOLONG);
  Inode* parent = find(parent_ino);
  if (!parent) return FUSEError(ENOENT);
  if (!parent->is_dir()) return FUSEError(ENOTDIR);
  if (parent->nlink == 0) return FUSEError(ENOENT);  // rmdir'ed while someone sat in it
  if (int err = check_modify(*parent, caller)) return FUSEError(err);
  if (parent->dir->find(name)) return FUSEError(EEXIST);
  return parent;
}

std::vector<std::string> State::check_consistency() const {
  std::vector<std::string> problems;
  auto problem = [&]<class... Args>(fmt::format_string<Args...> format, Args&&... args) {
    problems.push_back(fmt::format(format, std::forward<Args>(args)...));
  };
  std::unordered_map<uint64_t, uint32_t> names;  // ino -> names pointing at it
  uint64_t pages = 0;
  uint64_t ispace = 0;
  for (const auto& item : inodes) {
    // Named, not structured bindings: clang 14 cannot capture those in the lambdas below.
    const uint64_t ino = item.first;
    const Inode& inode = item.second;
    if (ino != inode.ino) problem("inode {} stored under key {}", inode.ino, ino);
    pages += static_cast<uint64_t>(inode.page_count());
    ispace += kInodeSpaceUnit;
    if (!inode.is_dir() && inode.nlink > 1) ispace += (inode.nlink - 1) * kInodeSpaceUnit;
    if (inode.xattrs) {
      for (const auto& [name, value] : *inode.xattrs) ispace += kXattrOverhead + name.size() + value.size();
    }
    if (inode.nlink == 0 && inode.open_count == 0 && inode.lookup_count == 0 && ino != fusepp::ROOT_INODE) {
      problem("inode {} is unreachable but still allocated", ino);
    }
    if (inode.is_dir() != (inode.dir != nullptr)) problem("inode {}: directory data mismatch", ino);
    if (inode.pages && !inode.is_reg()) problem("inode {}: pages on a non-regular file", ino);
    if (!inode.dir) continue;
    uint32_t subdirs = 0;
    size_t listed = 0;
    inode.dir->visit_newest_first(UINT64_MAX, [&](uint64_t cookie, const DirEntry& entry) {
      listed++;
      if (cookie < kFirstEntryCookie) problem("dir {}: cookie {} is reserved", ino, cookie);
      if (inode.dir->find(entry.name) != &entry) problem("dir {}: name index lost '{}'", ino, entry.name);
      auto child = inodes.find(entry.ino);
      if (child == inodes.end()) {
        problem("dir {}: '{}' points to freed inode {}", ino, entry.name, entry.ino);
        return true;
      }
      names[entry.ino]++;
      if (child->second.is_dir()) {
        subdirs++;
        if (child->second.dir->parent != ino) {
          problem("dir {}: subdir '{}' has parent {}", ino, entry.name, child->second.dir->parent);
        }
      }
      return true;
    });
    if (listed != inode.dir->size()) problem("dir {}: {} entries counted as {}", ino, listed, inode.dir->size());
    if (subdirs != inode.dir->subdirs) problem("dir {}: {} subdirs counted as {}", ino, subdirs, inode.dir->subdirs);
    if (inode.size != static_cast<int64_t>(2 + inode.dir->size()) * kDirentBogoSize) {
      problem("dir {}: size {} for {} entries", ino, inode.size, inode.dir->size());
    }
  }
  for (const auto& [ino, inode] : inodes) {
    uint32_t named = names.count(ino) ? names.at(ino) : 0;
    if (ino == fusepp::ROOT_INODE) named = 1;
    if (inode.is_dir()) {
      uint32_t expected = named == 0 ? 0 : 2 + inode.dir->subdirs;
      if (named > 1) problem("dir {} has {} names", ino, named);
      if (inode.nlink != expected) problem("dir {}: nlink {} expected {}", ino, inode.nlink, expected);
      if (named == 0 && !inode.dir->empty()) problem("removed dir {} still has entries", ino);
    } else if (inode.nlink != named) {
      problem("inode {}: nlink {} but {} names", ino, inode.nlink, named);
    }
  }
  for (const auto& [fh, file] : open_files) {
    if (!inodes.count(file.ino)) problem("open file {} refers to freed inode {}", fh, file.ino);
  }
  std::unordered_map<uint64_t, uint32_t> opens;
  for (const auto& [fh, file] : open_files) opens[file.ino]++;
  for (const auto& [ino, inode] : inodes) {
    uint32_t expected = opens.count(ino) ? opens.at(ino) : 0;
    if (inode.open_count != expected)
      problem("inode {}: open_count {} but {} handles", ino, inode.open_count, expected);
  }
  std::unordered_map<uint64_t, uint32_t> pins;  // directory -> unlinked inodes keeping it
  for (const auto& [ino, inode] : inodes) {
    if (inode.pins_dir == 0) continue;
    if (inode.nlink != 0 || !holds_space(inode)) problem("inode {} pins dir {} without need", ino, inode.pins_dir);
    pins[inode.pins_dir]++;
  }
  for (const auto& [ino, inode] : inodes) {
    uint32_t expected = pins.count(ino) ? pins.at(ino) : 0;
    if (inode.pinned_by != expected) problem("dir {}: pinned by {} but {} pin it", ino, inode.pinned_by, expected);
  }
  if (excess_forgets) problem("the kernel forgot {} references memfs never counted", excess_forgets);
  if (pages != used_pages) problem("used_pages {} but inodes hold {}", used_pages, pages);
  if (ispace != used_ispace) problem("used_ispace {} but inodes account for {}", used_ispace, ispace);
  if (pages_in_use() > max_pages) problem("pages in use {} over the limit {}", pages_in_use(), max_pages);
  for (size_t i = 0; i < unlinked_kept.size(); ++i) {
    uint64_t ino = unlinked_kept[i];
    auto kept = inodes.find(ino);
    if (kept == inodes.end())
      problem("unlinked inode {} is listed as kept but was freed", ino);
    else if (kept->second.nlink != 0)
      problem("inode {} is listed as unlinked but has {} links", ino, kept->second.nlink);
    else if (kept->second.kept_at != i)
      problem("unlinked inode {} is kept at {} but thinks {}", ino, i, kept->second.kept_at);
  }
  for (const auto& [ino, inode] : inodes) {
    bool listed = inode.kept_at < unlinked_kept.size() && unlinked_kept[inode.kept_at] == ino;
    if (inode.nlink == 0 && ino != fusepp::ROOT_INODE && !listed)
      problem("unlinked inode {} is not listed as kept", ino);
  }
  return problems;
}

// ----- MemFs -----

MemFs::MemFs(Options options) : state_(std::make_unique<State>(options)), options_(options) {
  enable_writeback_cache = options.writeback_cache;
  auto_inval_data = options.auto_inval_data;
  // As large as one READ can be (FUSE's 256-page max_pages): a cold sequential read then
  // takes one 1 MiB READ per MiB instead of eight of 128 KiB.
  max_readahead = size_t{256} * 4096;
}

int64_t MemFs::now_ns() const { return state_->now_ns(); }
MemFs::~MemFs() = default;

size_t MemFs::inode_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->inodes.size();
}

std::vector<std::string> MemFs::check_consistency() const {
  std::lock_guard lock(state_->mutex);
  return state_->check_consistency();
}

}  // namespace memfs
