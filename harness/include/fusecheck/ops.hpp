// The operation vocabulary, defined once: every op a scenario step may name, with its
// arguments (types, limits), its data argument and its result fields. The scenario parser
// checks steps against it, the actor dispatches on it, the feature probes and the fuzzer build
// their requests through it, and a unit test holds docs/scenario-format.md section 5.2 to it.
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fusecheck/names.hpp"

namespace fusecheck {

// Kinds of values a result field holds, which decide the matchers it accepts.
enum class FieldKind { integer, string, boolean, bytes, names, entries };

// How a step writes an argument and how the parser turns it into a request value.
enum class ArgType {
  path,
  symlink_target,
  fd_use,
  fd_bind,
  dir_use,
  dir_bind,
  map_use,
  map_bind,
  mode,
  integer,
  flags,
  uid,
  gid,
  time,
  text,
  choice,
  value,
  seconds,
  name_prefix,
  spec  // a YAML value the engine step reads itself (a fault rule, request matchers)
};

// Which actor source file executes the op; `engine` ops (sleep, parallel, and the kernel
// interaction steps: mark, fault, notify, drop_caches...) never reach an actor.
// `mapping`: mmap and the calls that move data without read/write (sendfile, splice).
// `handles`: locks, copy_file_range, file handles and inode flags (actor/locks.cpp).
enum class OpFamily { files, directories, xattrs, metadata, mapping, handles, engine };

struct ArgSpec {
  std::string name;
  ArgType type;
  bool required = false;
  FlagFamily family = FlagFamily::open;                   // flags
  std::vector<std::string> choices = {};                  // choice
  long long min = std::numeric_limits<long long>::min();  // integer, mode, uid, gid
  long long max = std::numeric_limits<long long>::max();
  std::string limit_reason = {};  // said with an out-of-range value
};

enum class DataArg { none, optional, required };

struct ResultField {
  std::string name;
  FieldKind kind;
  std::vector<std::string> entry_keys = {};  // entries: the keys each element carries
};

struct OpSpec {
  std::string name;
  OpFamily family;
  std::vector<ArgSpec> args;
  DataArg data = DataArg::none;
  std::vector<ResultField> results = {};

  const ArgSpec* arg(std::string_view name) const;
  const ResultField* result(std::string_view name) const;
};

// Every op, in the order docs/scenario-format.md lists them.
const std::vector<OpSpec>& op_table();
const OpSpec* find_op(std::string_view name);

// Request keys that are not arguments: the op itself, the data bytes (hex) and
// utimensat/futimens's NULL times array.
inline constexpr std::string_view request_extra_keys[] = {"op", "data", "times_null"};

// An actor request for `op` with the given argument values, checked against the table: an
// unknown op or argument, or a missing required one, is a bug in the caller and throws
// std::logic_error. For requests the harness and the fuzzer build in code.
nlohmann::json make_request(std::string_view op, nlohmann::json args);

}  // namespace fusecheck
