// memfs's page arena (page_arena.hpp): 2 MiB-aligned chunks, each headed by its own
// bookkeeping, slots handed out fresh or from the chunk's free list; chunks with room sit on
// one list, and an empty chunk is unmapped unless it is the only spare.
#include "page_arena.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>

namespace memfs::page_arena {

namespace {

// Transparent huge pages (MADV_HUGEPAGE) were tried: clearing 2 MiB pages on first touch
// tripled the daemon's CPU time for a sequential write on a VM, so chunks are populated as
// small pages in one call (MADV_POPULATE_WRITE) instead.
constexpr std::size_t kChunkSize = std::size_t{2} << 20;
constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kSlotsPerChunk = (kChunkSize - kHeaderSize) / kSlotSize;

struct Chunk {
  Chunk* prev = nullptr;  // the list of chunks with a free slot
  Chunk* next = nullptr;
  void* free_slots = nullptr;  // freed slots, each holding the next one's address
  std::size_t used = 0;        // slots handed out
  std::size_t fresh = 0;       // slots below this were handed out at least once
  bool listed = false;
};
static_assert(sizeof(Chunk) <= kHeaderSize);

struct Arena {
  std::mutex mutex;
  Chunk* with_room = nullptr;
  Chunk* spare = nullptr;  // an empty chunk kept mapped, so one page freed and taken again costs no mmap
  std::size_t mapped = 0;

  void link(Chunk* c) {
    c->prev = nullptr;
    c->next = with_room;
    if (with_room) with_room->prev = c;
    with_room = c;
    c->listed = true;
  }
  void unlink(Chunk* c) {
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (with_room == c) with_room = c->next;
    c->listed = false;
  }
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: pages may be freed during static destruction
  return *a;
}

// A fresh chunk, aligned to its size so that a slot finds its header by masking.
Chunk* map_chunk() {
  void* raw = ::mmap(nullptr, 2 * kChunkSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (start + kChunkSize - 1) & ~(kChunkSize - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  std::uintptr_t end = start + 2 * kChunkSize;
  if (end > aligned + kChunkSize) ::munmap(reinterpret_cast<void*>(aligned + kChunkSize), end - aligned - kChunkSize);
  // Faults the whole chunk in at once; if the kernel cannot (before 5.14), on first touch.
  ::madvise(reinterpret_cast<void*>(aligned), kChunkSize, MADV_POPULATE_WRITE);
  return new (reinterpret_cast<void*>(aligned)) Chunk;
}

Chunk* chunk_of(void* slot) {
  return reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(slot) & ~(kChunkSize - 1));
}

}  // namespace

void* allocate(std::size_t size) {
  if (size > kSlotSize) throw std::bad_alloc();
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  if (!a.with_room) {
    a.link(map_chunk());
    a.mapped++;
  }
  Chunk* c = a.with_room;
  if (c == a.spare) a.spare = nullptr;
  void* slot;
  if (c->free_slots) {
    slot = c->free_slots;
    c->free_slots = *static_cast<void**>(slot);
  } else {
    slot = reinterpret_cast<char*>(c) + kHeaderSize + c->fresh++ * kSlotSize;
  }
  c->used++;
  if (!c->free_slots && c->fresh == kSlotsPerChunk) a.unlink(c);
  return slot;
}

void deallocate(void* slot) noexcept {
  if (!slot) return;
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  Chunk* c = chunk_of(slot);
  *static_cast<void**>(slot) = c->free_slots;
  c->free_slots = slot;
  c->used--;
  if (!c->listed) a.link(c);
  if (c->used != 0) return;
  if (!a.spare) {
    a.spare = c;
    return;
  }
  a.unlink(c);
  ::munmap(c, kChunkSize);
  a.mapped--;
}

std::size_t chunks_mapped() {
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  return a.mapped;
}

}  // namespace memfs::page_arena
