// memfs's directory: its names in creation order, each with a readdir cookie that only grows,
// and a name index over them. Private to memfs (state.hpp includes it); creating and removing
// a name allocates nothing but the name's own bytes when it is too long to be stored inline.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace memfs {

// tmpfs's directory cookies: 1 and 2 are '.' and '..', entries start at 3.
inline constexpr off_t kDotCookie = 1;
inline constexpr off_t kDotDotCookie = 2;
inline constexpr uint64_t kFirstEntryCookie = 3;

struct DirEntry {
  std::string name;
  uint64_t ino;
};

// Entries ordered by a per-directory cookie that only grows, so a readdir offset handed to
// the kernel stays meaningful while names are added and removed: readdir lists from the
// newest down, and resuming at cookie c lists exactly the entries with a smaller cookie.
// A name created, linked or renamed in gets a new cookie (tmpfs moves it to the front too).
//
// The entries sit in one vector in cookie order (a new name always has the largest cookie, so
// it is appended). Up to kSmall names are found by scanning it, newest first; a larger
// directory has an open-addressing hash table of their positions. A removed entry stays as a
// gap until gaps outnumber the names, then the vector is compacted; removing the newest entry
// (create + unlink) leaves no gap. A DirEntry pointer from find() is valid until the next
// insert or erase.
class Directory {
 public:
  explicit Directory(uint64_t parent) : parent(parent) {}
  const DirEntry* find(std::string_view name) const;
  void insert(std::string_view name, uint64_t ino);  // the name must not be present
  void erase(std::string_view name);
  void retarget(std::string_view name, uint64_t ino);  // keeps the cookie (RENAME_EXCHANGE)
  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  // Calls visit(cookie, entry) for the entries whose cookie is below `before`, newest first,
  // until visit returns false.
  template <class Visit>
  void visit_newest_first(uint64_t before, Visit&& visit) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), before,
                               [](const Entry& e, uint64_t cookie) { return e.cookie < cookie; });
    while (it != entries_.begin()) {
      --it;
      if (it->entry.ino != kGap && !visit(it->cookie, it->entry)) return;
    }
  }

  uint64_t parent;       // ino of '..'; the root is its own parent
  uint32_t subdirs = 0;  // names of directories here: nlink is 2 + subdirs

 private:
  static constexpr uint64_t kGap = 0;   // the ino of a removed entry (no inode has number 0)
  static constexpr size_t kSmall = 16;  // up to this many names, no index
  struct Entry {
    DirEntry entry;
    uint64_t cookie;
  };
  struct Slot {
    uint32_t position = 0;  // index in entries_ + 1; 0 marks a free slot
    uint32_t hash = 0;      // the name's, so that probing and moving slots never rehash names
  };
  static constexpr size_t kNotFound = SIZE_MAX;
  bool indexed() const { return !slots_.empty(); }
  size_t position_of(std::string_view name) const;  // in entries_, or kNotFound
  size_t slot_of(std::string_view name, uint32_t hash) const;
  void place(uint32_t position, uint32_t hash);
  void free_slot(size_t slot);
  void rebuild_index();
  void compact();

  std::vector<Entry> entries_;  // by cookie, gaps included
  std::vector<Slot> slots_;     // empty, or a power of two in size and at most half full
  size_t live_ = 0;
  uint64_t next_cookie_ = kFirstEntryCookie;
};

}  // namespace memfs
