// One fuzzed filesystem operation over the small name space (a, b, c, d, d/a, d/b, long names,
// device nodes at p, a big directory e and listings of it interrupted by changes, two
// descriptor slots): how it is generated from the model, how the model changes, and the
// system calls (actor requests, each made by one of the fuzzer's actors) that perform and
// then observe it.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fusecheck/identity.hpp"

namespace fusecheck::fuzz {

using nlohmann::json;

// The identities operations run as: root and two users with different groups and umasks, so
// that permission checks and setuid/setgid clearing are exercised.
struct FuzzActor {
  std::string name;  // the scenario's actor name ("root" is predefined there)
  Identity identity;
};
const std::vector<FuzzActor>& fuzz_actors();

// Nodes the model never opens (opening a fifo blocks; a device node on nodev gives EACCES).
enum class NodeType { file, dir, symlink, special };

struct FdSlot {
  bool open = false;
  size_t actor = 0;  // descriptors belong to the actor that opened them
};

// What the generator believes exists. It only steers generation and preconditions (so that
// shrinking drops the steps that depended on a removed one); results are never predicted
// from it: the oracle decides what is right.
struct NameModel {
  std::map<std::string, NodeType> nodes;  // path relative to the workdir -> type
  std::array<FdSlot, 2> fds;
  size_t actors = 3;                                 // how many of fuzz_actors() may act (1: root only)
  size_t name_max = 255;                             // the target's longest name (tmpfs: 255)
  std::vector<std::pair<std::string, bool>> groups;  // big directory e: (name prefix, are directories)
  bool handle_taken = false;                         // a file handle was saved (take_handle)
  bool exists(const std::string& path) const { return nodes.count(path) != 0; }
  bool parent_is_dir(const std::string& path) const;
  bool dir_empty(const std::string& dir) const;
};

enum class OpKind {
  create_file,
  pwrite,
  shared_write,  // root makes a file set-id and writable by all, then another user writes it
  truncate,
  read_file,
  mkdir,
  rmdir,
  unlink,
  link,
  symlink,
  rename,
  chmod,
  chown,
  utimensat,
  mknod,
  stat,
  listdir,
  dir_identity,
  setxattr,
  getxattr,
  removexattr,
  listxattr,
  statvfs,
  forget,  // the kernel drops its dentries and inodes (FORGET), then looks them up again
  open,
  fd_read,
  fd_write,
  fd_truncate,
  fd_stat,
  fd_chmod,
  fd_chown,
  close,
  populate,
  list_big,
  depopulate,
  interrupted_listing,  // a listing of e changed in the middle, then resumed (seekdir) or continued
  // The data path (operation_data.cpp):
  map_write,      // resize, map shared, write through the mapping (perhaps after close), msync, munmap
  open_direct,    // open a descriptor slot with O_DIRECT
  copy_range,     // copy_file_range between two names
  seek_data,      // fallocate (or not), then lseek SEEK_DATA and SEEK_HOLE
  lock_conflict,  // root holds a record lock or flock, another actor asks and tries
  inode_flags,    // FS_IOC_SETFLAGS, then FS_IOC_GETFLAGS
  take_handle,    // name_to_handle_at, then perhaps unlink the name
  open_handle     // open_by_handle_at of the handle taken last
};

// One system call of an operation.
struct Call {
  json request;                                    // built through the op table (make_request)
  size_t actor = 0;                                // index into fuzz_actors()
  std::vector<std::string> flag_names;             // the `flags` argument as the scenario writes it
  std::optional<std::pair<size_t, unsigned>> gen;  // data written as gen: {size, seed}
  // Calls with several flags arguments (mmap's prot and flags): names per argument.
  std::map<std::string, std::vector<std::string>> arg_flag_names = {};
};

struct Operation {
  OpKind kind = OpKind::stat;
  size_t actor = 0;                // index into fuzz_actors()
  std::string path;                // the name acted on; for link/rename the source
  std::string other;               // link/rename: destination; symlink: the link text
  std::string data;                // bytes for create_file, writes, setxattr
  unsigned data_seed = 0;          // non-zero: data is generate_bytes(data.size(), seed)
  long offset = 0;                 // writes, pread; truncate: then to this size (0: not)
  long size = 0;                   // truncate, reads, getdents buffer, populate count
  std::vector<std::string> flags;  // open, renameat2, setxattr flags by name
  mode_t mode = 0644;              // chmod, mkdir, create_file, open, mknod
  long long uid = -1, gid = -1;    // chown
  json atime, mtime;               // utimensat: {"kind": now|omit|ns}
  int slot = 0;                    // descriptor slot f0/f1
  int minor = 0;                   // mknod chr
  std::string text;                // mknod type, xattr name, populate prefix, symlink-follow choice
  // interrupted_listing: after `size` entries it tells the position and reads `offset` more;
  // then `change` (create, unlink, rename or none) acts on names `text` + first..first+count-1
  // in e (kind flags.at(0)); then it seeks back to the position (`seekdir`) or reads on.
  std::string change;
  long first = 0, count = 0;
  bool seekdir = false;

  // Draws one operation with rapidcheck generators (`*gen`, so it shrinks), biased towards
  // names the model holds so that most steps act on something.
  static Operation generate(const NameModel& model);
  // RC_PRE for the steps that need their subject (a name, an open descriptor) to exist.
  void check_preconditions(const NameModel& model) const;
  // The model's best guess at the effect; wrong guesses only make later steps less useful.
  void apply(NameModel& model) const;

  // The calls that perform it, then lstat/fstat of what it changed, so that every effect
  // (times, ownership, links, identity) is compared where it happened.
  std::vector<Call> calls() const;
  // Features a scenario needs for this operation (docs/scenario-format.md section 6).
  std::vector<std::string> required_features() const;
  std::string describe() const;
};

std::ostream& operator<<(std::ostream& os, const Operation& op);

// Calls the fuzzer makes itself instead of an actor (drop_caches, machine-wide, so once for
// both sides): whether `made` is one, and then its reply body in the actor's form.
bool runs_in_fuzzer(const Call& made);
json run_in_fuzzer(const Call& made);

// The scenario-file step for a call, without `expect` (flow-style YAML map body).
std::string scenario_step(const Call& call);

}  // namespace fusecheck::fuzz
