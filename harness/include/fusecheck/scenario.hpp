// The in-memory form of a scenario file (docs/scenario-format.md, format 1) and its parser.
// Parsing checks everything that can be checked without running: keys, types, ops, flag
// and errno names, result fields, handles, saved names and path confinement.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "fusecheck/identity.hpp"
#include "fusecheck/ops.hpp"

namespace fusecheck {

// An error in an input file; what() is "FILE:LINE:COL: message".
struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The FileError for what the YAML library could not read: "FILE:LINE:COL: YAML syntax
// error: ...", one printable line whatever bytes the library quotes from the input.
FileError yaml_syntax_error(const std::string& file, const YAML::Exception& error);

// A value a matcher or an argument compares with: a literal, or taken from a saved result
// (`{saved: NAME, field: F}`) or from another field of the current result (`{field: F}`).
// A reference may carry `add: N`, an integer offset applied when it is resolved, so exact
// deltas ("bfree dropped by exactly 3") can be stated without knowing the saved value.
struct ValueRef {
  enum class Kind { literal, saved, field } kind = Kind::literal;
  nlohmann::json literal;
  std::string saved;
  std::string field;
  long long add = 0;
};

struct Matcher {
  enum class Kind {
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    mask_eq,
    bits_set,
    bits_clear,
    one_of,
    changed,
    unchanged,
    recent,
    set,
    sequence,
    contains,
    excludes,
    each_once,
    unique,
    len
  } kind;
  // The three families, in the order of Kind: one value compared (eq..ge, mask_eq), a
  // scalar tested otherwise (bits_set..recent), or a list (set..len).
  bool compares() const { return kind <= Kind::mask_eq; }
  bool tests_scalar() const { return kind >= Kind::bits_set && kind <= Kind::recent; }
  ValueRef value;                     // eq..ge, mask_eq (value), bits_*, recent (seconds)
  long long mask = 0;                 // mask_eq
  std::vector<nlohmann::json> items;  // one_of, set, sequence, contains, excludes, each_once
  std::vector<Matcher> nested;        // len
  std::string describe() const;
};

struct FieldExpect {
  std::string field;
  FieldKind kind;
  std::vector<Matcher> matchers;
  std::string where;  // file:line:col of the matcher
};

struct Expect {
  // hang: the call must not come back within the step's timeout (a deadlock that is the
  // expected outcome); the engine then aborts the FUSE connection.
  enum class Kind { ok, error, any, hang } kind = Kind::ok;
  std::vector<int> errnos;
  std::vector<int> signals;  // a memory access through a mapping the actor caught (SIGBUS...)
  std::vector<FieldExpect> fields;
  std::string describe() const;
};

struct Step {
  std::string op;
  std::string actor;                         // empty for engine-side ops (sleep, parallel)
  nlohmann::json request;                    // what the actor receives, names resolved to numbers
  std::map<std::string, ValueRef> ref_args;  // arguments taken from saved results at run time
  Expect expect;
  std::string save;
  std::string note;
  double timeout = 0;  // seconds; 0 = the scenario's
  double sleep_seconds = 0;
  std::vector<Step> parallel;
  nlohmann::json engine;    // kernel steps (mark, fault, notify...): what the engine does
  bool background = false;  // an actor step answered at a later `await` of its actor
  std::string where;        // file:line:col of the step
  std::string summary;      // one line: "chmod f mode=0644 (as alice)"
};

struct Workdir {
  mode_t mode = 0777;
  uid_t uid = 0;
  gid_t gid = 0;
};

// A parsed YAML document, held so that it copies, moves and assigns as a handle. yaml-cpp's
// Node `=` makes the node on its left refer to the right one, changing every other handle on
// the left's document (a shard that drops tests moves the kept ones over them), and Node has
// no move constructor, so a vector of scenarios holding Nodes would copy them all as it grows.
class DocumentHandle {
 public:
  DocumentHandle() = default;
  explicit DocumentHandle(const YAML::Node& document) : document_(document) {}
  DocumentHandle(const DocumentHandle&) = default;
  DocumentHandle(DocumentHandle&& other) noexcept : document_(other.document_) {}  // two shared pointers
  DocumentHandle& operator=(const DocumentHandle& other) {
    document_.reset(other.document_);
    return *this;
  }
  DocumentHandle& operator=(DocumentHandle&& other) noexcept { return *this = other; }
  const YAML::Node& get() const { return document_; }

 private:
  YAML::Node document_;
};

struct Scenario {
  std::string file;       // path of the YAML file
  std::string base_name;  // path under scenarios/ without .yaml
  std::string name;       // base_name plus "@k=v,..." for a params combination
  std::string title;
  std::vector<std::string> refs;
  std::vector<std::string> tags;
  std::set<std::string> requires_features;
  std::vector<std::string> mount_options;  // sorted, so equal sets share a mount
  std::map<std::string, Identity> actors;  // includes root
  Workdir workdir;
  double timeout = 5;
  std::vector<std::pair<std::string, std::string>> params;  // this combination
  std::vector<Step> setup, steps, cleanup;
  // Kernel scenarios run alone, each on a mount of its own (started with the control channel
  // when a step needs it), followed by the lookup balance check (docs/scenario-format.md 5.3).
  bool isolated = false;
  bool control = false;
  // must_fail_with: what breaks the behaviour the scenario checks (fault rules set before the
  // steps, extra mount options); `fusecheck run --with-breaker` applies it.
  nlohmann::json breaker_rules = nlohmann::json::array();
  std::vector<std::string> breaker_mount;
  bool has_breaker = false;
  DocumentHandle source;  // the parsed document, for writing repro.yaml
  std::string mount_key() const;
};

// All features a scenario may require (docs/scenario-format.md section 6).
const std::vector<std::string>& known_features();

// Parses one file into one Scenario per params combination. base_name is the test name
// stem (path under scenarios/); throws FileError.
std::vector<Scenario> load_scenario_file(const std::string& path, const std::string& base_name);

// Same, from text (tests and replay of generated files).
std::vector<Scenario> parse_scenario_text(const std::string& text, const std::string& file,
                                          const std::string& base_name);

// A scenario file to load and its test name stem (path under scenarios/ without .yaml).
struct ScenarioFile {
  std::string path;
  std::string base_name;
};

// One file's outcome: its scenarios, or the FileError's text (FILE:LINE:COL: message).
struct LoadedFile {
  std::vector<Scenario> scenarios;
  std::string error;
};

// Loads every file, in parallel where the process may use more than one CPU; the outcomes
// are in the order of `files` (scenario_files.cpp). Only errors other than FileError throw.
std::vector<LoadedFile> load_scenario_files(const std::vector<ScenarioFile>& files);

// The scenario's document restricted to this params combination, plus a `repro` key:
// a file that `fusecheck replay` runs as exactly this test.
std::string repro_yaml(const Scenario& scenario, const std::string& fs, unsigned seed);

// Deterministic pseudo-random bytes for `gen: {size, seed, from}` data: `size` bytes of the
// stream `seed` from its byte `from` on.
std::string generate_bytes(size_t size, unsigned long long seed, size_t from = 0);

}  // namespace fusecheck
