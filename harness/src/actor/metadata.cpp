// Executors of the metadata ops: stat and statvfs in their forms, chmod, chown, utimensat,
// access checks.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "actor.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

json statvfs_result(const struct statvfs& sv) {
  return json{{"bsize", sv.f_bsize},   {"frsize", sv.f_frsize}, {"blocks", sv.f_blocks},  {"bfree", sv.f_bfree},
              {"bavail", sv.f_bavail}, {"files", sv.f_files},   {"ffree", sv.f_ffree},    {"favail", sv.f_favail},
              {"fsid", sv.f_fsid},     {"flag", sv.f_flag},     {"namemax", sv.f_namemax}};
}

timespec time_arg(const json& spec) {
  auto kind = spec.at("kind").get<std::string>();
  if (kind == "now") return timespec{0, UTIME_NOW};
  if (kind == "omit") return timespec{0, UTIME_OMIT};
  // {sec, nsec} as the scenario wrote them, unnormalised: an invalid tv_nsec is the point.
  if (kind == "ts") return timespec{spec.at("sec").get<time_t>(), spec.at("nsec").get<long>()};
  int64_t ns = spec.at("ns").get<int64_t>();
  int64_t sec = ns / 1000000000, rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --sec;
  }
  return timespec{sec, rem};
}

// The times array of utimensat/futimens, or nullptr for `times: null`.
const timespec* times_arg(const json& request, timespec (&times)[2]) {
  if (request.value("times_null", false)) return nullptr;
  times[0] = time_arg(request.at("atime"));
  times[1] = time_arg(request.at("mtime"));
  return times;
}

json stat_op(const json& request) {
  struct stat st;
  check(::stat(path_arg(request).c_str(), &st) == 0);
  return stat_result(st);
}

json lstat_op(const json& request) {
  struct stat st;
  check(::lstat(path_arg(request).c_str(), &st) == 0);
  return stat_result(st);
}

json fstat_op(const json& request) {
  struct stat st;
  check(::fstat(fd_arg(request), &st) == 0);
  return stat_result(st);
}

// statx(2) with the scenario's mask (default: STATX_BASIC_STATS | STATX_BTIME). Fields the
// kernel did not fill are reported as it left them; `mask` says which ones it filled.
json statx_op(const json& request) {
  struct statx stx {};
  check(::statx(AT_FDCWD, path_arg(request).c_str(), static_cast<int>(num(request, "flags", 0)),
                static_cast<unsigned>(num(request, "mask", STATX_BASIC_STATS | STATX_BTIME)), &stx) == 0);
  auto ts = [](const statx_timestamp& t) { return timespec{t.tv_sec, static_cast<long>(t.tv_nsec)}; };
  struct stat st {};
  st.st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  st.st_ino = stx.stx_ino;
  st.st_mode = stx.stx_mode;
  st.st_nlink = stx.stx_nlink;
  st.st_uid = stx.stx_uid;
  st.st_gid = stx.stx_gid;
  st.st_rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
  st.st_size = static_cast<off_t>(stx.stx_size);
  st.st_blksize = stx.stx_blksize;
  st.st_blocks = static_cast<blkcnt_t>(stx.stx_blocks);
  st.st_atim = ts(stx.stx_atime);
  st.st_mtim = ts(stx.stx_mtime);
  st.st_ctim = ts(stx.stx_ctime);
  json result = stat_result(st);
  result["mask"] = stx.stx_mask;
  result["btime"] = int64_t(stx.stx_btime.tv_sec) * 1000000000 + stx.stx_btime.tv_nsec;
  result["btime_sec"] = stx.stx_btime.tv_sec;
  result["btime_nsec"] = stx.stx_btime.tv_nsec;
  return result;
}

json chmod_op(const json& request) {
  check(::chmod(path_arg(request).c_str(), static_cast<mode_t>(num(request, "mode", 0))) == 0);
  return json::object();
}

json fchmod_op(const json& request) {
  check(::fchmod(fd_arg(request), static_cast<mode_t>(num(request, "mode", 0))) == 0);
  return json::object();
}

uid_t uid_arg(const json& request) { return static_cast<uid_t>(num(request, "uid", -1)); }
gid_t gid_arg(const json& request) { return static_cast<gid_t>(num(request, "gid", -1)); }

json chown_op(const json& request) {
  check(::chown(path_arg(request).c_str(), uid_arg(request), gid_arg(request)) == 0);
  return json::object();
}

json lchown_op(const json& request) {
  check(::lchown(path_arg(request).c_str(), uid_arg(request), gid_arg(request)) == 0);
  return json::object();
}

json fchown_op(const json& request) {
  check(::fchown(fd_arg(request), uid_arg(request), gid_arg(request)) == 0);
  return json::object();
}

json utimensat_op(const json& request) {
  timespec times[2];
  check(::utimensat(AT_FDCWD, path_arg(request).c_str(), times_arg(request, times),
                    static_cast<int>(num(request, "flags", 0))) == 0);
  return json::object();
}

json futimens_op(const json& request) {
  timespec times[2];
  check(::futimens(fd_arg(request), times_arg(request, times)) == 0);
  return json::object();
}

json access_op(const json& request) {
  check(::access(path_arg(request).c_str(), static_cast<int>(num(request, "mode", 0))) == 0);
  return json::object();
}

json faccessat_op(const json& request) {
  check(::faccessat(AT_FDCWD, path_arg(request).c_str(), static_cast<int>(num(request, "mode", 0)),
                    static_cast<int>(num(request, "flags", 0))) == 0);
  return json::object();
}

json statvfs_op(const json& request) {
  struct statvfs sv;
  check(::statvfs(path_arg(request).c_str(), &sv) == 0);
  return statvfs_result(sv);
}

json fstatvfs_op(const json& request) {
  struct statvfs sv;
  check(::fstatvfs(fd_arg(request), &sv) == 0);
  return statvfs_result(sv);
}

}  // namespace

const std::vector<Executor> metadata_executors = {
    {"stat", stat_op},           {"lstat", lstat_op},         {"fstat", fstat_op},       {"statx", statx_op},
    {"chmod", chmod_op},         {"fchmod", fchmod_op},       {"chown", chown_op},       {"lchown", lchown_op},
    {"fchown", fchown_op},       {"utimensat", utimensat_op}, {"futimens", futimens_op}, {"access", access_op},
    {"faccessat", faccessat_op}, {"statvfs", statvfs_op},     {"fstatvfs", fstatvfs_op},
};

}  // namespace fusecheck::actor
