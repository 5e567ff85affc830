// Private to fusecheck-actor: the state one actor process keeps (its named descriptors and
// directory streams; mappings live in mapping.cpp), the helpers every op executor uses to
// read its request, and the executor lists of the op families (files, directories, xattrs,
// metadata, mapping, internal).
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fusecheck::actor {

// A request the harness built wrongly: answered as a protocol error, never as an errno.
struct BadRequest {
  std::string message;
};

// Carries the errno of a failed call out of the op executors.
struct SyscallFailed {
  int err;
};

// A memory access through a mapping that raised this signal (SIGBUS, SIGSEGV), caught.
struct AccessSignalled {
  int signal;
};

// Runs one request of its op; returns the result fields or throws one of the above.
using ExecuteFn = nlohmann::json (*)(const nlohmann::json& request);

struct Executor {
  std::string_view op;
  ExecuteFn run;
};

// One list per family (harness/src/actor/<family>.cpp). Every actor op of the op table has
// exactly one executor among them; the actor checks that when it starts.
extern const std::vector<Executor> file_executors;
extern const std::vector<Executor> directory_executors;
extern const std::vector<Executor> xattr_executors;
extern const std::vector<Executor> metadata_executors;
extern const std::vector<Executor> mapping_executors;
extern const std::vector<Executor> handle_executors;  // locks, copies, file handles, inode flags
// Requests only the harness sends (workdirs, resets, identity), not in the op table.
extern const std::vector<Executor> internal_executors;

// The real root directory, opened before the actor drops its identity (O_PATH): the way back
// out of a test's workdir, which the actor makes its root while the test runs.
int real_root_fd();
bool started_as_root();  // true when the harness ran the actor as root (it can chroot)

// Throws SyscallFailed{errno} unless `ok`.
void check(bool ok);

// Named handles. A name closed earlier (or never opened because an earlier step failed)
// acts like a closed descriptor (EBADF), so cleanup steps stay harmless.
int fd_arg(const nlohmann::json& request, const char* key = "fd");
void bind_fd(const nlohmann::json& request, int fd);
void close_fd(const nlohmann::json& request);
// A directory stream with the listing a program walking it has collected: every name it
// returned since opendir or rewinddir, up to its current position (a seekdir back to a
// position telldir gave forgets what was read after it).
struct OpenDir {
  DIR* stream;
  std::vector<std::string> listed;
  std::map<long, size_t> listed_at;  // telldir position -> listed.size() then
  long last_told = 0;                // the last telldir's position (0: the start)
  void seek(long pos);
};
OpenDir& open_dir_arg(const nlohmann::json& request);
DIR* dir_arg(const nlohmann::json& request);
void bind_dir(const nlohmann::json& request, DIR* dir);
void close_dir(const nlohmann::json& request);
void close_everything();  // descriptors, directory streams, mappings and saved file handles
void unmap_everything();  // mapping.cpp
void forget_file_handles();

std::string path_arg(const nlohmann::json& request, const char* key = "path");
std::string data_arg(const nlohmann::json& request);
long num(const nlohmann::json& request, const char* key, long fallback);

// Writes replies to `fd` (stdout), holding those asked to wait for the rest of their batch
// (replies.cpp). send() is false once the harness is gone.
class ReplyWriter {
 public:
  explicit ReplyWriter(int fd) : fd_(fd) {}
  ~ReplyWriter();  // sends what is still held
  ReplyWriter(const ReplyWriter&) = delete;
  ReplyWriter& operator=(const ReplyWriter&) = delete;
  bool send(const std::string& payload, bool hold);

 private:
  bool write_held();  // with mutex_ held
  void start_watchdog();
  void watch();
  int fd_;
  std::mutex mutex_;
  std::condition_variable stop_;
  std::string held_;  // frames not yet written
  std::chrono::steady_clock::time_point held_since_;
  bool ok_ = true, stopping_ = false;
  std::thread watchdog_;
};

const char* type_name(mode_t mode);
const char* dtype_name(unsigned char type);
nlohmann::json stat_result(const struct stat& st);

}  // namespace fusecheck::actor
