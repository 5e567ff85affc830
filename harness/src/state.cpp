// State records (see state.hpp): one JSON file per running fusecheck process, written
// atomically, naming its mounts, their daemons and temp dirs.
#include "fusecheck/state.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fusecheck/mountinfo.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fusecheck {
namespace {

std::mutex state_mutex;

void clear_mount(const std::string& mountpoint, unsigned conn) {
  if (conn != 0) abort_fuse_connection(conn);
  ::umount2(mountpoint.c_str(), MNT_DETACH);
}

}  // namespace

StateRecord& StateRecord::instance() {
  static StateRecord record;
  return record;
}

std::string StateRecord::dir() const {
  if (const char* override_dir = std::getenv("FUSECHECK_STATE_DIR")) return override_dir;
  return ::geteuid() == 0 ? "/run/fusecheck" : fmt::format("/tmp/fusecheck-state-{}", ::geteuid());
}

void StateRecord::write() {
  std::error_code ec;
  fs::create_directories(dir(), ec);
  std::string path = fmt::format("{}/{}.json", dir(), ::getpid());
  if (entries_.empty()) {
    fs::remove(path, ec);
    return;
  }
  json record{{"pid", ::getpid()}, {"start", process_start_time(::getpid())}, {"mounts", json::array()}};
  for (const auto& entry : entries_)
    record["mounts"].push_back({{"mountpoint", entry.mountpoint}, {"tmpdir", entry.tmpdir},
                                {"daemon_pid", entry.daemon_pid}, {"daemon_start", entry.daemon_start},
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
  std::vector<std::string> actions;
  std::error_code ec;
  if (!fs::is_directory(dir(), ec)) return actions;
  for (const auto& file : fs::directory_iterator(dir(), ec)) {
    if (file.path().extension() != ".json") continue;
    json record;
    try {
      std::ifstream in(file.path());
      record = json::parse(in);
    } catch (const std::exception&) {
      fs::remove(file.path(), ec);
      continue;
    }
    int pid = record.value("pid", 0);
    if (pid == ::getpid()) continue;
    if (process_alive(pid, record.value("start", 0ULL))) continue;
    for (const auto& mount : record.value("mounts", json::array())) {
      std::string mountpoint = mount.value("mountpoint", "");
      std::string tmpdir = mount.value("tmpdir", "");
      int daemon = mount.value("daemon_pid", 0);
      if (!mountpoint.empty() && mount_at(mountpoint)) {
        clear_mount(mountpoint, mount.value("conn", 0u));
        actions.push_back(fmt::format("cleared stale mount {} left by fusecheck pid {}", mountpoint, pid));
      }
      if (process_alive(daemon, mount.value("daemon_start", 0ULL))) {
        ::kill(daemon, SIGKILL);
        actions.push_back(fmt::format("killed leftover filesystem daemon pid {}", daemon));
      }
      if (!tmpdir.empty() && fs::exists(tmpdir, ec) && !(mountpoint.size() && mount_at(mountpoint))) {
        fs::remove_all(tmpdir, ec);
        actions.push_back(fmt::format("removed leftover directory {}", tmpdir));
      }
    }
    fs::remove(file.path(), ec);
  }
  return actions;
}

}  // namespace fusecheck
