// Latency-bound benchmark subject on fusepp: LOOKUP, GETATTR and READ of "file" wait DELAY_US
// on an Asio timer (a simulated slow backend), then compute for COMPUTE_US; at exit it prints
// "peak_in_flight N", the most requests it held at once.
// Usage: bench_latency_fusepp MOUNTPOINT THREADS DELAY_US [COMPUTE_US]

#include <utility>  // before Asio (Boost 1.74)

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fusepp/fusepp.hpp"
#include "one_file_fusepp.hpp"

namespace {

using namespace std::chrono;
namespace asio = boost::asio;

class SlowBackendFs : public fusepp::Operations {
 public:
  SlowBackendFs(microseconds delay, microseconds compute) : delay_(delay), compute_(compute) {}

  fusepp::Reply<fusepp::EntryAttributes> lookup(fusepp::InodeT parent, std::string_view name,
                                                const fusepp::RequestContext&) override {
    co_await backend();
    if (parent != fusepp::ROOT_INODE || name != "file") co_return fusepp::FUSEError(ENOENT);
    co_return attrs(bench::kOneFileInode);
  }
  fusepp::Reply<fusepp::EntryAttributes> getattr(fusepp::InodeT ino, const fusepp::RequestContext&) override {
    co_await backend();
    co_return attrs(ino);
  }
  fusepp::Reply<fusepp::FileInfo> open(fusepp::InodeT, fusepp::FlagT, const fusepp::RequestContext&) override {
    co_return fusepp::FileInfo{.direct_io = true};  // every read reaches the backend
  }
  fusepp::Reply<std::string> read(fusepp::FileHandleT, off_t off, size_t size) override {
    co_await backend();
    co_return std::string(off < kSize ? std::min<size_t>(size, kSize - off) : 0, 'x');
  }
  fusepp::Reply<void> release(fusepp::FileHandleT) override { co_return fusepp::ok; }

  unsigned peak() const { return peak_.load(); }

 private:
  static constexpr off_t kSize = 4096;

  static fusepp::EntryAttributes attrs(fusepp::InodeT ino) { return bench::one_file_attrs(ino, kSize); }

  asio::awaitable<void> backend() {
    unsigned now = in_flight_.fetch_add(1) + 1;
    for (unsigned seen = peak_.load(); now > seen && !peak_.compare_exchange_weak(seen, now);) {
    }
    if (delay_.count() > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, delay_);
      co_await timer.async_wait(asio::use_awaitable);
    }
    for (auto until = steady_clock::now() + compute_; steady_clock::now() < until;) {
    }
    in_flight_.fetch_sub(1);
  }

  microseconds delay_, compute_;
  std::atomic<unsigned> in_flight_{0}, peak_{0};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT THREADS DELAY_US [COMPUTE_US]\n", argv[0]);
    return 2;
  }
  SlowBackendFs fs(microseconds(std::atol(argv[3])), microseconds(argc == 5 ? std::atol(argv[4]) : 0));
  fusepp::Session session(fs, argv[1], {"default_permissions", "fsname=latency", "subtype=latency"});
  session.main(fusepp::MainOptions{.threads = static_cast<unsigned>(std::atoi(argv[2]))});
  session.close(true);
  std::printf("peak_in_flight %u\n", fs.peak());
  return 0;
}
