// memfs's directory (directory.hpp): the entry vector in cookie order and, for a large
// directory, its name index: an open-addressing hash table with linear probing whose removals
// shift later slots back instead of leaving tombstones, so lookups never probe past a removed
// name.
#include "directory.hpp"

#include <cstring>

namespace memfs {

namespace {

// A multiply-and-fold hash over 8-byte words: names are short, and std::hash's murmur costs
// about twice as much for them. Like std::hash it has no secret key.
uint32_t hash_of(std::string_view name) {
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15;
  auto mix = [](uint64_t h, uint64_t word) {
    h = (h ^ word) * kMultiplier;
    return h ^ (h >> 32);
  };
  uint64_t h = name.size();
  const char* p = name.data();
  size_t left = name.size();
  for (; left >= 8; p += 8, left -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = mix(h, word);
  }
  uint64_t tail = 0;
  for (size_t i = 0; i < left; ++i) tail |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return static_cast<uint32_t>(mix(h, tail));
}

}  // namespace

size_t Directory::slot_of(std::string_view name, uint32_t hash) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {  // ends: the table is never full
    const Slot& slot = slots_[i];
    if (slot.position == 0) return kNotFound;
    if (slot.hash == hash && entries_[slot.position - 1].entry.name == name) return i;
  }
}

size_t Directory::position_of(std::string_view name) const {
  if (indexed()) {
    size_t slot = slot_of(name, hash_of(name));
    return slot == kNotFound ? kNotFound : slots_[slot].position - 1;
  }
  for (size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].entry.ino != kGap && entries_[i].entry.name == name) return i;
  }
  return kNotFound;
}

const DirEntry* Directory::find(std::string_view name) const {
  size_t position = position_of(name);
  return position == kNotFound ? nullptr : &entries_[position].entry;
}

void Directory::place(uint32_t position, uint32_t hash) {
  size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].position != 0) i = (i + 1) & mask;
  slots_[i] = Slot{position, hash};
}

// Backward-shift deletion: each later slot of the probe run moves into the hole unless its
// home position lies cyclically after the hole (then it would become unreachable).
void Directory::free_slot(size_t hole) {
  size_t mask = slots_.size() - 1;
  for (size_t i = (hole + 1) & mask; slots_[i].position != 0; i = (i + 1) & mask) {
    size_t home = slots_[i].hash & mask;
    if (((i - home) & mask) >= ((i - hole) & mask)) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
}

// An index sized for the names there are (the smallest power of two, at least 64, that
// they fill at most a quarter of), or none for a small directory.
void Directory::rebuild_index() {
  if (live_ <= kSmall) {
    slots_ = {};
    return;
  }
  size_t capacity = 64;
  while (capacity < live_ * 4) capacity *= 2;
  slots_.assign(capacity, Slot{});
  for (size_t i = 0; i < entries_.size(); ++i) {
    const DirEntry& e = entries_[i].entry;
    if (e.ino != kGap) place(static_cast<uint32_t>(i + 1), hash_of(e.name));
  }
}

void Directory::insert(std::string_view name, uint64_t ino) {
  entries_.push_back(Entry{DirEntry{std::string(name), ino}, next_cookie_++});
  ++live_;
  if (indexed() ? live_ * 2 > slots_.size() : live_ > kSmall) {
    rebuild_index();
  } else if (indexed()) {
    place(static_cast<uint32_t>(entries_.size()), hash_of(name));
  }
}

void Directory::erase(std::string_view name) {
  size_t position;
  if (indexed()) {
    size_t slot = slot_of(name, hash_of(name));
    if (slot == kNotFound) return;
    position = slots_[slot].position - 1;
    free_slot(slot);
  } else {
    position = position_of(name);
    if (position == kNotFound) return;
  }
  DirEntry& gone = entries_[position].entry;
  gone.ino = kGap;
  gone.name = std::string();  // name may view these bytes: not used from here on
  --live_;
  while (!entries_.empty() && entries_.back().entry.ino == kGap) entries_.pop_back();
  size_t gaps = entries_.size() - live_;
  bool sparse_index = indexed() && live_ * 8 < slots_.size();
  if ((gaps > 16 && gaps > live_) || sparse_index) compact();
}

// Drops the gaps and sizes the index for the names left; an emptied directory gives all its
// memory back. Both triggers need the names to shrink by a constant factor, so the cost is
// amortised over the removals.
void Directory::compact() {
  if (live_ == 0) {
    entries_ = {};
    slots_ = {};
    return;
  }
  std::erase_if(entries_, [](const Entry& e) { return e.entry.ino == kGap; });
  if (entries_.capacity() > 4 * entries_.size()) entries_.shrink_to_fit();
  rebuild_index();
}

void Directory::retarget(std::string_view name, uint64_t ino) {
  size_t position = position_of(name);
  if (position != kNotFound) entries_[position].entry.ino = ino;
}

}  // namespace memfs
