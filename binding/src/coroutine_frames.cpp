// The slow path of RecycledFrame's allocation (fusepp/coroutine_frames.hpp): a fresh block
// from the heap, and the per-thread guard that returns a thread's free lists to the heap when
// the thread exits.
#include "fusepp/coroutine_frames.hpp"

#include <utility>

#if !defined(FUSEPP_FRESH_FRAMES)

namespace fusepp::frames {

namespace {

struct ListsGuard {
  bool registered = false;
  ~ListsGuard() {
    FreeLists& lists = tl_free_lists;
    lists.armed = false;  // frames freed later on this thread (its last destructors) go to the heap
    lists.retired = true;
    for (FreeBlock*& head : lists.heads)
      while (head) ::operator delete(std::exchange(head, head->next));
  }
};
thread_local ListsGuard tl_guard;

}  // namespace

void* allocate_fresh(std::size_t size) {
  std::size_t c = size_class(size);
  if (c >= kClasses) return ::operator new(size);
  if (!tl_free_lists.armed && !tl_free_lists.retired) {
    tl_guard.registered = true;  // constructs the guard, which registers its destructor
    tl_free_lists.armed = true;
  }
  return ::operator new((c + 1) * kGranule);
}

}  // namespace fusepp::frames

#endif
