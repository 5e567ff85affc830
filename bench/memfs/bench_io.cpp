// I/O benchmark of fusecheck-memfs against a tmpfs in the same run (rounds alternate): sequential
// 1 MiB-block write (into a fresh mount, and again after deleting the file) and cold read (also
// as CPU time per GiB, client + daemon), random 4 KiB reads and writes (buffered and O_DIRECT),
// mount-to-ready. Usage: bench_io [--size MiB] [--rounds N] [--random-ops N] [--rows TEXT]
// [--memfs-option OPT]... (root)
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

constexpr size_t kBlock = 1 << 20;
constexpr size_t kSmall = 4096;

// Gives up: every mount still listed (bench::started) is removed first.
[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_io: %s: %s\n", what.c_str(), std::strerror(errno));
  bench::started::clean_up_and_exit(1);
}

using bench::Clock;
using bench::median;
using bench::seconds_since;

// One mounted target; for memfs the daemon serving it. Unmounts on destruction.
class Target {
 public:
  Target(bool memfs, const std::vector<std::string>& memfs_options) : memfs_(memfs) {
    path_ = bench::make_temp_dir("bench-io-");
    if (path_.empty()) fail("mkdtemp");
    slot_ = bench::started::add(path_);
    auto start = Clock::now();
    if (!memfs_) {
      if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=50%") != 0) fail("mount tmpfs");
    } else {
      start_memfs(memfs_options);
    }
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) fail("stat " + path_);
    mount_s_ = seconds_since(start);
  }
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  ~Target() {
    bench::started::remove(slot_);
    bench::stop_daemon(path_, daemon_, false);
  }
  const std::string& path() const { return path_; }
  pid_t daemon() const { return daemon_; }
  const char* name() const { return memfs_ ? "memfs" : "tmpfs"; }
  double mount_seconds() const { return mount_s_; }

 private:
  void start_memfs(const std::vector<std::string>& options) {
    std::vector<std::string> args{FUSECHECK_MEMFS_PATH, path_};
    for (const auto& o : options) args.insert(args.end(), {"-o", o});
    daemon_ = bench::spawn(args);
    bench::started::set_pid(slot_, daemon_);
    if (daemon_ == 0 || bench::wait_for_mount(path_, daemon_, std::chrono::hours(24), std::chrono::microseconds(200)) !=
                            bench::MountWait::mounted) {
      std::fprintf(stderr, "bench_io: fusecheck-memfs did not mount\n");
      bench::started::clean_up_and_exit(1);
    }
  }
  bool memfs_;
  std::string path_;
  pid_t daemon_ = 0;
  int slot_ = -1;  // in bench::started, so that giving up or a signal unmounts it
  double mount_s_ = 0;
};

struct Config {
  size_t size_mib = 1024;
  int rounds = 5;  // the fewest whose min..max brackets the median ratio at 94%
  int random_ops = 20000;
  std::string rows;  // only the rows whose name contains this
  std::vector<std::string> memfs_options;
};

char* aligned_buffer(size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, size) != 0) fail("posix_memalign");
  std::memset(p, 'b', size);
  return static_cast<char*>(p);
}

int open_file(const std::string& file, int flags) {
  int fd = ::open(file.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) fail("open " + file);
  return fd;
}

// MiB/s writing the whole file in 1 MiB blocks (fsync included, as the data must be stored).
double sequential_write(const std::string& file, size_t mib, bool direct) {
  static char* buf = aligned_buffer(kBlock);
  ::unlink(file.c_str());
  int fd = open_file(file, O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0));
  auto start = Clock::now();
  for (size_t i = 0; i < mib; ++i)
    if (::write(fd, buf, kBlock) != static_cast<ssize_t>(kBlock)) fail("write " + file);
  if (::fsync(fd) != 0) fail("fsync");
  double s = seconds_since(start);
  ::close(fd);
  return mib / s;
}

