// The fuzzer's data-path operations (a write through a shared mapping, O_DIRECT descriptors,
// copy_file_range, fallocate with SEEK_DATA/SEEK_HOLE, record locks and flock between two
// actors, inode flags, file handles), and the helpers they share with operation.cpp.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fusecheck/names.hpp"
#include "operation.hpp"

namespace fusecheck::fuzz {

// Shared with operation.cpp, which defines them.
std::string any_name(const NameModel& model);
std::string parent_of(const std::string& path);
size_t any_actor(const NameModel& model);
std::string small_data(int shortest, int longest);
Call call(size_t actor, std::string_view op, json args, std::vector<std::string> flag_names = {});
long flags_value(FlagFamily family, const std::vector<std::string>& names);
std::string fd_name(int slot);
void observe_paths(std::vector<Call>& calls, std::vector<std::string> paths);
Call with_data(Call made, const Operation& op);

// Whether `kind` is one of the operations below; each function takes only those.
bool is_data_path(OpKind kind);
void generate_data_path_op(Operation& op, const NameModel& model);
void check_data_path_preconditions(const Operation& op, const NameModel& model);
void apply_data_path(const Operation& op, NameModel& model);
std::vector<Call> data_path_calls(const Operation& op);
std::vector<std::string> data_path_features(const Operation& op);

}  // namespace fusecheck::fuzz
