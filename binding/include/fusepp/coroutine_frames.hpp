// Recycled coroutine frames for the per-request coroutines: every handler returning Reply<T>
// and the binding's own request coroutines take their frames from a per-thread free list
// instead of malloc (two frames per request were the biggest cost after the syscalls), and
// tell the binding when a handler started inline first awaits something (InlineRequest).
// Asan builds allocate every frame afresh so that a use after free stays visible.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <new>
#include <type_traits>
#include <vector>

// fusepp uses Boost 1.74's Asio internals (Debian 12's Boost) where they save work on every
// request; with any other Boost, or built with FUSEPP_PORTABLE_ASIO (the CMake option of that
// name, so that the portable path is built and tested here too), only Asio's public API.
#if BOOST_VERSION == 107400 && !defined(FUSEPP_PORTABLE_ASIO)
#define FUSEPP_ASIO_INTERNALS 1
#else
#define FUSEPP_ASIO_INTERNALS 0
#endif

namespace fusepp {

namespace asio = boost::asio;

template <class T>
class Result;
struct ForgetRequest;
class Dispatcher;  // the binding's (private) request dispatcher

#if defined(__SANITIZE_ADDRESS__)
#define FUSEPP_FRESH_FRAMES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUSEPP_FRESH_FRAMES 1
#endif
#endif

namespace frames {

#if defined(FUSEPP_FRESH_FRAMES)

inline void* allocate(std::size_t size) { return ::operator new(size); }
inline void deallocate(void* block, std::size_t) noexcept { ::operator delete(block); }

#else

inline constexpr std::size_t kGranule = 64;  // size classes of 64, 128, ... bytes
inline constexpr std::size_t kClasses = 32;  // frames up to 2 KiB are recycled
// Bounds what a thread keeps when it frees frames another thread allocated (a handler
// resumed elsewhere): at most a few hundred kilobytes.
inline constexpr unsigned kKeptPerClass = 64;

struct FreeBlock {
  FreeBlock* next;
};

// This thread's free lists. Trivially destructible, so that every access is a plain
// thread-local load; `armed` says a guard (coroutine_frames.cpp) will free the blocks when the
// thread exits, and only then does a freed frame go on a list.
struct FreeLists {
  FreeBlock* heads[kClasses];
  unsigned counts[kClasses];
  bool armed;
  bool retired;  // the guard has run: the thread is exiting
};
inline thread_local FreeLists tl_free_lists{};

inline std::size_t size_class(std::size_t size) { return (size - 1) / kGranule; }  // size > 0
// A fresh block of the size class's full size (so that any frame of the class fits in it
// later); arms this thread's lists.
void* allocate_fresh(std::size_t size);

// A block of at least `size` bytes; deallocate() takes the same size back.
inline void* allocate(std::size_t size) {
  std::size_t c = size_class(size);
  if (c < kClasses) {
    FreeLists& lists = tl_free_lists;
    if (FreeBlock* b = lists.heads[c]) {
      lists.heads[c] = b->next;
      --lists.counts[c];
      return b;
    }
  }
  return allocate_fresh(size);
}

inline void deallocate(void* block, std::size_t size) noexcept {
  std::size_t c = size_class(size);
  FreeLists& lists = tl_free_lists;
  if (c < kClasses && lists.armed && lists.counts[c] < kKeptPerClass) {
    lists.heads[c] = ::new (block) FreeBlock{lists.heads[c]};
    ++lists.counts[c];
    return;
  }
  ::operator delete(block);
}

#endif

}  // namespace frames

// A request whose handler the binding runs inline, with no coroutine of its own beneath it
// (dispatcher.hpp, start()): most handlers complete without awaiting anything, and then that
// coroutine is never needed. Any await may suspend, though, so the first one a frame of the
// request's stack makes moves the request into such a coroutine first (adopt). Set only while
// the handler runs inline on this thread.
struct InlineRequest {
  const asio::detail::awaitable_thread<asio::any_io_executor>* thread;  // the handler's stack
  void (*adopt)(InlineRequest&);
};
inline thread_local InlineRequest* tl_inline_request = nullptr;

// The RecycledFrame constructed last on this thread while it lives: an awaitable whose frame is
// this one came from a coroutine that adopts its request when it first suspends (the
// binding's is_recycled_frame).
inline thread_local const void* tl_newest_frame = nullptr;

template <class T>
struct IsResult : std::false_type {};
template <class T>
struct IsResult<Result<T>> : std::true_type {};

// Asio's promise type with the frame allocated by frames::allocate. A coroutine whose promise
// is a RecycledFrame still returns a plain asio::awaitable, so callers see no difference.
template <class T>
class RecycledFrame : public asio::detail::awaitable_frame<T, asio::any_io_executor> {
  using Base = asio::detail::awaitable_frame<T, asio::any_io_executor>;
  using FrameBase = asio::detail::awaitable_frame_base<asio::any_io_executor>;
  using Thread = asio::detail::awaitable_thread<asio::any_io_executor>;

