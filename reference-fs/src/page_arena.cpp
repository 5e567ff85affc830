// memfs's page arena (page_arena.hpp): 2 MiB-aligned chunks whose first page holds their
// bookkeeping, slots handed out fresh or from the chunk's free list; chunks with room sit on
// one list, emptied and prepared chunks on another (newest first), which one background
// thread refills ahead of use and trims as chunks decay.
#include "page_arena.hpp"

#include <sys/mman.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace memfs::page_arena {

namespace {

using Clock = std::chrono::steady_clock;

// Transparent huge pages (MADV_HUGEPAGE) were tried: clearing 2 MiB pages on first touch
// tripled the daemon's CPU time for a sequential write on a VM, so chunks are populated as
// small pages in one call (MADV_POPULATE_WRITE) instead.
constexpr std::size_t kChunkSize = std::size_t{2} << 20;
// The header takes a whole page so that every slot is page-aligned: a READ reply viewing a
// slot then makes the kernel pin one physical page per 4 KiB, not two.
constexpr std::size_t kHeaderSize = kSlotSize;
constexpr std::size_t kSlotsPerChunk = (kChunkSize - kHeaderSize) / kSlotSize;
constexpr std::size_t kDefaultMaxRetained = std::size_t{256} << 20;
constexpr std::size_t kChunksKeptReady = 4;

struct Chunk {
  Chunk* prev = nullptr;  // on the arena's list of chunks with room, or of retained chunks
  Chunk* next = nullptr;
  bool listed = false;
  void* free_slots = nullptr;  // freed slots, each holding the next one's address
  std::size_t used = 0;        // slots handed out
  std::size_t fresh = 0;       // slots below this were handed out at least once
  Clock::time_point emptied_at{};
};
static_assert(sizeof(Chunk) <= kHeaderSize);

// An intrusive doubly linked list of chunks, newest at the front.
struct ChunkList {
  Chunk* front = nullptr;
  Chunk* back = nullptr;
  std::size_t size = 0;

  void push_front(Chunk* c) {
    c->prev = nullptr;
    c->next = front;
    (front ? front->prev : back) = c;
    front = c;
    c->listed = true;
    size++;
  }
  void remove(Chunk* c) {
    (c->prev ? c->prev->next : front) = c->next;
    (c->next ? c->next->prev : back) = c->prev;
    c->listed = false;
    size--;
  }
};

struct Arena {
  std::mutex mutex;
  std::condition_variable retained_changed;  // wakes the keeping thread
  ChunkList with_room;
  ChunkList retained;
  std::size_t mapped = 0;
  Retention retention{kDefaultMaxRetained, kDefaultDecay};
  bool keeper_started = false;
  bool refill_wanted = false;  // a chunk went into use: prepare the next ones

