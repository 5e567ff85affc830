// The fuzzer's data-path operations: generation, preconditions and calls. Each is one actor's
// run of calls where it can be (one round trip), closes what it opened, and is followed by
// lstat (and read_file where data may have changed) of what it touched, like every other
// operation. The bugs they reach show only through these calls: a write through a mapping
// that reaches the filesystem after close (FLUSH), a shared mapping refused, an O_DIRECT
// read, copy_file_range's offsets and times, SEEK_DATA over preallocated pages, a lock
// another process must see, an inode flag kept, a file handle of a freed inode.
#include "operation_data.hpp"

#include <rapidcheck.h>

#include <algorithm>

#include "fusecheck/ops.hpp"

namespace fusecheck::fuzz {
namespace {

using FlagNames = std::map<std::string, std::vector<std::string>>;

// A call whose flags arguments are given by name, each valued in its own argument's family.
Call flagged(size_t who, std::string_view op, json args, const FlagNames& names) {
  const OpSpec* spec = find_op(op);
  for (const auto& [arg, list] : names) args[arg] = flags_value(spec->arg(arg)->family, list);
  Call made = call(who, op, std::move(args));
  made.arg_flag_names = names;
  return made;
}

Call open_call(size_t who, const std::string& path, const std::vector<std::string>& flags, const std::string& fd) {
  return call(who, "open",
              {{"path", path}, {"flags", flags_value(FlagFamily::open, flags)}, {"mode", 0644}, {"fd", fd}}, flags);
}

void generate_map_write(Operation& op) {
  op.size = *rc::gen::element<long>(4096, 8192);  // the file's new size, and the mapping's length
  op.data = small_data(1, 8);
  // Only inside the file: a page past its end gives SIGBUS, and bytes written into the last
  // page beyond the end are the page cache's business.
  op.offset = std::min(*rc::gen::element<long>(0, 5, 4090, 8000), op.size - static_cast<long>(op.data.size()));
  // Closing the descriptor before writing through the mapping makes the write reach a FUSE
  // filesystem after the descriptor's FLUSH (at msync), as a program that maps and closes does.
  op.text = *rc::gen::element<std::string>("close_first", "close_last");
}

void generate_copy_range(Operation& op, const NameModel& model) {
  op.other = any_name(model);
  op.offset = *rc::gen::element<long>(0, 3, 1000);  // off_in
  op.first = *rc::gen::element<long>(0, 5, 5000);   // off_out
  op.size = *rc::gen::element<long>(4, 100, 5000);  // len
}

// A page reserved by fallocate is a hole for SEEK_DATA until written (tmpfs): the seek starts
// before, inside and past the reserved pages.
void generate_seek_data(Operation& op) {
  op.text = *rc::gen::element<std::string>("", "0", "FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE");
  op.offset = *rc::gen::element<long>(0, 4096, 5000);
  op.size = *rc::gen::element<long>(100, 4096, 8192);
  op.first = *rc::gen::element<long>(0, 4096, 9000);
}

// The lock root holds while another actor asks about it (F_GETLK) and tries its own.
void generate_lock_conflict(Operation& op, const NameModel& model) {
  op.actor = 0;
  op.text = *rc::gen::element<std::string>("F_RDLCK", "F_WRLCK", "LOCK_SH", "LOCK_EX");
  op.slot = static_cast<int>(model.actors < 3 ? 0 : *rc::gen::element<size_t>(1, 2));  // the other actor
}

}  // namespace

bool is_data_path(OpKind kind) { return kind >= OpKind::map_write; }

void generate_data_path_op(Operation& op, const NameModel& model) {
  op.path = any_name(model);  // the preconditions want it to exist
  switch (op.kind) {
    case OpKind::map_write: return generate_map_write(op);
    case OpKind::open_direct:
      op.slot = *rc::gen::inRange(0, 2);
      op.flags = {*rc::gen::element<std::string>("O_RDONLY", "O_WRONLY", "O_RDWR"), "O_DIRECT"};
      op.offset = *rc::gen::element<long>(0, 5);
      op.data = small_data(1, 8);
      return;
    case OpKind::copy_range: return generate_copy_range(op, model);
    case OpKind::seek_data: return generate_seek_data(op);
    case OpKind::lock_conflict: return generate_lock_conflict(op, model);
    case OpKind::inode_flags: op.text = *rc::gen::element<std::string>("FS_NODUMP_FL", ""); return;
    case OpKind::take_handle:
      op.actor = 0;  // (the handle is root's: open_by_handle_at needs CAP_DAC_READ_SEARCH)
      op.text = *rc::gen::element<std::string>("keep", "unlink");
      return;
    default: op.actor = 0; return;  // open_handle
  }
}

void check_data_path_preconditions(const Operation& op, const NameModel& model) {
  if (op.kind == OpKind::open_handle) {
    RC_PRE(model.handle_taken);
    return;
  }
  // Never a fifo or a device node: opening a fifo blocks. RC_PRE captures its expression,
  // so `&&` would not short-circuit: decide first.
  const bool usable = model.exists(op.path) && model.nodes.at(op.path) != NodeType::special;
  RC_PRE(usable);
  if (op.kind != OpKind::copy_range) return;
  const bool other_usable = model.exists(op.other) && model.nodes.at(op.other) != NodeType::special;
  RC_PRE(other_usable);
}

void apply_data_path(const Operation& op, NameModel& model) {
  if (op.kind == OpKind::open_direct) model.fds[op.slot] = {true, op.actor};
  if (op.kind != OpKind::take_handle) return;
  model.handle_taken = true;
  if (op.text == "unlink" && model.nodes[op.path] != NodeType::dir) model.nodes.erase(op.path);
}

namespace {

std::vector<Call> map_write_calls(const Operation& op) {
  const size_t who = op.actor;
  const bool close_first = op.text == "close_first";
  std::vector<Call> calls = {open_call(who, op.path, {"O_RDWR"}, "m"),
                             call(who, "ftruncate", {{"fd", "m"}, {"size", op.size}}),
                             flagged(who, "mmap", {{"fd", "m"}, {"map", "mm"}, {"length", op.size}},
                                     {{"prot", {"PROT_READ", "PROT_WRITE"}}, {"flags", {"MAP_SHARED"}}})};
  if (close_first) calls.push_back(call(who, "close", {{"fd", "m"}}));
  // What was there, read where the write goes: a read fault on a hole allocates the page on
  // tmpfs (st_blocks), where a FUSE filesystem sees no request.
  const auto size = static_cast<long>(op.data.size());
  calls.push_back(call(who, "map_read", {{"map", "mm"}, {"offset", op.offset}, {"size", size}}));
  calls.push_back(with_data(call(who, "map_write", {{"map", "mm"}, {"offset", op.offset}}), op));
  calls.push_back(flagged(who, "msync", {{"map", "mm"}}, {{"flags", {"MS_SYNC"}}}));
  calls.push_back(call(who, "munmap", {{"map", "mm"}}));
  if (!close_first) calls.push_back(call(who, "close", {{"fd", "m"}}));
  return calls;
}

std::vector<Call> copy_range_calls(const Operation& op) {
  const size_t who = op.actor;
  return {open_call(who, op.path, {"O_RDONLY"}, "ci"), open_call(who, op.other, {"O_WRONLY"}, "co"),
          call(who, "copy_file_range",
               {{"fd_in", "ci"}, {"off_in", op.offset}, {"fd_out", "co"}, {"off_out", op.first}, {"len", op.size}}),
          call(who, "close", {{"fd", "ci"}}), call(who, "close", {{"fd", "co"}})};
}

std::vector<Call> seek_data_calls(const Operation& op) {
  const size_t who = op.actor;
  std::vector<Call> calls = {open_call(who, op.path, {"O_RDWR"}, "s")};
  if (!op.text.empty()) {
    FlagNames mode;
    if (op.text != "0") mode["mode"] = {op.text.substr(0, op.text.find('|'))};
    if (op.text.find('|') != std::string::npos) mode["mode"].push_back(op.text.substr(op.text.find('|') + 1));
    calls.push_back(flagged(who, "fallocate", {{"fd", "s"}, {"offset", op.offset}, {"len", op.size}}, mode));
  }
  for (const char* whence : {"SEEK_DATA", "SEEK_HOLE"})
    calls.push_back(flagged(who, "lseek", {{"fd", "s"}, {"offset", op.first}}, {{"whence", {whence}}}));
  calls.push_back(call(who, "close", {{"fd", "s"}}));
  return calls;
}

// Root takes its lock; the other actor asks for a write lock's conflict, tries a read lock and
// a shared flock without waiting, and closes (dropping what it got); then root closes.
std::vector<Call> lock_conflict_calls(const Operation& op) {
  const auto other = static_cast<size_t>(op.slot);
  const bool record = op.text[0] == 'F';
  std::vector<Call> calls = {open_call(0, op.path, {"O_RDWR"}, "k")};
  if (record)
    calls.push_back(call(0, "fcntl_lock", {{"fd", "k"}, {"cmd", "F_SETLK"}, {"type", op.text}}));
  else
    calls.push_back(flagged(0, "flock", {{"fd", "k"}}, {{"operation", {op.text, "LOCK_NB"}}}));
  calls.push_back(open_call(other, op.path, {"O_RDONLY"}, "k"));
  calls.push_back(call(other, "fcntl_lock", {{"fd", "k"}, {"cmd", "F_GETLK"}, {"type", "F_WRLCK"}}));
  calls.push_back(call(other, "fcntl_lock", {{"fd", "k"}, {"cmd", "F_SETLK"}, {"type", "F_RDLCK"}}));
  calls.push_back(flagged(other, "flock", {{"fd", "k"}}, {{"operation", {"LOCK_SH", "LOCK_NB"}}}));
  calls.push_back(call(other, "close", {{"fd", "k"}}));
  calls.push_back(call(0, "close", {{"fd", "k"}}));
  return calls;
}

std::vector<Call> inode_flags_calls(const Operation& op) {
  const size_t who = op.actor;
  // O_WRONLY: a directory gives EISDIR (a FUSE filesystem's directory ioctls are its own).
  std::vector<std::string> flags;
  if (!op.text.empty()) flags.push_back(op.text);
  return {open_call(who, op.path, {"O_WRONLY"}, "g"), flagged(who, "ioctl_setflags", {{"fd", "g"}}, {{"flags", flags}}),
          call(who, "ioctl_getflags", {{"fd", "g"}}), call(who, "close", {{"fd", "g"}})};
}

// The handle names an inode that may have been freed since it was taken: ESTALE, unless a new
// inode took its number and generation. Half the time the name is removed right after, so
// that the handle is one of a freed inode.
std::vector<Call> take_handle_calls(const Operation& op) {
  std::vector<Call> calls = {call(0, "name_to_handle_at", {{"path", op.path}, {"handle", "h"}})};
  if (op.text != "unlink") return calls;
  calls.push_back(call(0, "unlink", {{"path", op.path}}));
  observe_paths(calls, {op.path, parent_of(op.path)});
  return calls;
}

}  // namespace

std::vector<Call> data_path_calls(const Operation& op) {
  std::vector<Call> calls;
  switch (op.kind) {
    case OpKind::map_write:
      calls = map_write_calls(op);
      observe_paths(calls, {op.path});
      calls.push_back(call(0, "read_file", {{"path", op.path}}));
      break;
    case OpKind::open_direct: {
      // Written and read back through the new descriptor at once, as fsx does with O_DIRECT:
      // the read must see the write, whatever the filesystem keeps per open file.
      const std::string fd = fd_name(op.slot);
      calls = {open_call(op.actor, op.path, op.flags, fd),
               with_data(call(op.actor, "pwrite", {{"fd", fd}, {"offset", op.offset}}), op),
               call(op.actor, "pread", {{"fd", fd}, {"size", 16}, {"offset", 0}}),
               call(op.actor, "fstat", {{"fd", fd}})};
      observe_paths(calls, {op.path});
      break;
    }
    case OpKind::copy_range:
      calls = copy_range_calls(op);
      observe_paths(calls, {op.other, op.path});
      calls.push_back(call(0, "read_file", {{"path", op.other}}));
      break;
    case OpKind::seek_data:
      calls = seek_data_calls(op);
      observe_paths(calls, {op.path});
      if (op.text.find("PUNCH") != std::string::npos) calls.push_back(call(0, "read_file", {{"path", op.path}}));
      break;
    case OpKind::lock_conflict: calls = lock_conflict_calls(op); break;
    case OpKind::inode_flags:
      calls = inode_flags_calls(op);
      // FUSE keeps the attributes it cached across FS_IOC_SETFLAGS (fuse_fileattr_set drops
      // none), so a stat would show the old ctime until attr_timeout: fetch them afresh first.
      calls.push_back(flagged(0, "statx", {{"path", op.path}}, {{"flags", {"AT_STATX_FORCE_SYNC"}}}));
      observe_paths(calls, {op.path});
      break;
    case OpKind::take_handle: calls = take_handle_calls(op); break;
    default:  // open_handle
      calls = {flagged(0, "open_by_handle_at", {{"handle", "h"}, {"fd", "hf"}}, {{"flags", {"O_RDONLY"}}}),
               call(0, "fstat", {{"fd", "hf"}}), call(0, "close", {{"fd", "hf"}})};
      break;
  }
  return calls;
}

std::vector<std::string> data_path_features(const Operation& op) {
  switch (op.kind) {
    case OpKind::map_write: return {};  // POSIX: regular files can be mapped shared (FUSE: not with direct_io)
    case OpKind::open_direct: return {"o_direct"};
    case OpKind::copy_range: return {"copy_file_range"};
    case OpKind::seek_data:
      if (op.text.empty()) return {"seek_hole"};
      return {"seek_hole", op.text.find("PUNCH") != std::string::npos ? "punch_hole" : "fallocate"};
    case OpKind::lock_conflict: return {"locks"};
    case OpKind::inode_flags: return {"ioctl_flags"};
    default: return {"file_handles"};
  }
}

}  // namespace fusecheck::fuzz
