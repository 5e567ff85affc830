// A recorded failing case (each call with both sides' normalised results) and the format-1
// scenario it becomes: tmpfs's results as expectations, the relations the fuzzer compared
// (times changed, same inode, statvfs deltas) as saved results and references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "normalise.hpp"
#include "operation.hpp"

namespace fusecheck::fuzz {

struct RecordedStep {
  Call call;
  Observed oracle, target;
  bool starts_operation = false;  // the first call of its operation
};

struct RecordedCase {
  std::vector<Operation> operations;
  std::vector<RecordedStep> steps;  // up to and including the first disagreement
};

// The `expect` value (flow-style YAML) that demands the oracle's normalised result of step
// `index`; references name earlier steps' saved results as s<index>.
std::string expect_yaml(const RecordedCase& recorded, size_t index);

// A format-1 scenario whose steps are the recorded calls and whose expectations are the
// oracle's results, so it passes on tmpfs and fails where the target disagreed.
std::string scenario_text(const RecordedCase& recorded, const std::string& target_name, uint64_t seed);

}  // namespace fusecheck::fuzz
