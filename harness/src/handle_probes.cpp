// The probes of the `handles` features (handle_probes.hpp). Locks and copies work on files of
// their own; every probe says what the call returned when it fails.
#include "handle_probes.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include "fusecheck/ops.hpp"

namespace fusecheck {

using nlohmann::json;

namespace {

constexpr unsigned kStatxBtime = 0x800;

struct Prober {
  const ProbeChannel& actor;
  const std::string& dir;
  Features& features;

  std::string at(const std::string& name) const { return dir + "/" + name; }

  ActorProcess::Reply open(const std::string& name, const std::string& fd) const {
    return actor.call(
        make_request("open", {{"path", at(name)}, {"flags", O_CREAT | O_RDWR}, {"mode", 0644}, {"fd", fd}}));
  }

  // Runs the calls in order; the feature is present when all succeed, else the first failure
  // is the reason.
  void all(const std::string& feature, std::initializer_list<std::pair<const char*, json>> calls) const {
    for (const auto& [what, request] : calls) {
      auto reply = actor.call(request);
      if (!actor.ok(reply)) return features.set(feature, false, fmt::format("{} returned {}", what, actor.text(reply)));
    }
    features.set(feature, true);
  }

  void locks() const {
    open("lock", "lk");
    // Process-owned and OFD locks conflict with each other, hence distinct ranges.
    all("locks", {{"fcntl F_SETLK",
                   make_request("fcntl_lock",
                                {{"fd", "lk"}, {"cmd", "F_SETLK"}, {"type", "F_WRLCK"}, {"start", 0}, {"len", 1}})},
                  {"fcntl F_OFD_SETLK",
                   make_request("fcntl_lock",
                                {{"fd", "lk"}, {"cmd", "F_OFD_SETLK"}, {"type", "F_WRLCK"}, {"start", 8}, {"len", 1}})},
                  {"flock", make_request("flock", {{"fd", "lk"}, {"operation", LOCK_EX | LOCK_NB}})}});
    actor.call(make_request("close", {{"fd", "lk"}}));
  }

  void copy_file_range() const {
    open("copy-from", "cf");
    open("copy-to", "ct");
    actor.call(make_request("write", {{"fd", "cf"}, {"data", "31"}}));
    all("copy_file_range",
        {{"copy_file_range",
          make_request("copy_file_range",
                       {{"fd_in", "cf"}, {"off_in", 0}, {"fd_out", "ct"}, {"off_out", 0}, {"len", 1}})}});
  }

  // open_by_handle_at finds the mount through the actor's working directory, as in a test.
  void file_handles() const {
    actor.call({{"op", "chdir"}, {"path", dir}});
    all("file_handles",
        {{"name_to_handle_at", make_request("name_to_handle_at", {{"path", "copy-from"}, {"handle", "h"}})},
         {"open_by_handle_at",
          make_request("open_by_handle_at", {{"handle", "h"}, {"flags", O_RDONLY}, {"fd", "hf"}})}});
    actor.call({{"op", "reset"}});  // closes every descriptor
  }

  void ioctl_flags() const {
    all("ioctl_flags", {{"ioctl FS_IOC_GETFLAGS", make_request("ioctl_getflags", {{"fd", "cf"}})}});
  }

  void btime() const {
    auto reply = actor.call(make_request("statx", {{"path", at("copy-from")}, {"mask", kStatxBtime}}));
    bool offered = actor.ok(reply) && (reply.body["r"].value("mask", 0u) & kStatxBtime) != 0;
    features.set("btime", offered,
                 actor.ok(reply) ? "statx does not return STATX_BTIME" : "statx returned " + actor.text(reply));
  }
};

}  // namespace

void probe_handle_features(const ProbeChannel& actor, const std::string& dir, Features& features) {
  Prober prober{actor, dir, features};
  prober.locks();
  prober.copy_file_range();
  prober.ioctl_flags();
  prober.btime();
  prober.file_handles();
}

}  // namespace fusecheck