  void adopt_if_inline() {
    InlineRequest* r = tl_inline_request;
    if (r != nullptr && r->thread == this->attached_thread_) [[unlikely]] {
      tl_inline_request = nullptr;
      try {
        r->adopt(*r);
      } catch (...) {  // no frame for the request: it is still inline
        tl_inline_request = r;
        throw;
      }
    }
  }

  // Asio's awaitable::await_suspend wants a handle typed with Asio's own promise; this frame
  // starts with it (single inheritance, nothing added), so the same frame address serves.
  template <class U>
  struct NestedAwait {
    asio::awaitable<U, asio::any_io_executor> inner;
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    void await_suspend(asio::detail::coroutine_handle<Promise> self) {
      inner.await_suspend(asio::detail::coroutine_handle<Base>::from_address(self.address()));
    }
    U await_resume() { return inner.await_resume(); }
  };

 public:
  static void* operator new(std::size_t size) { return frames::allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept { frames::deallocate(block, size); }
  RecycledFrame() noexcept { tl_newest_frame = this; }
  ~RecycledFrame() {
    if (tl_newest_frame == this) tl_newest_frame = nullptr;
  }

  // Every await a handler can write comes through one of these three (Asio's own set). Awaiting
  // another Reply does not suspend by itself, and that Reply's frame is a RecycledFrame too,
  // which adopts the request only if it does suspend: a handler that calls a helper coroutine
  // stays inline. Any other awaitable may come from a frame of Asio's own, which would
  // suspend without telling: adopt before awaiting it.
  template <typename U>
  auto await_transform(asio::awaitable<U, asio::any_io_executor> a) {
    if constexpr (!IsResult<U>::value) adopt_if_inline();
    return NestedAwait<U>{std::move(a)};
  }
  auto await_transform(asio::this_coro::executor_t e) noexcept { return Base::await_transform(e); }  // never suspends
  template <typename Function>  // how Asio's operations suspend (use_awaitable)
  auto await_transform(
      Function f,
      std::enable_if_t<std::is_convertible_v<std::invoke_result_t<Function, FrameBase*>, Thread*>>* = nullptr) {
    adopt_if_inline();
    return Base::await_transform(std::move(f));
  }
};

}  // namespace fusepp

// Which coroutines get a RecycledFrame: the ones started per request. RecycledFrame relies on
// the layout of Boost 1.74's awaitable_frame (Debian 12's); otherwise Asio's own.
#if FUSEPP_ASIO_INTERNALS
#if defined(BOOST_ASIO_HAS_STD_COROUTINE)
namespace std {
#else
namespace std::experimental {
#endif
template <class T, class... Args>  // every handler returning Reply<T>
struct coroutine_traits<boost::asio::awaitable<fusepp::Result<T>, boost::asio::any_io_executor>, Args...> {
  using promise_type = fusepp::RecycledFrame<fusepp::Result<T>>;
};
template <class Self>  // a forget handler (a member coroutine taking the list)
struct coroutine_traits<boost::asio::awaitable<void, boost::asio::any_io_executor>, Self,
                        std::vector<fusepp::ForgetRequest>> {
  using promise_type = fusepp::RecycledFrame<void>;
};
template <class... Rest>  // the binding's request coroutines: serve(), run_forget()...
struct coroutine_traits<boost::asio::awaitable<void, boost::asio::any_io_executor>, fusepp::Dispatcher&, Rest...> {
  using promise_type = fusepp::RecycledFrame<void>;
};
template <>  // run_forget() matches both of the above
struct coroutine_traits<boost::asio::awaitable<void, boost::asio::any_io_executor>, fusepp::Dispatcher&,
                        std::vector<fusepp::ForgetRequest>> {
  using promise_type = fusepp::RecycledFrame<void>;
};
}  // namespace std
#endif  // FUSEPP_ASIO_INTERNALS