// MiB/s reading the whole file; buffered reads start cold (the page cache dropped first).
double sequential_read(const std::string& file, size_t mib, bool direct) {
  static char* buf = aligned_buffer(kBlock);
  int fd = open_file(file, O_RDONLY | (direct ? O_DIRECT : 0));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  auto start = Clock::now();
  for (size_t i = 0; i < mib; ++i)
    if (::read(fd, buf, kBlock) != static_cast<ssize_t>(kBlock)) fail("read " + file);
  double s = seconds_since(start);
  ::close(fd);
  return mib / s;
}

// Operations/s of 4 KiB pread or pwrite at random aligned offsets of the file.
double random_io(const std::string& file, size_t mib, int ops, bool write, bool direct) {
  static char* buf = aligned_buffer(kSmall);
  int fd = open_file(file, (write ? O_WRONLY : O_RDONLY) | (direct ? O_DIRECT : 0));
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> page(0, mib * (kBlock / kSmall) - 1);
  auto start = Clock::now();
  for (int i = 0; i < ops; ++i) {
    off_t off = static_cast<off_t>(page(rng) * kSmall);
    ssize_t n = write ? ::pwrite(fd, buf, kSmall, off) : ::pread(fd, buf, kSmall, off);
    if (n != static_cast<ssize_t>(kSmall)) fail("random io " + file);
  }
  double s = seconds_since(start);
  ::close(fd);
  return ops / s;
}

struct Row {
  std::string name, unit;
  std::function<double(const std::string& file)> run;
  std::vector<double> memfs, tmpfs;
  std::vector<double> memfs_cpu, tmpfs_cpu;  // CPU seconds of the run: this process + the daemon
};

