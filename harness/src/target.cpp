// Target profiles and mounts (see target.hpp): spawning FUSE daemons, readiness from
// /proc/self/mountinfo, teardown that cannot leave a stale mount, and the state records
// that let a later run clear what a SIGKILLed run left behind.
#include "fusecheck/target.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Boost.Process/Asio headers: Boost 1.74 needs std::exchange
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <deque>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fusecheck/actor.hpp"

namespace bp = boost::process;
namespace fs = std::filesystem;
using nlohmann::json;

namespace fusecheck {
namespace {

std::mutex state_mutex;

std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

struct MountInfoLine {
  unsigned major = 0, minor = 0;
  std::string mountpoint, fstype, super_options;
};

std::optional<MountInfoLine> find_mount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<MountInfoLine> found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountpoint;
    fields >> id >> parent >> devno >> root >> mountpoint;
    if (unescape_mountinfo(mountpoint) != path) continue;
    MountInfoLine info;
    info.mountpoint = path;
    std::sscanf(devno.c_str(), "%u:%u", &info.major, &info.minor);
    std::string word;
    while (fields >> word && word != "-") {
    }
    std::string source;
    fields >> info.fstype >> source >> info.super_options;
    found = info;  // the last line wins: that is the mount on top
  }
  return found;
}

unsigned long long process_start_time(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(content.substr(close + 2));
  std::string value;
  for (int field = 3; field <= 22 && fields >> value; ++field)
    if (field == 22) return std::stoull(value);
  return 0;
}

bool write_abort(unsigned conn) {
  std::ofstream abort_file(fmt::format("/sys/fs/fuse/connections/{}/abort", conn));
  if (!abort_file) return false;
  abort_file << "1";
  return static_cast<bool>(abort_file);
}

// /sys/fs/fuse/connections is where a hung FUSE connection is aborted; mount it if the
// system has not (containers often do not).
void ensure_fusectl() {
  if (find_mount("/sys/fs/fuse/connections")) return;
  ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);
}

std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

}  // namespace

std::optional<std::pair<unsigned, unsigned>> mounted_device(const std::string& path) {
  auto info = find_mount(path);
  if (!info) return std::nullopt;
  return std::make_pair(info->major, info->minor);
}

std::string mount_fstype(const std::string& path) {
  // The filesystem holding `path`: the longest mountpoint prefix in mountinfo.
  std::ifstream in("/proc/self/mountinfo");
  std::string line, best_type;
  size_t best_length = 0;
  std::string canonical = fs::weakly_canonical(path).string();
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountpoint, word, fstype;
    fields >> id >> parent >> devno >> root >> mountpoint;
    mountpoint = unescape_mountinfo(mountpoint);
    while (fields >> word && word != "-") {
    }
    fields >> fstype;
    bool prefix = canonical == mountpoint || mountpoint == "/" ||
                  (canonical.rfind(mountpoint, 0) == 0 && canonical[mountpoint.size()] == '/');
    if (prefix && mountpoint.size() >= best_length) {
      best_length = mountpoint.size();
      best_type = fstype;
    }
  }
  return best_type;
}

std::string mount_super_options(const std::string& path) {
  auto info = find_mount(path);
  return info ? info->super_options : "";
}

std::string TargetSpec::fs_name() const {
  if (kind == Kind::memfs) return "memfs";
  if (kind == Kind::exec) {
    std::istringstream words(command);
    std::string program;
    words >> program;
    return fs::path(program).filename().string();
  }
  std::string type = mount_fstype(path);
  return type.empty() ? "dir" : type;
}

