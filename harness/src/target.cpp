// Target kinds (see target.hpp): one TargetDriver per kind of --fs value, the directory
// mount of dir: targets, and parse_target's table of kinds. FUSE mounts: fuse_mount.cpp.
#include "fusecheck/target.hpp"

#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <sstream>

#include "fuse_mount.hpp"
#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/deadlines.hpp"
#include "fusepp/mountinfo.hpp"
#include "fusecheck/state.hpp"
#include "fusecheck/text.hpp"

namespace fs = std::filesystem;

namespace fusecheck {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// fusermount3 as libfuse finds it: in /usr/bin (its build's default), else on PATH.
std::optional<std::string> find_fusermount() {
  std::vector<std::string> candidates{"/usr/bin/fusermount3", "/bin/fusermount3"};
  std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "");
  for (std::string dir; std::getline(path, dir, ':');)
    if (!dir.empty()) candidates.push_back(dir + "/fusermount3");
  for (const auto& candidate : candidates)
    if (::access(candidate.c_str(), F_OK) == 0) return candidate;
  return std::nullopt;
}

// Whether root here can mount: mount(2) needs CAP_SYS_ADMIN, which a container drops by
// default; setuid fusermount3 gets it back only if the bounding set still has it.
bool root_can_mount() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return true;  // cannot tell: the mount will say
  if (data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) return true;
  return ::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) == 1 && find_fusermount();
}

// Preflight for FUSE targets: what stops every mount is said once, with its fix, before any
// test (exit 77). Root opens /dev/fuse itself; others mount through setuid fusermount3.
void require_fuse(const std::string& text) {
  auto refuse = [&](const std::string& why) {
    throw HarnessError(fmt::format("--fs {}: {}", text, why), exit_code::cannot_run);
  };
  struct stat device {};
  if (::stat("/dev/fuse", &device) != 0 || !S_ISCHR(device.st_mode))
    refuse(
        "/dev/fuse does not exist: load the module (modprobe fuse); in a container, pass the device "
        "(docker run --device /dev/fuse --cap-add SYS_ADMIN)");
  // libfuse opens /dev/fuse itself before it tries fusermount3, for root and others alike.
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    if (::geteuid() == 0)
      refuse(fmt::format("cannot open /dev/fuse: {} (in a container: --device /dev/fuse)", strerror(errno)));
    refuse(
        fmt::format("this user cannot open /dev/fuse (mode {:04o}, uid {}): chmod 0666 /dev/fuse as root (most "
                    "systems' default), or run fusecheck as root",
                    device.st_mode & 07777, device.st_uid));
  }
  if (::geteuid() == 0) {
    if (!root_can_mount())
      refuse("root here lacks CAP_SYS_ADMIN, which mounting needs: in a container, docker run --cap-add SYS_ADMIN");
    return;
  }
  auto fusermount = find_fusermount();
  if (!fusermount) refuse("fusermount3 is not installed, and only it lets a non-root user mount: apt install fuse3");
  struct stat helper {};
  if (::stat(fusermount->c_str(), &helper) != 0 || helper.st_uid != 0 || (helper.st_mode & S_ISUID) == 0)
    refuse(
        fmt::format("{} is not setuid root, so this user cannot mount: chmod u+s {} as root, or run fusecheck as root",
                    *fusermount, *fusermount));
}

// memfs, the reference filesystem, started from the harness's own build directory.
class MemfsDriver : public TargetDriver {
 public:
  explicit MemfsDriver(const std::string& text) : program_(helper_executable("fusecheck-memfs")) {
    if (::access(program_.c_str(), X_OK) != 0)
      throw HarnessError(fmt::format("--fs memfs: {} not found (build the fusecheck-memfs target)", program_),
                         exit_code::cannot_run);
    require_fuse(text);
  }
  bool is_fuse() const override { return true; }
  std::optional<std::string> default_expectations() const override { return "memfs"; }
  std::unique_ptr<Mount> mount(const TargetSpec& spec, const std::vector<std::string>& options,
                               std::chrono::milliseconds ready, bool control) const override {
    return FuseMount::start(spec, options, ready, [&](const FuseLayout& where, const std::string& joined) {
      DaemonCommand command{program_, {where.mountpoint}};
      if (!joined.empty()) command.argv.insert(command.argv.end(), {"-o", joined});
      if (control) command.argv.insert(command.argv.end(), {"--control", where.control});
      command.offers_control = control;
      return command;
    });
  }

 private:
  std::string program_;
};

// Any FUSE daemon, as a shell command template with {mnt}, {src} and {opts}.
class ExecDriver : public TargetDriver {
 public:
  ExecDriver(const std::string& text, std::string command) : template_(std::move(command)) {
    if (template_.find("{mnt}") == std::string::npos)
      throw HarnessError(fmt::format("--fs {}: the command must contain {{mnt}} where the mountpoint goes", text),
                         exit_code::usage);
    require_fuse(text);
  }
  bool is_fuse() const override { return true; }
  // A program's name says nothing about its behaviour (a port of pyfuse3's tmpfs.py is no
  // tmpfs): an exec: target gets expectations only from --expectations.
  std::optional<std::string> default_expectations() const override { return std::nullopt; }
  bool uses_source() const override { return template_.find("{src}") != std::string::npos; }
  // A daemon that offers a control channel (any fusepp daemon may) takes its socket's path
  // where the command says {control}; it then always has one.
  std::unique_ptr<Mount> mount(const TargetSpec& spec, const std::vector<std::string>& options,
                               std::chrono::milliseconds ready, bool) const override {
    return FuseMount::start(spec, options, ready, [&](const FuseLayout& where, const std::string& joined) {
      std::string command = replace_all(template_, "{mnt}", shell_quote(where.mountpoint));
      command = replace_all(command, "{src}", shell_quote(where.source));
      bool offers_control = command.find("{control}") != std::string::npos;
      command = replace_all(command, "{control}", shell_quote(where.control));
      std::string opts = joined.empty() ? "" : "-o " + shell_quote(joined);
      if (command.find("{opts}") != std::string::npos)
        command = replace_all(command, "{opts}", opts);
      else if (!opts.empty())
        command += " " + opts;
      return DaemonCommand{"/bin/sh", {"-c", "exec " + command}, offers_control};
    });
  }

