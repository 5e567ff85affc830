// One fuzzed filesystem operation over the small name space (a, b, c, d, d/a, d/b): how it is
// generated from the model, how the model changes, the actor requests that perform it, the
// normalised result compared between target and oracle, and its scenario-file form.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace fusecheck::fuzz {

using nlohmann::json;

enum class NodeType { file, dir, symlink };

// What the generator believes exists. It only steers generation and preconditions (so that
// shrinking drops the steps that depended on a removed one); results are never predicted
// from it: the oracle decides what is right.
struct NameModel {
  std::map<std::string, NodeType> nodes;  // path relative to the workdir -> type
  bool exists(const std::string& path) const { return nodes.count(path) != 0; }
  bool parent_is_dir(const std::string& path) const;
  bool dir_empty(const std::string& dir) const;
};

enum class OpKind {
  create_file,
  pwrite,
  truncate,
  read_file,
  mkdir,
  rmdir,
  unlink,
  link,
  symlink,
  rename,
  chmod,
  stat,
  listdir,
  setxattr,
  getxattr,
  removexattr
};

struct Operation {
  OpKind kind = OpKind::stat;
  std::string path;    // the name acted on; for link/rename the source
  std::string other;   // link/rename: destination; symlink: the link text
  std::string data;    // bytes for create_file, pwrite, setxattr
  long offset = 0;     // pwrite
  long size = 0;       // truncate
  unsigned flags = 0;  // rename: RENAME_*; setxattr: XATTR_*
  mode_t mode = 0644;  // chmod, mkdir, create_file

  // Draws one operation with rapidcheck generators (`*gen`, so it shrinks), biased towards
  // names the model holds so that most steps act on something.
  static Operation generate(const NameModel& model);
  // RC_PRE for the steps that need their subject to exist.
  void check_preconditions(const NameModel& model) const;
  // The model's best guess at the effect; wrong guesses only make later steps less useful.
  void apply(NameModel& model) const;

  // The actor requests that perform it, in order (pwrite is open + pwrite + close).
  std::vector<json> requests() const;
  // The scenario-file step for request i, without `expect` (flow-style YAML map body).
  std::string scenario_step(size_t index) const;
  // Features a scenario needs for this operation (docs/scenario-format.md section 6).
  std::vector<std::string> required_features() const;
  std::string describe() const;
};

std::ostream& operator<<(std::ostream& os, const Operation& op);

// The comparable form of an actor reply: {"errno": "ENOENT"} or {"ok": {fields}}, keeping
// only the fields the fuzzer compares (see docs/fuzzing.md); {"broken": why} when the actor
// timed out, died or did not understand the request.
json normalise_reply(const json& request, const json& reply_body, int status, const std::string& detail);

// The `expect` value (flow-style YAML) that demands a normalised result.
std::string expect_yaml(const json& normalised);

// The calls of a failing sequence up to the first disagreement, with both sides' results.
struct RecordedCase {
  std::vector<Operation> operations;
  std::vector<std::string> step_texts;  // scenario step bodies, without expect
  std::vector<json> oracle_results, target_results;
};

// A format-1 scenario whose steps are the recorded calls and whose expectations are the
// oracle's results, so it passes on tmpfs and fails where the target disagreed.
std::string scenario_text(const RecordedCase& recorded, const std::string& target_name, uint64_t seed);

}  // namespace fusecheck::fuzz