TargetSpec parse_target(const std::string& text, bool exclusive) {
  TargetSpec spec;
  spec.text = text;
  spec.exclusive = exclusive;
  if (text == "memfs") {
    spec.kind = TargetSpec::Kind::memfs;
    spec.command = executable_dir() + "/fusecheck-memfs";
    if (::access(spec.command.c_str(), X_OK) != 0)
      throw TargetError(fmt::format("--fs memfs: {} not found (build the fusecheck-memfs target)", spec.command), 77);
  } else if (text.rfind("exec:", 0) == 0) {
    spec.kind = TargetSpec::Kind::exec;
    spec.command = text.substr(5);
    if (spec.command.find("{mnt}") == std::string::npos)
      throw TargetError(fmt::format("--fs {}: the command must contain {{mnt}} where the mountpoint goes", text), 2);
  } else if (text.rfind("dir:", 0) == 0) {
    spec.kind = TargetSpec::Kind::dir;
    spec.path = text.substr(4);
    std::error_code ec;
    if (spec.path.empty() || !fs::is_directory(spec.path, ec))
      throw TargetError(fmt::format("--fs {}: '{}' is not a directory", text, spec.path), 77);
    spec.path = fs::canonical(spec.path).string();
  } else {
    throw TargetError(fmt::format("--fs '{}': expected memfs, exec:'CMD {{mnt}}' or dir:PATH", text), 2);
  }
  if (spec.is_fuse()) {
    if (::access("/dev/fuse", R_OK | W_OK) != 0)
      throw TargetError(fmt::format("--fs {}: /dev/fuse is not available here", text), 77);
  }
  return spec;
}

void Features::set(const std::string& feature, bool present, const std::string& why_not) {
  if (present) {
    have.insert(feature);
    missing.erase(feature);
  } else {
    have.erase(feature);
    missing[feature] = why_not;
  }
}

// ---------------------------------------------------------------- state records

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
  for (auto& entry : entries_)
    if (entry.mountpoint == mountpoint && entry.tmpdir == tmpdir) {
      entry.daemon_pid = daemon_pid;
      entry.daemon_start = daemon_pid > 0 ? process_start_time(daemon_pid) : 0;
      entry.conn = conn;
      write();
      return;
    }
  entries_.push_back(Entry{mountpoint, tmpdir, daemon_pid, daemon_pid > 0 ? process_start_time(daemon_pid) : 0, conn});
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
    if (pid > 0 && ::kill(pid, 0) == 0 && process_start_time(pid) == record.value("start", 0ULL)) continue;  // alive
    for (const auto& mount : record.value("mounts", json::array())) {
      std::string mountpoint = mount.value("mountpoint", "");
      std::string tmpdir = mount.value("tmpdir", "");
      int daemon = mount.value("daemon_pid", 0);
      if (!mountpoint.empty() && find_mount(mountpoint)) {
        unsigned conn = mount.value("conn", 0u);
        if (conn != 0) {
          ensure_fusectl();
          write_abort(conn);
        }
        ::umount2(mountpoint.c_str(), MNT_DETACH);
        actions.push_back(fmt::format("cleared stale mount {} left by fusecheck pid {}", mountpoint, pid));
      }
      if (daemon > 0 && ::kill(daemon, 0) == 0 && process_start_time(daemon) == mount.value("daemon_start", 0ULL)) {
        ::kill(daemon, SIGKILL);
        actions.push_back(fmt::format("killed leftover filesystem daemon pid {}", daemon));
      }
      if (!tmpdir.empty() && fs::exists(tmpdir, ec) && !(mountpoint.size() && find_mount(mountpoint))) {
        fs::remove_all(tmpdir, ec);
        actions.push_back(fmt::format("removed leftover directory {}", tmpdir));
      }
    }
    fs::remove(file.path(), ec);
  }
  return actions;
}

// ---------------------------------------------------------------- mounts

int Mount::daemon_pid() const { return daemon_ ? daemon_->id() : -1; }

