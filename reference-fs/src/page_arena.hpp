// memfs's storage for file pages: page-aligned 4 KiB slots carved from 2 MiB chunks that are
// populated with one madvise each, so writing fresh data costs no page fault per page; while
// chunks are used up, a background thread populates the next few ahead. A chunk whose slots
// are all freed is retained for reuse for a short while and up to a bound, then unmapped.
#pragma once

#include <chrono>
#include <cstddef>

namespace memfs::page_arena {

inline constexpr std::size_t kSlotSize = 4096;

// One page-aligned slot of kSlotSize bytes, never null (std::bad_alloc when the kernel has no
// memory). Its contents are unspecified: a reused slot still holds what its last owner wrote.
// Thread-safe.
void* allocate();
void deallocate(void* slot) noexcept;

// How much emptied (or prepared) memory the arena keeps: at most `max_bytes`, each chunk for
// at most `decay` after it emptied (a background thread gives it back then, also when memfs
// is idle).
struct Retention {
  std::size_t max_bytes;
  std::chrono::milliseconds decay;
};
inline constexpr std::chrono::milliseconds kDefaultDecay{2000};
// Process-wide (the arena is shared by every memfs of the process); takes effect for chunks
// emptied from now on, and trims what is retained above the new bound.
void set_retention(Retention retention);

// Chunks currently mapped, and those of them retained empty (for tests).
std::size_t chunks_mapped();
std::size_t chunks_retained();
// For tests: while set, the next chunk the arena maps fails as when the kernel has no memory
// (allocate() throws std::bad_alloc), once. Only mapping a chunk looks, never a slot's path.
void fail_next_chunk_for_test(bool fail = true);

}  // namespace memfs::page_arena
