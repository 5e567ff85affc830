// memfs's storage for file pages: Page objects carved from 2 MiB chunks that are populated
// with one madvise each, so writing fresh data costs no page fault per 4 KiB page (from the
// malloc heap, page faults were most of the daemon's time in a sequential write). A chunk
// whose pages are all freed goes back to the kernel.
#pragma once

#include <cstddef>

namespace memfs::page_arena {

// One slot of at least `size` bytes (at most kSlotSize), 64-byte aligned; never null
// (std::bad_alloc when the kernel has no memory). Thread-safe.
void* allocate(std::size_t size);
void deallocate(void* slot) noexcept;

inline constexpr std::size_t kSlotSize = 4160;  // a Page (4 KiB + its flag), rounded to 64
// Chunks currently mapped (for tests).
std::size_t chunks_mapped();

}  // namespace memfs::page_arena