  bool over_bound() const { return retained.size * kChunkSize > retention.max_bytes; }
  // Takes the oldest retained chunk off the lists; the caller unmaps it outside the lock.
  Chunk* take_oldest() {
    Chunk* c = retained.back;
    retained.remove(c);
    mapped--;
    return c;
  }
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: pages may be freed during static destruction
  return *a;
}

void unmap(Chunk* c) { ::munmap(c, kChunkSize); }

std::atomic<bool> fail_next_chunk{false};  // fail_next_chunk_for_test()

// A fresh chunk, aligned to its size so that a slot finds its header by masking.
Chunk* map_chunk() {
  if (fail_next_chunk.exchange(false, std::memory_order_relaxed)) throw std::bad_alloc();
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

// While chunks are being used up, maps and populates the next few ahead (on another CPU, while
// the daemon waits for the next WRITE), so a sequential write into fresh memory does not
// fault it in on the daemon's path. They wait on the retained list and decay like the rest.
void prepare_chunks(Arena& a, std::unique_lock<std::mutex>& lock) {
  a.refill_wanted = false;
  while (a.retained.size < kChunksKeptReady && (a.retained.size + 1) * kChunkSize <= a.retention.max_bytes) {
    lock.unlock();
    Chunk* c = nullptr;
    try {
      c = map_chunk();
    } catch (const std::bad_alloc&) {
    }
    lock.lock();
    if (!c) return;
    if ((a.retained.size + 1) * kChunkSize > a.retention.max_bytes) {  // chunks were emptied meanwhile
      lock.unlock();
      unmap(c);
      lock.lock();
      return;
    }
    a.mapped++;
    c->emptied_at = Clock::now();
    a.retained.push_front(c);
  }
}

// Gives back each retained chunk once it has stayed empty for the decay time, so memfs's
// memory shrinks soon after a big file is deleted even if no other request arrives.
[[noreturn]] void keep_arena(Arena& a) {
  std::unique_lock lock(a.mutex);
  for (;;) {
    if (a.refill_wanted) {
      prepare_chunks(a, lock);
      continue;
    }
    if (!a.retained.back) {
      a.retained_changed.wait(lock);
      continue;
    }
    Clock::time_point deadline = a.retained.back->emptied_at + a.retention.decay;
    if (Clock::now() < deadline) {
      a.retained_changed.wait_until(lock, deadline);
      continue;
    }
    Chunk* c = a.take_oldest();
    lock.unlock();
    unmap(c);
    lock.lock();
  }
}

Chunk* chunk_of(void* slot) {
  return reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(slot) & ~(kChunkSize - 1));
}

// A chunk with a free slot: one with room, else the newest retained one, else a new one.
Chunk* chunk_with_room(Arena& a) {
  if (a.with_room.front) return a.with_room.front;
  Chunk* c = a.retained.front;
  if (c) {
    a.retained.remove(c);  // its free list still holds every slot it handed out
  } else {
    if (!a.keeper_started) {
      std::thread(keep_arena, std::ref(a)).detach();
      a.keeper_started = true;
    }
    c = map_chunk();
    a.mapped++;
  }
  a.with_room.push_front(c);
  if (a.retained.size < kChunksKeptReady && !a.refill_wanted) {
    a.refill_wanted = true;
    a.retained_changed.notify_one();
  }
  return c;
}

}  // namespace

void* allocate() {
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  Chunk* c = chunk_with_room(a);
  void* slot;
  if (c->free_slots) {
    slot = c->free_slots;
    c->free_slots = *static_cast<void**>(slot);
  } else {
    slot = reinterpret_cast<char*>(c) + kHeaderSize + c->fresh++ * kSlotSize;
  }
  c->used++;
  if (!c->free_slots && c->fresh == kSlotsPerChunk) a.with_room.remove(c);
  return slot;
}

void deallocate(void* slot) noexcept {
  if (!slot) return;
  Arena& a = arena();
  Chunk* over_bound = nullptr;
  {
    std::lock_guard lock(a.mutex);
    Chunk* c = chunk_of(slot);
    *static_cast<void**>(slot) = c->free_slots;
    c->free_slots = slot;
    c->used--;
    if (c->used == 0) {
      if (c->listed) a.with_room.remove(c);
      c->emptied_at = Clock::now();
      bool was_empty = !a.retained.front;
      a.retained.push_front(c);
      if (a.over_bound()) over_bound = a.take_oldest();
      if (was_empty) a.retained_changed.notify_one();
    } else if (!c->listed) {
      a.with_room.push_front(c);
    }
  }
  if (over_bound) unmap(over_bound);
}

void set_retention(Retention retention) {
  Arena& a = arena();
  std::vector<Chunk*> over_bound;
  {
    std::lock_guard lock(a.mutex);
    a.retention = retention;
    while (a.retained.back && a.over_bound()) over_bound.push_back(a.take_oldest());
    a.retained_changed.notify_one();
  }
  for (Chunk* c : over_bound) unmap(c);
}

std::size_t chunks_mapped() {
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  return a.mapped;
}

std::size_t chunks_retained() {
  Arena& a = arena();
  std::lock_guard lock(a.mutex);
  return a.retained.size;
}

void fail_next_chunk_for_test(bool fail) { fail_next_chunk.store(fail, std::memory_order_relaxed); }

}  // namespace memfs::page_arena
