// State records (see state.hpp): one JSON file per running fusecheck process, written
// atomically, naming its mounts, their daemons and temp dirs.
#include "fusecheck/state.hpp"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fusecheck/errors.hpp"
#include "fusepp/fuse_connection.hpp"
#include "fusepp/mountinfo.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fusecheck {
namespace {

std::mutex state_mutex;

void clear_mount(const std::string& mountpoint, unsigned conn) {
  if (conn != 0) fusepp::abort_connection(std::to_string(conn));
  ::umount2(mountpoint.c_str(), MNT_DETACH);
}

// NAME-XXXXXX as mkdtemp makes it from "NAME-XXXXXX".
bool is_temp_name(const std::string& name, const std::string& prefix) {
  if (name.size() != prefix.size() + 6 || name.rfind(prefix, 0) != 0) return false;
  return std::all_of(name.begin() + static_cast<long>(prefix.size()), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// Only what fusecheck itself makes: /tmp/fusecheck-XXXXXX with its mnt/ for FUSE mounts, and
// DIR/.fusecheck-XXXXXX for dir: targets (then without a mountpoint).
bool names_our_own_paths(const std::string& mountpoint, const std::string& tmpdir) {
  fs::path dir(tmpdir);
  if (!dir.is_absolute() || dir.lexically_normal() != dir) return false;
  std::string name = dir.filename().string();
  if (mountpoint.empty()) return is_temp_name(name, ".fusecheck-");
  return dir.parent_path() == "/tmp" && is_temp_name(name, "fusecheck-") && mountpoint == tmpdir + "/mnt";
}

// A record file is believed only if this user wrote it: a regular file (not a link) we own.
bool owned_by_us(const fs::path& file) {
  struct stat info {};
  return ::lstat(file.c_str(), &info) == 0 && S_ISREG(info.st_mode) && info.st_uid == ::geteuid();
}

// The state dir, created 0700 if missing. One of ours that others may read or write is
// tightened to 0700 (older versions made it 0755); one that is not ours is refused.
void check_state_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw HarnessError(fmt::format("cannot create the state dir {}: {}", dir, strerror(errno)), exit_code::cannot_run);
  struct stat info {};
  std::string problem;
  if (::lstat(dir.c_str(), &info) != 0)
    problem = strerror(errno);
  else if (!S_ISDIR(info.st_mode))
    problem = "it is not a directory";
  else if (info.st_uid != ::geteuid())
    problem = fmt::format("it belongs to uid {}, not {}", info.st_uid, ::geteuid());
  else if ((info.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    problem = fmt::format("its mode is {:04o} and chmod 0700 failed: {}", info.st_mode & 07777, strerror(errno));
  if (!problem.empty())
    throw HarnessError(
        fmt::format("refusing the state dir {}: {} (remove it, or set FUSECHECK_STATE_DIR)", dir, problem),
        exit_code::cannot_run);
}

}  // namespace

StateRecord& StateRecord::instance() {
  static StateRecord record;
  return record;
}

std::string StateRecord::dir() const {
  if (const char* override_dir = std::getenv("FUSECHECK_STATE_DIR")) return override_dir;
  if (::geteuid() == 0) return "/run/fusecheck";
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
    return std::string(runtime) + "/fusecheck";
  return fmt::format("/tmp/fusecheck-state-{}", ::geteuid());
}

void StateRecord::write() {
  std::error_code ec;
  try {
    check_state_dir(dir());
  } catch (const HarnessError&) {
    return;  // clear_stale() refused it at the start of the run, with the reason
  }
  std::string path = fmt::format("{}/{}.json", dir(), ::getpid());
  if (entries_.empty()) {
    fs::remove(path, ec);
    return;
  }
  json record{{"pid", ::getpid()}, {"start", process_start_time(::getpid())}, {"mounts", json::array()}};
  for (const auto& entry : entries_)
    record["mounts"].push_back({{"mountpoint", entry.mountpoint},
                                {"tmpdir", entry.tmpdir},
                                {"daemon_pid", entry.daemon_pid},
                                {"daemon_start", entry.daemon_start},
                                {"conn", entry.conn}});
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp);
    out << record.dump(1);
  }
  fs::rename(temp, path, ec);
}

void StateRecord::add(const std::string& mountpoint, const std::string& tmpdir, int daemon_pid, unsigned conn) {
  std::lock_guard lock(state_mutex);
  unsigned long long start = daemon_pid > 0 ? process_start_time(daemon_pid) : 0;
  for (auto& entry : entries_)
    if (entry.mountpoint == mountpoint && entry.tmpdir == tmpdir) {
      entry.daemon_pid = daemon_pid;
      entry.daemon_start = start;
      entry.conn = conn;
      write();
      return;
    }
  entries_.push_back(Entry{mountpoint, tmpdir, daemon_pid, start, conn});
  write();
}

void StateRecord::remove(const std::string& key) {
  std::lock_guard lock(state_mutex);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.mountpoint == key || entry.tmpdir == key; });
  write();
}

