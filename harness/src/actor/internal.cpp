// Executors of the requests only the harness sends, never reachable from a scenario (they are
// not in the op table): entering and leaving a test's workdir, making and removing workdirs,
// and reporting the actor's identity.
#include <ftw.h>
#include <grp.h>
#include <unistd.h>

#include "actor.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

// Leaves any earlier test's root: back to the real root directory the actor started in.
void leave_workdir() {
  close_everything();
  check(::fchdir(real_root_fd()) == 0);
  if (started_as_root()) check(::chroot(".") == 0);
}

// Enters a test's workdir as the process's root directory, so that no path a step names,
// whatever symlinks or `..` it goes through, resolves outside it (docs/architecture.md,
// "Confinement").
json chdir_op(const json& request) {
  leave_workdir();
  check(::chdir(path_arg(request).c_str()) == 0);
  // A harness that is not root cannot chroot; its actors stay unconfined (documented).
  if (started_as_root()) check(::chroot(".") == 0);
  return json::object();
}

json reset_op(const json&) {
  leave_workdir();
  check(::chdir("/") == 0);
  return json::object();
}

json prepare_workdir_op(const json& request) {
  // mkdir, then chown and chmod: the mode must not be filtered by our umask.
  std::string path = path_arg(request);
  check(::mkdir(path.c_str(), 0700) == 0);
  check(::chown(path.c_str(), static_cast<uid_t>(num(request, "uid", 0)), static_cast<gid_t>(num(request, "gid", 0))) ==
        0);
  check(::chmod(path.c_str(), static_cast<mode_t>(num(request, "mode", 0777))) == 0);
  return json::object();
}

int remove_entry(const char* path, const struct stat*, int typeflag, struct FTW*) {
  int rc = (typeflag == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 ? 0 : -1;
}

json rmtree_op(const json& request) {
  // FTW_MOUNT: never cross into another filesystem; FTW_PHYS: never follow symlinks.
  check(::nftw(path_arg(request).c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0);
  return json::object();
}

json identity_op(const json&) {
  std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
  ::getgroups(static_cast<int>(groups.size()), groups.data());
  mode_t mask = ::umask(0);
  ::umask(mask);
  return json{{"uid", ::geteuid()}, {"gid", ::getegid()}, {"groups", groups}, {"umask", mask}};
}

}  // namespace

const std::vector<Executor> internal_executors = {
    {"chdir", chdir_op},   {"reset", reset_op},       {"prepare_workdir", prepare_workdir_op},
    {"rmtree", rmtree_op}, {"identity", identity_op},
};

}  // namespace fusecheck::actor
