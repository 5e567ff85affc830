// Benchmark subject: the raw_fs.c filesystem written on fusepp (same replies, no caching,
// errors as values), served by fusepp::main(). Usage: bench_fusepp_fs MOUNTPOINT [THREADS]
// With BENCH_FUSEPP_OBSERVE=1 in the environment an Observer (trace, rules, balance) is
// attached, to measure what observing costs against the same build without it.
#include <cstdio>
#include <cstdlib>

#include "fusepp/fusepp.hpp"
#include "one_file_fusepp.hpp"

namespace {

class StatFs : public fusepp::Operations {
  static fusepp::EntryAttributes attrs(fusepp::InodeT ino) { return bench::one_file_attrs(ino, 4096); }

 public:
  fusepp::Reply<fusepp::EntryAttributes> lookup(fusepp::InodeT parent, std::string_view name,
                                                const fusepp::RequestContext&) override {
    if (parent != fusepp::ROOT_INODE || name != "file") co_return fusepp::FUSEError(ENOENT);
    co_return attrs(bench::kOneFileInode);
  }
  fusepp::Reply<fusepp::EntryAttributes> getattr(fusepp::InodeT ino, const fusepp::RequestContext&) override {
    co_return attrs(ino);
  }
  fusepp::Reply<fusepp::FileInfo> open(fusepp::InodeT, fusepp::FlagT, const fusepp::RequestContext&) override {
    co_return fusepp::FileInfo{.keep_cache = false};
  }
  fusepp::Reply<void> release(fusepp::FileHandleT) override { co_return fusepp::ok; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT [THREADS]\n", argv[0]);
    return 2;
  }
  StatFs fs;
  fusepp::Session session(fs, argv[1], {});
  fusepp::Observer observer;
  const char* observe = std::getenv("BENCH_FUSEPP_OBSERVE");
  if (observe && *observe == '1') session.observe(&observer);
  session.main(fusepp::MainOptions{.threads = argc == 3 ? static_cast<unsigned>(std::atoi(argv[2])) : 1u});
  session.close(true);
  return 0;
}