 private:
  std::string template_;
};

// A directory: the harness tests the filesystem it is on, in a per-run subdirectory.
class DirMount : public Mount {
 public:
  DirMount(const TargetSpec& spec, const std::string& directory) : Mount(spec) {
    std::string templ = directory + "/.fusecheck-XXXXXX";
    std::vector<char> buffer(templ.begin(), templ.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
      throw HarnessError(fmt::format("cannot create a work directory in {}: {}", directory, strerror(errno)));
    root_ = buffer.data();
    ::chmod(root_.c_str(), 0755);
    struct stat root_stat {};
    if (::stat(root_.c_str(), &root_stat) == 0) device_ = root_stat.st_dev;
    StateRecord::instance().add("", root_, 0, 0);
    bool root = ::geteuid() == 0;
    features_.set("root", root, "the harness does not run as root");
    features_.set("fuse", false, "the target is not a FUSE filesystem");
    features_.set("mount_options", false, "a dir: target takes no mount options");
    features_.set("other_users", root, "the harness does not run as root");
    features_.set("default_permissions", true);
    features_.set("exclusive_statfs", spec.exclusive, "a dir: target may be changed by others (use --exclusive)");
  }
  ~DirMount() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
    StateRecord::instance().remove(root_);
  }
};

class DirDriver : public TargetDriver {
 public:
  DirDriver(const std::string& text, const std::string& path) {
    std::error_code ec;
    if (path.empty() || !fs::exists(path, ec))
      throw HarnessError(fmt::format("--fs {}: '{}' does not exist", text, path), exit_code::cannot_run);
    if (!fs::is_directory(path, ec))
      throw HarnessError(fmt::format("--fs {}: '{}' is not a directory", text, path), exit_code::usage);
    path_ = fs::canonical(path).string();
  }
  bool is_fuse() const override { return false; }
  // A kernel filesystem behaves as its type does (expectations/tmpfs.yaml on a tmpfs); a
  // FUSE mount's type names only its daemon.
  std::optional<std::string> default_expectations() const override {
    auto holder = fusepp::mount_holding(path_);
    if (!holder || holder->fstype.empty() || holder->fstype.rfind("fuse", 0) == 0) return std::nullopt;
    return holder->fstype;
  }
  std::unique_ptr<Mount> mount(const TargetSpec& spec, const std::vector<std::string>&, std::chrono::milliseconds,
                               bool) const override {
    return std::make_unique<DirMount>(spec, path_);
  }

 private:
  std::string path_;
};

// The kinds --fs knows: a prefix ("" = the whole value) and how to make its driver.
struct TargetKind {
  const char* prefix;
  bool whole_value;
  std::function<std::shared_ptr<const TargetDriver>(const std::string& text, const std::string& rest)> make;
};

const std::array<TargetKind, 3>& target_kinds() {
  static const std::array<TargetKind, 3> kinds{{
      {"memfs", true, [](const std::string& text, const std::string&) { return std::make_shared<MemfsDriver>(text); }},
      {"exec:", false,
       [](const std::string& text, const std::string& rest) { return std::make_shared<ExecDriver>(text, rest); }},
      {"dir:", false,
       [](const std::string& text, const std::string& rest) { return std::make_shared<DirDriver>(text, rest); }},
  }};
  return kinds;
}

}  // namespace

TargetSpec parse_target(const std::string& text, bool exclusive) {
  TargetSpec spec;
  spec.text = text;
  spec.exclusive = exclusive;
  for (const auto& kind : target_kinds()) {
    bool matches = kind.whole_value ? text == kind.prefix : text.rfind(kind.prefix, 0) == 0;
    if (!matches) continue;
    spec.driver = kind.make(text, kind.whole_value ? "" : text.substr(strlen(kind.prefix)));
    return spec;
  }
  throw HarnessError(fmt::format("--fs '{}': expected memfs, exec:'CMD {{mnt}}' or dir:PATH", text), exit_code::usage);
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

std::unique_ptr<Mount> Mount::create(const TargetSpec& spec, const std::vector<std::string>& options,
                                     std::chrono::milliseconds ready_timeout, bool control) {
  if (!spec.driver) throw HarnessError("no target given", exit_code::usage);
  return spec.driver->mount(spec, options, ready_timeout, control);
}

std::unique_ptr<Mount> Mount::create(const TargetSpec& spec, const std::vector<std::string>& options, bool control) {
  return create(spec, options, deadline::mount_ready, control);
}

std::string Mount::daemon_log_tail(size_t) const { return ""; }

}  // namespace fusecheck