std::vector<std::string> StateRecord::clear_stale() {
  std::lock_guard lock(state_mutex);
  check_state_dir(dir());
  std::vector<std::string> actions;
  std::error_code ec;
  for (const auto& file : fs::directory_iterator(dir(), ec)) {
    if (file.path().extension() != ".json") continue;
    if (!owned_by_us(file.path())) {
      actions.push_back(fmt::format("ignored {}: not a file of this user", file.path().string()));
      continue;
    }
    json record;
    try {
      std::ifstream in(file.path());
      record = json::parse(in);
    } catch (const std::exception&) {
      fs::remove(file.path(), ec);
      continue;
    }
    int pid = record.value("pid", 0);
    if (pid == ::getpid() || file.path().stem() != std::to_string(pid)) continue;
    if (process_alive(pid, record.value("start", 0ULL))) continue;
    for (const auto& mount : record.value("mounts", json::array())) clear_leftovers(mount, pid, actions);
    fs::remove(file.path(), ec);
  }
  return actions;
}

void StateRecord::clear_leftovers(const nlohmann::json& mount, int pid, std::vector<std::string>& actions) {
  std::string mountpoint = mount.value("mountpoint", "");
  std::string tmpdir = mount.value("tmpdir", "");
  if (!names_our_own_paths(mountpoint, tmpdir)) {
    actions.push_back(
        fmt::format("ignored a record of pid {} naming {} {}: not fusecheck's own temp dir", pid, mountpoint, tmpdir));
    return;
  }
  if (!mountpoint.empty() && fusepp::mount_at(mountpoint)) {
    clear_mount(mountpoint, mount.value("conn", 0u));
    actions.push_back(fmt::format("cleared stale mount {} left by fusecheck pid {}", mountpoint, pid));
  }
  // Its daemon, if that very process (same start time) still runs as this user.
  int daemon = mount.value("daemon_pid", 0);
  if (process_alive(daemon, mount.value("daemon_start", 0ULL)) &&
      process_uid(daemon) == static_cast<long>(::geteuid())) {
    ::kill(-daemon, SIGKILL);  // its process group: a wrapper script's children too
    ::kill(daemon, SIGKILL);
    actions.push_back(fmt::format("killed leftover filesystem daemon pid {}", daemon));
  }
  std::error_code ec;
  // An exec: target's private {src} tmpfs (fuse_mount.cpp), once its daemon is gone.
  if (!mountpoint.empty() && fusepp::mount_at(tmpdir + "/src") && ::umount2((tmpdir + "/src").c_str(), MNT_DETACH) == 0)
    actions.push_back(fmt::format("unmounted the backing tmpfs {}/src left by fusecheck pid {}", tmpdir, pid));
  if (fs::exists(tmpdir, ec) && !(mountpoint.size() && fusepp::mount_at(mountpoint))) {
    fs::remove_all(tmpdir, ec);
    actions.push_back(fmt::format("removed leftover directory {}", tmpdir));
  }
}

}  // namespace fusecheck