std::unique_ptr<Mount> Mount::create(const TargetSpec& spec, const std::vector<std::string>& options,
                                     double ready_timeout) {
  std::unique_ptr<Mount> mount(new Mount());
  mount->spec_ = spec;
  bool root = ::geteuid() == 0;
  Features& features = mount->features_;
  features.set("root", root, "the harness does not run as root");
  features.set("fuse", spec.is_fuse(), "the target is not a FUSE filesystem");
  features.set("mount_options", spec.is_fuse(), "a dir: target takes no mount options");

  if (spec.kind == TargetSpec::Kind::dir) {
    char name[] = "fusecheck-XXXXXX";
    std::string base = spec.path + "/.";
    std::string templ = base + name;
    std::vector<char> buffer(templ.begin(), templ.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
      throw std::runtime_error(fmt::format("cannot create a work directory in {}: {}", spec.path, strerror(errno)));
    mount->root_ = buffer.data();
    ::chmod(mount->root_.c_str(), 0755);
    mount->owns_root_dir_ = true;
    mount->tmpdir_ = mount->root_;
    struct stat root_stat {};
    if (::stat(mount->root_.c_str(), &root_stat) == 0) mount->device_ = root_stat.st_dev;
    StateRecord::instance().add("", mount->root_, 0, 0);
    features.set("other_users", root, "the harness does not run as root");
    features.set("default_permissions", true);
    features.set("exclusive_statfs", spec.exclusive, "a dir: target may be changed by others (use --exclusive)");
    return mount;
  }

  char templ[] = "/tmp/fusecheck-XXXXXX";
  if (::mkdtemp(templ) == nullptr) throw std::runtime_error(fmt::format("cannot create a temp dir: {}", strerror(errno)));
  mount->tmpdir_ = templ;
  ::chmod(templ, 0755);  // actors with other uids must traverse it to reach the mount
  mount->mountpoint_ = mount->tmpdir_ + "/mnt";
  mount->root_ = mount->mountpoint_;
  mount->log_path_ = mount->tmpdir_ + "/daemon.log";
  std::string source = mount->tmpdir_ + "/src";
  ::mkdir(mount->mountpoint_.c_str(), 0755);
  ::mkdir(source.c_str(), 0755);
  ensure_fusectl();

  std::vector<std::string> all_options;
  if (root) all_options.push_back("allow_other");
  all_options.insert(all_options.end(), options.begin(), options.end());
  std::string joined;
  for (const auto& option : all_options) joined += (joined.empty() ? "" : ",") + option;

  std::vector<std::string> argv;
  std::string program;
  if (spec.kind == TargetSpec::Kind::memfs) {
    program = spec.command;
    argv = {mount->mountpoint_};
    if (!joined.empty()) argv.insert(argv.end(), {"-o", joined});
  } else {
    std::string command = replace_all(spec.command, "{mnt}", shell_quote(mount->mountpoint_));
    command = replace_all(command, "{src}", shell_quote(source));
    std::string opts = joined.empty() ? "" : "-o " + shell_quote(joined);
    if (command.find("{opts}") != std::string::npos) command = replace_all(command, "{opts}", opts);
    else if (!opts.empty()) command += " " + opts;
    program = "/bin/sh";
    argv = {"-c", "exec " + command};
  }

  // Record before starting, so that even a SIGKILL while waiting leaves a trace.
  StateRecord::instance().add(mount->mountpoint_, mount->tmpdir_, 0, 0);
  try {
    std::lock_guard lock(spawn_mutex());
    mount->daemon_ = std::make_unique<bp::child>(
        program, bp::args(argv), (bp::std_out & bp::std_err) > mount->log_path_, bp::std_in < bp::null,
        bp::extend::on_exec_setup([](auto&) {
          reset_signals_for_child();
          ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the harness, which unmounts in order
          ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        }));
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format("cannot start {}: {}", program, error.what()));
  }
  StateRecord::instance().add(mount->mountpoint_, mount->tmpdir_, mount->daemon_->id(), 0);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(ready_timeout);
  for (;;) {
    if (auto device = mounted_device(mount->mountpoint_)) {
      mount->conn_ = device->first == 0 ? device->second : static_cast<unsigned>(makedev(device->first, device->second));
      mount->device_ = makedev(device->first, device->second);
      break;
    }
    std::error_code ec;
    if (!mount->daemon_->running(ec)) {
      int status = mount->daemon_->native_exit_code();
      std::string hint = WIFEXITED(status) && WEXITSTATUS(status) == 0
                             ? " (the daemon must stay in the foreground: give it -f)" : "";
      std::string message = fmt::format("{} {} before mounting {}{}; its output:\n{}", spec.text,
                                        describe_wait_status(status), mount->mountpoint_, hint,
                                        mount->daemon_log_tail());
      throw std::runtime_error(message);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(fmt::format("{} did not mount {} within {} s; its output:\n{}", spec.text,
                                           mount->mountpoint_, ready_timeout, mount->daemon_log_tail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  StateRecord::instance().add(mount->mountpoint_, mount->tmpdir_, mount->daemon_->id(), mount->conn_);

  std::string super = "," + mount_super_options(mount->mountpoint_) + ",";
  bool allow_other = super.find(",allow_other,") != std::string::npos;
  features.set("other_users", allow_other && root,
               root ? "the FUSE mount lacks allow_other" : "the harness does not run as root");
  features.set("default_permissions", super.find(",default_permissions,") != std::string::npos,
               "the FUSE mount lacks default_permissions (the daemon checks permissions itself)");
  features.set("exclusive_statfs", true);
  return mount;
}

bool Mount::healthy(std::string& why) {
  if (!spec_.is_fuse()) return true;
  std::error_code ec;
  if (aborted_) {
    why = fmt::format("the FUSE connection {} was aborted", conn_);
    return false;
  }
  if (daemon_ && !daemon_->running(ec)) {
    int status = daemon_->native_exit_code();
    std::string hint = WIFEXITED(status) && WEXITSTATUS(status) == 0
                           ? " (if it went to the background, run it in the foreground: -f)" : "";
    why = fmt::format("the filesystem daemon {}{}; its output ends:\n{}", describe_wait_status(status), hint,
                      daemon_log_tail());
    return false;
  }
  if (!mounted_device(mountpoint_)) {
    why = fmt::format("the mount at {} disappeared; the daemon's output ends:\n{}", mountpoint_, daemon_log_tail());
    return false;
  }
  return true;
}

bool Mount::daemon_running() const {
  std::error_code ec;
  return daemon_ && daemon_->running(ec);
}

void Mount::abort_connection(const std::string&) {
  if (!spec_.is_fuse() || aborted_) return;
  aborted_ = true;
  ensure_fusectl();
  if (conn_ != 0) write_abort(conn_);
}

std::string Mount::daemon_log_tail(size_t lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& kept : tail) out += "    | " + kept + "\n";
  return out.empty() ? "    | (no output)\n" : out;
}

Mount::~Mount() { teardown(); }

void Mount::teardown() {
  std::error_code ec;
  if (!spec_.is_fuse()) {
    if (owns_root_dir_) fs::remove_all(root_, ec);
    StateRecord::instance().remove(root_);
    return;
  }
  auto wait_until = [](auto done, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  };
  auto daemon_gone = [this] {
    std::error_code error;
    return !daemon_ || !daemon_->running(error);
  };
  auto unmounted = [this] { return !mounted_device(mountpoint_).has_value(); };

  if (!unmounted()) {
    if (aborted_ || daemon_gone()) {
      ::umount2(mountpoint_.c_str(), MNT_DETACH);
    } else if (::umount2(mountpoint_.c_str(), 0) != 0) {
      // Busy (a stuck process) or not answering: abort, then detach.
      abort_connection("unmount failed");
      ::umount2(mountpoint_.c_str(), MNT_DETACH);
    }
  }
  if (!wait_until(daemon_gone, std::chrono::milliseconds(3000))) {
    if (daemon_) ::kill(daemon_->id(), SIGTERM);
    if (!wait_until(daemon_gone, std::chrono::milliseconds(1000)) && daemon_) {
      ::kill(daemon_->id(), SIGKILL);
      wait_until(daemon_gone, std::chrono::milliseconds(1000));
    }
  }
  if (!unmounted()) {
    abort_connection("still mounted after the daemon ended");
    ::umount2(mountpoint_.c_str(), MNT_DETACH);
  }
  if (daemon_) daemon_->detach();  // reaped above, or unkillable: never block in ~child
  if (unmounted()) {
    fs::remove_all(tmpdir_, ec);
    StateRecord::instance().remove(mountpoint_);
  }
}

}  // namespace fusecheck
