// The op table (see ops.hpp): one row per op. Adding an op is a row here, an executor in the
// actor file of its family (harness/src/actor/), a test and a line in
// docs/scenario-format.md section 5.2 (a unit test compares that table with this one).
#include "fusecheck/ops.hpp"

#include <stdexcept>

namespace fusecheck {

namespace {

using A = ArgType;
using R = std::vector<ResultField>;
constexpr auto I = FieldKind::integer;
constexpr long long kMaxBuffer = 64LL << 20;  // a buffer the actor allocates

R integer_fields(std::initializer_list<const char*> names) {
  R list;
  for (const char* name : names) list.push_back({name, I});
  return list;
}

const R& stat_fields() {
  static const R fields = [] {
    R list = integer_fields({"dev",       "ino",        "mode",       "perm",       "nlink",     "uid",
                             "gid",       "rdev",       "rdev_major", "rdev_minor", "size",      "blksize",
                             "blocks",    "atime",      "mtime",      "ctime",      "atime_sec", "atime_nsec",
                             "mtime_sec", "mtime_nsec", "ctime_sec",  "ctime_nsec"});
    list.push_back({"type", FieldKind::string});
    return list;
  }();
  return fields;
}

const R& statx_fields() {
  static const R fields = [] {
    R list = stat_fields();
    for (const auto& extra : integer_fields({"mask", "btime", "btime_sec", "btime_nsec"})) list.push_back(extra);
    return list;
  }();
  return fields;
}

const R& statvfs_fields() {
  static const R fields = integer_fields(
      {"bsize", "frsize", "blocks", "bfree", "bavail", "files", "ffree", "favail", "fsid", "flag", "namemax"});
  return fields;
}

ArgSpec buffer_size(bool required) {
  return {"size", A::integer, required, FlagFamily::open, {}, 0, kMaxBuffer, "a buffer of at most 64 MiB"};
}

ArgSpec permission_mode(bool required = false) {
  return {"mode", A::mode, required, FlagFamily::open, {}, 0, 07777, "permission mode"};
}

ArgSpec whole_mode() {
  // chmod/fchmod take a whole st_mode as given, so a scenario can check that the file-type
  // bits are ignored.
  return {"mode", A::mode, true, FlagFamily::open, {}, 0, 0177777, "mode"};
}

ArgSpec id_arg(const char* name, ArgType type) {
  return {name, type, false, FlagFamily::open, {}, -1, 4294967294LL, "-1 leaves the id unchanged"};
}

ArgSpec count_arg(bool required = true) {
  return {"count", A::integer, required, FlagFamily::open, {}, 0, 1000000, ""};
}

ArgSpec flags(const char* name, FlagFamily family, bool required = false) { return {name, A::flags, required, family}; }

ArgSpec choice(const char* name, std::vector<std::string> choices, bool required = false) {
  return {name, A::choice, required, FlagFamily::open, std::move(choices)};
}

std::vector<OpSpec> file_ops() {
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec offset{"offset", A::integer, true};
  const ArgSpec bind{"fd", A::fd_bind, true};
  const auto F = OpFamily::files;
  const R data_size = {{"data", FieldKind::bytes}, {"size", I}};
  return {
      {"open", F, {path, flags("flags", FlagFamily::open, true), permission_mode(), bind}, DataArg::none, {{"fd", I}}},
      {"creat", F, {path, permission_mode(), bind}, DataArg::none, {{"fd", I}}},
      {"close", F, {fd}},
      {"read", F, {fd, buffer_size(true)}, DataArg::none, data_size},
      {"pread", F, {fd, buffer_size(true), offset}, DataArg::none, data_size},
      {"write", F, {fd}, DataArg::required, {{"size", I}}},
      {"pwrite", F, {fd, offset}, DataArg::required, {{"size", I}}},
      {"lseek", F, {fd, offset, flags("whence", FlagFamily::whence, true)}, DataArg::none, {{"offset", I}}},
      {"truncate", F, {path, {"size", A::integer, true}}},
      {"ftruncate", F, {fd, {"size", A::integer, true}}},
      {"fsync", F, {fd}},
      {"fdatasync", F, {fd}},
      {"fallocate", F, {fd, flags("mode", FlagFamily::fallocate), offset, {"len", A::integer, true}}},
      {"create_file", F, {path, permission_mode()}, DataArg::optional},
      {"read_file", F, {path}, DataArg::none, data_size},
  };
}

std::vector<OpSpec> metadata_ops() {
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec atime{"atime", A::time}, mtime{"mtime", A::time};
  const auto M = OpFamily::metadata;
  return {
      {"stat", M, {path}, DataArg::none, stat_fields()},
      {"lstat", M, {path}, DataArg::none, stat_fields()},
      {"fstat", M, {fd}, DataArg::none, stat_fields()},
      {"statx",
       M,
       {path,
        flags("flags", FlagFamily::at),
        {"mask", A::integer, false, FlagFamily::open, {}, 0, 0xffffffffLL, "a 32-bit STATX_* mask"}},
       DataArg::none,
       statx_fields()},
      {"chmod", M, {path, whole_mode()}},
      {"fchmod", M, {fd, whole_mode()}},
      {"chown", M, {path, id_arg("uid", A::uid), id_arg("gid", A::gid)}},
      {"lchown", M, {path, id_arg("uid", A::uid), id_arg("gid", A::gid)}},
      {"fchown", M, {fd, id_arg("uid", A::uid), id_arg("gid", A::gid)}},
      {"utimensat", M, {path, atime, mtime, flags("flags", FlagFamily::at)}},
      {"futimens", M, {fd, atime, mtime}},
      {"access", M, {path, flags("mode", FlagFamily::access, true)}},
      {"faccessat", M, {path, flags("mode", FlagFamily::access, true), flags("flags", FlagFamily::at)}},
      {"statvfs", M, {path}, DataArg::none, statvfs_fields()},
      {"fstatvfs", M, {fd}, DataArg::none, statvfs_fields()},
  };
}

std::vector<OpSpec> directory_ops() {
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec dir{"dir", A::dir_use, true};
  const ArgSpec from{"from", A::path, true}, to{"to", A::path, true};
  const ArgSpec prefix{"prefix", A::name_prefix, true}, start{"start", A::integer};
  const ArgSpec kind = choice("kind", {"file", "dir", "node"});
  const auto D = OpFamily::directories;
  // Device numbers: major 0 only. No driver registers major 0 (for char devices it means
  // "allocate one", for block devices it is the null device number), so a node a scenario
  // makes reaches no device (docs/architecture.md, "Confinement").
  const ArgSpec major{
      "major", A::integer, false, FlagFamily::open,
      {},      0,          0,     "only major 0 may be used: no driver serves it, so the node reaches no device"};
  const ArgSpec minor{"minor", A::integer, false, FlagFamily::open, {}, 0, 0xfffff, "minors have 20 bits"};
  return {
      {"link", D, {from, to}},
      {"symlink", D, {{"target", A::symlink_target, true}, path}},
      {"readlink", D, {path, buffer_size(false)}, DataArg::none, {{"target", FieldKind::bytes}, {"size", I}}},
      {"rename", D, {from, to}},
      {"renameat2", D, {from, to, flags("flags", FlagFamily::rename)}},
      {"unlink", D, {path}},
      {"mkdir", D, {path, permission_mode()}},
      {"rmdir", D, {path}},
      {"mknod",
       D,
       {path, choice("type", {"file", "fifo", "chr", "blk", "sock"}, true), permission_mode(), major, minor}},
      {"mkfifo", D, {path, permission_mode()}},
      {"getdents",
       D,
       {fd, buffer_size(false)},
       DataArg::none,
       {{"entries", FieldKind::entries, {"name", "ino", "type", "off"}},
        {"names", FieldKind::names},
        {"count", I},
        {"eof", FieldKind::boolean}}},
      {"opendir", D, {path, {"dir", A::dir_bind, true}}},
      {"readdir",
       D,
       {dir},
       DataArg::none,
       {{"name", FieldKind::string}, {"ino", I}, {"type", FieldKind::string}, {"end", FieldKind::boolean}}},
      {"readdir_many",
       D,
       {dir, count_arg(false)},
       DataArg::none,
       {{"entries", FieldKind::entries, {"name", "ino", "type"}},
        {"names", FieldKind::names},
        {"count", I},
        {"end", FieldKind::boolean},
        {"listed", FieldKind::names}}},
      {"telldir", D, {dir}, DataArg::none, {{"pos", I}}},
      {"seekdir", D, {dir, {"pos", A::value, false}}},
      {"rewinddir", D, {dir}},
      {"closedir", D, {dir}},
      {"listdir",
       D,
       {path, buffer_size(false)},
       DataArg::none,
       {{"names", FieldKind::names}, {"entries", FieldKind::entries, {"name", "ino", "type"}}, {"count", I}}},
      {"create_many", D, {prefix, count_arg(), start, kind, permission_mode()}, DataArg::none, {{"count", I}}},
      {"unlink_many", D, {prefix, count_arg(), start, kind}, DataArg::none, {{"count", I}}},
  };
}

std::vector<OpSpec> xattr_ops() {
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec name{"name", A::text, true};
  const ArgSpec xflags = flags("flags", FlagFamily::xattr);
  const auto X = OpFamily::xattrs;
  const R data_size = {{"data", FieldKind::bytes}, {"size", I}};
  const R names_size = {{"names", FieldKind::names}, {"size", I}};
  return {
      {"setxattr", X, {path, name, xflags}, DataArg::required},
      {"lsetxattr", X, {path, name, xflags}, DataArg::required},
      {"fsetxattr", X, {fd, name, xflags}, DataArg::required},
      {"getxattr", X, {path, name, buffer_size(false)}, DataArg::none, data_size},
      {"lgetxattr", X, {path, name, buffer_size(false)}, DataArg::none, data_size},
      {"fgetxattr", X, {fd, name, buffer_size(false)}, DataArg::none, data_size},
      {"listxattr", X, {path, buffer_size(false)}, DataArg::none, names_size},
      {"llistxattr", X, {path, buffer_size(false)}, DataArg::none, names_size},
      {"flistxattr", X, {fd, buffer_size(false)}, DataArg::none, names_size},
      {"removexattr", X, {path, name}},
      {"lremovexattr", X, {path, name}},
      {"fremovexattr", X, {fd, name}},
  };
}

std::vector<OpSpec> mapping_ops() {
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec map{"map", A::map_use, true};
  const ArgSpec file_offset{"offset", A::integer, false, FlagFamily::open, {}, 0};
  const ArgSpec in_map{"offset", A::integer, false, FlagFamily::open, {}, 0, kMaxBuffer, "an offset in a mapping"};
  const ArgSpec length{"length", A::integer, true, FlagFamily::open, {}, 1, kMaxBuffer, "a mapping of at most 64 MiB"};
  // One pipe holds what is spliced in one call; more than 1 MiB needs a raised pipe-max-size.
  const ArgSpec pipe_size{"size", A::integer, true, FlagFamily::open, {}, 0, 1 << 20, "a pipe of at most 1 MiB"};
  const auto P = OpFamily::mapping;
  const R data_size = {{"data", FieldKind::bytes}, {"size", I}};
  return {
      {"mmap",
       P,
       {fd,
        {"map", A::map_bind, true},
        length,
        flags("prot", FlagFamily::prot, true),
        flags("flags", FlagFamily::map, true),
        file_offset}},
      {"map_read", P, {map, in_map, buffer_size(true)}, DataArg::none, data_size},
      {"map_write", P, {map, in_map}, DataArg::required, {{"size", I}}},
      {"msync",
       P,
       {map,
        flags("flags", FlagFamily::msync, true),
        in_map,
        {"length", A::integer, false, FlagFamily::open, {}, 0, kMaxBuffer}}},
      {"munmap", P, {map}},
      {"sendfile", P, {{"to", A::fd_use, true}, fd, file_offset, buffer_size(true)}, DataArg::none, {{"size", I}}},
      {"splice_to_pipe", P, {fd, file_offset, pipe_size}, DataArg::none, data_size},
      {"splice_from_pipe", P, {fd, file_offset}, DataArg::required, {{"size", I}}},
  };
}

// Locks, copies between descriptors, file handles and inode flags (harness/src/actor/locks.cpp).
std::vector<OpSpec> handle_ops() {
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec bind{"fd", A::fd_bind, true};
  const ArgSpec offset_in{"off_in", A::integer, false, FlagFamily::open, {}, 0};
  const ArgSpec offset_out{"off_out", A::integer, false, FlagFamily::open, {}, 0};
  const ArgSpec lock_type = choice("type", {"F_RDLCK", "F_WRLCK", "F_UNLCK"}, true);
  const auto H = OpFamily::handles;
  return {
      {"flock", H, {fd, flags("operation", FlagFamily::flock, true)}},
      {"fcntl_lock",
       H,
       {fd,
        choice("cmd", {"F_SETLK", "F_SETLKW", "F_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW", "F_OFD_GETLK"}, true),
        lock_type,
        flags("whence", FlagFamily::whence),
        {"start", A::integer},
        {"len", A::integer}},
       DataArg::none,
       {{"type", FieldKind::string}, {"pid", I}, {"start", I}, {"len", I}}},
      {"copy_file_range",
       H,
       {{"fd_in", A::fd_use, true},
        offset_in,
        {"fd_out", A::fd_use, true},
        offset_out,
        {"len", A::integer, true, FlagFamily::open, {}, 0, kMaxBuffer, "at most 64 MiB"},
        {"flags", A::integer, false, FlagFamily::open, {}, 0, 0xffffffffLL, "a 32-bit flags word"}},
       DataArg::none,
       {{"size", I}}},
      {"memfd_create", H, {bind}, DataArg::none, {{"fd", I}}},
      {"name_to_handle_at",
       H,
       {path, flags("flags", FlagFamily::at), {"handle", A::fd_bind, true}},
       DataArg::none,
       {{"handle_type", I}, {"handle_bytes", I}, {"handle", FieldKind::bytes}, {"mount_id", I}}},
      {"open_by_handle_at",
       H,
       {{"handle", A::fd_use, true}, flags("flags", FlagFamily::open, true), bind},
       DataArg::none,
       {{"fd", I}}},
      {"ioctl_getflags", H, {fd}, DataArg::none, {{"flags", I}}},
      {"ioctl_setflags", H, {fd, flags("flags", FlagFamily::inode, true)}},
  };
}

std::vector<OpSpec> engine_ops() {
  return {
      {"sleep", OpFamily::engine, {{"seconds", A::seconds, true}}},
      {"parallel", OpFamily::engine, {}},
  };
}

// Steps about the kernel's conversation with a FUSE daemon (docs/scenario-format.md section
// 5.3): made by the engine, through the target's control channel where they need one
// (scenario_kernel.cpp parses them, kernel_steps.cpp runs them).
std::vector<OpSpec> kernel_ops() {
  const auto E = OpFamily::engine;
  const ArgSpec path{"path", A::path, false};
  const ArgSpec gate{"gate", A::text, true};
  const ArgSpec count{"count", A::integer, false, FlagFamily::open, {}, 1, 1000, ""};
  return {
      {"mark", E, {{"name", A::text, true}}},
      {"expect_requests",
       E,
       {{"since", A::text}, {"until", A::text}, {"requests", A::spec}, {"order", A::spec}, {"others", A::spec}}},
      {"fault", E, {{"rule", A::spec, true}}},
      {"wait_request", E, {gate, count, {"interrupted", A::spec}}},
      {"release", E, {gate}},
      {"notify",
       E,
       {choice("kind", {"inval_entry", "expire_entry", "delete", "inval_inode", "store"}, true),
        path,
        {"name", A::text},
        {"child", A::path},
        {"offset", A::integer},
        {"length", A::integer}},
       DataArg::optional},
      {"backend",
       E,
       {choice("action", {"create", "mkdir", "write", "truncate", "unlink", "rename", "set_type", "reuse"}, true),
        {"path", A::path, true},
        {"to", A::path},
        {"offset", A::integer},
        {"size", A::integer},
        {"mode", A::mode},
        {"type", A::integer},
        {"keep_times", A::spec}},
       DataArg::optional},
      {"drop_caches", E, {choice("what", {"pages", "dentries", "all"})}},
      {"remount", E, {}},
      {"abort_connection", E, {}},
      {"signal", E, {choice("signal", {"SIGUSR1", "SIGKILL"}, true)}},
      {"await", E, {}},
  };
}

}  // namespace

const ArgSpec* OpSpec::arg(std::string_view wanted) const {
  for (const auto& candidate : args)
    if (candidate.name == wanted) return &candidate;
  return nullptr;
}

const ResultField* OpSpec::result(std::string_view wanted) const {
  for (const auto& field : results)
    if (field.name == wanted) return &field;
  return nullptr;
}

const std::vector<OpSpec>& op_table() {
  static const std::vector<OpSpec> ops = [] {
    std::vector<OpSpec> all;
    for (auto family : {metadata_ops(), file_ops(), directory_ops(), xattr_ops(), mapping_ops(), handle_ops(),
                        engine_ops(), kernel_ops()})
      all.insert(all.end(), family.begin(), family.end());
    return all;
  }();
  return ops;
}

const OpSpec* find_op(std::string_view name) {
  for (const auto& op : op_table())
    if (op.name == name) return &op;
  return nullptr;
}

nlohmann::json make_request(std::string_view op_name, nlohmann::json args) {
  const OpSpec* op = find_op(op_name);
  if (op == nullptr || op->family == OpFamily::engine)
    throw std::logic_error("make_request: no actor op '" + std::string(op_name) + "'");
  if (!args.is_object()) throw std::logic_error("make_request: arguments must be an object");
  for (const auto& [key, value] : args.items()) {
    bool extra = key == "data" ? op->data != DataArg::none : key == "times_null";
    if (!extra && op->arg(key) == nullptr)
      throw std::logic_error("make_request: " + op->name + " has no argument '" + key + "'");
  }
  for (const auto& arg : op->args)
    if (arg.required && !args.contains(arg.name))
      throw std::logic_error("make_request: " + op->name + " needs '" + arg.name + "'");
  args["op"] = op->name;
  return args;
}

}  // namespace fusecheck