// CPU seconds (user + system) this process has used.
double own_cpu_seconds() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// CPU seconds (user + system) a daemon has used; 0 for none.
double daemon_cpu_seconds(pid_t pid) {
  if (pid == 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)  // utime and stime are fields 14 and 15
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<Row> all_rows(const Config& c) {
  size_t mib = c.size_mib;
  int ops = c.random_ops;
  return {
      // Each round mounts a fresh target, so the first write is into memory neither has used;
      // the second deletes that file and writes it again (memfs reuses the freed memory).
      {"sequential write, buffered, 1 MiB blocks, first write after mount", "MiB/s",
       [=](auto& f) { return sequential_write(f, mib, false); }},
      {"sequential write, buffered, 1 MiB blocks, file deleted and written again", "MiB/s",
       [=](auto& f) { return sequential_write(f, mib, false); }},
      {"sequential read, buffered, cold", "MiB/s", [=](auto& f) { return sequential_read(f, mib, false); }},
      {"random 4 KiB read, buffered", "ops/s", [=](auto& f) { return random_io(f, mib, ops, false, false); }},
      {"random 4 KiB write, buffered", "ops/s", [=](auto& f) { return random_io(f, mib, ops, true, false); }},
      {"sequential write, O_DIRECT, 1 MiB blocks", "MiB/s", [=](auto& f) { return sequential_write(f, mib, true); }},
      {"sequential read, O_DIRECT", "MiB/s", [=](auto& f) { return sequential_read(f, mib, true); }},
      {"random 4 KiB read, O_DIRECT", "ops/s", [=](auto& f) { return random_io(f, mib, ops, false, true); }},
      {"random 4 KiB write, O_DIRECT", "ops/s", [=](auto& f) { return random_io(f, mib, ops, true, true); }},
  };
}

// The rows --rows selects, in table order (a row may rely on the file an earlier one wrote,
// or on the untimed write main() makes when no write row comes first).
std::vector<Row> rows(const Config& c) {
  std::vector<Row> selected;
  for (auto& row : all_rows(c))
    if (row.name.find(c.rows) != std::string::npos) selected.push_back(std::move(row));
  return selected;
}

int parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::puts("usage: bench_io [--size MiB] [--rounds N] [--random-ops N] [--rows TEXT] [--memfs-option OPT]...");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_io: %s needs a value\n", a.c_str());
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--size")
      c.size_mib = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--rounds")
      c.rounds = std::atoi(v.c_str());
    else if (a == "--random-ops")
      c.random_ops = std::atoi(v.c_str());
    else if (a == "--rows")
      c.rows = v;
    else if (a == "--memfs-option")
      c.memfs_options.push_back(v);
    else {
      std::fprintf(stderr, "bench_io: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  if (c.size_mib == 0 || c.rounds < 1 || c.random_ops < 1) {
    std::fprintf(stderr, "bench_io: --size, --rounds and --random-ops must be positive\n");
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (int rc = parse(argc, argv, c); rc >= 0) return rc;
  bench::started::clean_up_on_signals();
  auto table = rows(c);
  if (table.empty()) {
    std::fprintf(stderr, "bench_io: no row's name contains '%s'\n", c.rows.c_str());
    return 2;
  }
  std::vector<double> mount_memfs, mount_tmpfs;
  for (int round = 0; round < c.rounds; ++round) {
    for (int k = 0; k < 2; ++k) {
      bool memfs = (k + round) % 2 == 0;
      Target t(memfs, c.memfs_options);
      (memfs ? mount_memfs : mount_tmpfs).push_back(t.mount_seconds());
      std::string file = t.path() + "/data";
      // The read rows read the file a write row made; with none selected first, an
      // untimed write makes it.
      if (table.front().name.rfind("sequential write", 0) != 0) sequential_write(file, c.size_mib, false);
      for (auto& row : table) {
        double cpu_before = own_cpu_seconds() + daemon_cpu_seconds(t.daemon());
        (memfs ? row.memfs : row.tmpfs).push_back(row.run(file));
        double cpu = own_cpu_seconds() + daemon_cpu_seconds(t.daemon()) - cpu_before;
        (memfs ? row.memfs_cpu : row.tmpfs_cpu).push_back(cpu);
      }
    }
  }
  std::string options;
  for (auto& o : c.memfs_options) options += " -o " + o;
  double confidence = bench::median_interval_confidence(static_cast<size_t>(c.rounds));
  std::printf(
      "# %zu MiB file, %d rounds alternating targets, medians; ratio = median of the rounds' memfs/tmpfs, in "
      "parentheses its %.1f%% interval; memfs%s\n",
      c.size_mib, c.rounds, confidence * 100, options.c_str());
  // Rows of bench/README.md's table: | benchmark | unit | measured | baseline | ratio |
  for (auto& row : table) {
    auto r = bench::median_interval(bench::per_round_ratios(row.memfs, row.tmpfs));
    std::printf("| %s, memfs%s | %s | %.0f | %.0f tmpfs | %.2fx (%.2f-%.2f) |\n", row.name.c_str(), options.c_str(),
                row.unit.c_str(), median(row.memfs), median(row.tmpfs), r.median, r.low, r.high);
  }
  // Load from other processes stretches the wall clock far more than the CPU time a GiB
  // costs, so the sequential rows are also given as CPU seconds per GiB (lower is better).
  for (auto& row : table) {
    if (row.unit != "MiB/s") continue;
    double per_gib = 1024.0 / static_cast<double>(c.size_mib);
    double m = median(row.memfs_cpu) * per_gib, t = median(row.tmpfs_cpu) * per_gib;
    std::printf(
        "| %s, memfs%s: CPU per GiB, client + daemon (ratio: tmpfs / memfs) | s | %.2f | %.2f tmpfs | %.2fx |\n",
        row.name.c_str(), options.c_str(), m, t, t / m);
  }
  // The first write swings between runs with where the scheduler puts the writer and memfs's
  // serving thread (bench/README.md): each round's ratio shows it.
  for (auto& row : table)
    if (row.unit == "MiB/s") bench::print_per_round(row.name, bench::per_round_ratios(row.memfs, row.tmpfs), 2);
  double mm = median(mount_memfs), mt = median(mount_tmpfs);
  std::printf("| mount to ready, memfs (ratio: tmpfs time / memfs time) | ms | %.2f | %.2f tmpfs | %.3fx |\n", mm * 1e3,
              mt * 1e3, mt / mm);
  return 0;
}
