// Scenario parser: YAML (yaml-cpp) -> Scenario, following docs/scenario-format.md. Every
// scalar is read through the params substitution, so errors keep the location of the text
// the author wrote. All checks that need no target happen here.
#include "fusecheck/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "fusecheck/names.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck {

std::string Identity::key() const {
  std::string groups_text;
  for (gid_t group : groups) groups_text += fmt::format("{},", group);
  return fmt::format("{}:{}:{}:{:o}", uid, gid, groups_text, umask);
}

std::string Scenario::mount_key() const {
  std::string key;
  for (const auto& option : mount_options) key += (key.empty() ? "" : ",") + option;
  return key;
}

const std::vector<std::string>& known_features() {
  static const std::vector<std::string> features = {
      "fuse", "root", "other_users", "mount_options", "default_permissions", "xattr.user",
      "xattr.trusted", "xattr.security", "hardlinks", "symlinks", "fifo", "devices", "sockets",
      "rename_noreplace", "rename_exchange", "rename_whiteout", "fallocate", "punch_hole",
      "zero_range", "seek_hole", "timestamps_ns", "o_tmpfile", "exclusive_statfs"};
  return features;
}

std::string generate_bytes(size_t size, unsigned long long seed) {
  // splitmix64: tiny, fast and fully specified, so the bytes are the same everywhere.
  std::string bytes(size, '\0');
  unsigned long long state = seed;
  for (size_t i = 0; i < size; i += 8) {
    state += 0x9e3779b97f4a7c15ULL;
    unsigned long long z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t k = 0; k < 8 && i + k < size; ++k) bytes[i + k] = static_cast<char>(z >> (8 * k));
  }
  return bytes;
}

namespace {

enum class ArgType {
  path, symlink_target, fd_use, fd_bind, dir_use, dir_bind, mode, integer, flags, uid, gid,
  time, text, choice, value, seconds, name_prefix
};

struct ArgSpec {
  std::string name;
  ArgType type;
  bool required = false;
  FlagFamily family = FlagFamily::open;
  std::vector<std::string> choices = {};
};

enum class DataArg { none, optional, required };

struct OpSpec {
  std::string name;
  std::vector<ArgSpec> args;
  DataArg data = DataArg::none;
  std::vector<std::pair<std::string, FieldKind>> results;
};

using R = std::vector<std::pair<std::string, FieldKind>>;

const R& stat_fields() {
  static const R fields = [] {
    R list;
    for (const char* name : {"dev", "ino", "mode", "perm", "nlink", "uid", "gid", "rdev", "rdev_major",
                             "rdev_minor", "size", "blksize", "blocks", "atime", "mtime", "ctime",
                             "atime_sec", "atime_nsec", "mtime_sec", "mtime_nsec", "ctime_sec", "ctime_nsec"})
      list.emplace_back(name, FieldKind::integer);
    list.emplace_back("type", FieldKind::string);
    return list;
  }();
  return fields;
}

const R& statvfs_fields() {
  static const R fields = [] {
    R list;
    for (const char* name : {"bsize", "frsize", "blocks", "bfree", "bavail", "files", "ffree", "favail",
                             "fsid", "flag", "namemax"})
      list.emplace_back(name, FieldKind::integer);
    return list;
  }();
  return fields;
}

const std::vector<OpSpec>& op_table() {
  using A = ArgType;
  const auto I = FieldKind::integer;
  const ArgSpec path{"path", A::path, true};
  const ArgSpec fd{"fd", A::fd_use, true};
  const ArgSpec dir{"dir", A::dir_use, true};
  const ArgSpec xname{"name", A::text, true};
  const ArgSpec bufsize{"size", A::integer, false};
  const std::vector<std::string> node_types = {"file", "fifo", "chr", "blk", "sock"};
  static const std::vector<OpSpec> ops = {
      {"stat", {path}, DataArg::none, stat_fields()},
      {"lstat", {path}, DataArg::none, stat_fields()},
      {"fstat", {fd}, DataArg::none, stat_fields()},
      {"open", {path, {"flags", A::flags, true, FlagFamily::open}, {"mode", A::mode}, {"fd", A::fd_bind, true}},
       DataArg::none, {{"fd", I}}},
      {"creat", {path, {"mode", A::mode}, {"fd", A::fd_bind, true}}, DataArg::none, {{"fd", I}}},
      {"close", {fd}},
      {"read", {fd, {"size", A::integer, true}}, DataArg::none, {{"data", FieldKind::bytes}, {"size", I}}},
      {"pread", {fd, {"size", A::integer, true}, {"offset", A::integer, true}}, DataArg::none,
       {{"data", FieldKind::bytes}, {"size", I}}},
      {"write", {fd}, DataArg::required, {{"size", I}}},
      {"pwrite", {fd, {"offset", A::integer, true}}, DataArg::required, {{"size", I}}},
      {"lseek", {fd, {"offset", A::integer, true}, {"whence", A::flags, true, FlagFamily::whence}}, DataArg::none,
       {{"offset", I}}},
      {"truncate", {path, {"size", A::integer, true}}},
      {"ftruncate", {fd, {"size", A::integer, true}}},
      {"fsync", {fd}},
      {"fdatasync", {fd}},
      {"fallocate", {fd, {"mode", A::flags, false, FlagFamily::fallocate}, {"offset", A::integer, true},
                     {"len", A::integer, true}}},
      {"chmod", {path, {"mode", A::mode, true}}},
      {"fchmod", {fd, {"mode", A::mode, true}}},
      {"chown", {path, {"uid", A::uid}, {"gid", A::gid}}},
      {"lchown", {path, {"uid", A::uid}, {"gid", A::gid}}},
      {"fchown", {fd, {"uid", A::uid}, {"gid", A::gid}}},
      {"utimensat", {path, {"atime", A::time}, {"mtime", A::time}, {"flags", A::flags, false, FlagFamily::at}}},
      {"futimens", {fd, {"atime", A::time}, {"mtime", A::time}}},
      {"link", {{"from", A::path, true}, {"to", A::path, true}}},
      {"symlink", {{"target", A::symlink_target, true}, path}},
      {"readlink", {path, bufsize}, DataArg::none, {{"target", FieldKind::bytes}, {"size", I}}},
      {"rename", {{"from", A::path, true}, {"to", A::path, true}}},
      {"renameat2", {{"from", A::path, true}, {"to", A::path, true}, {"flags", A::flags, false, FlagFamily::rename}}},
      {"unlink", {path}},
      {"mkdir", {path, {"mode", A::mode}}},
      {"rmdir", {path}},
      {"mknod", {path, {"type", A::choice, true, FlagFamily::open, node_types}, {"mode", A::mode},
                 {"major", A::integer}, {"minor", A::integer}}},
      {"mkfifo", {path, {"mode", A::mode}}},
      {"access", {path, {"mode", A::flags, true, FlagFamily::access}}},
      {"faccessat", {path, {"mode", A::flags, true, FlagFamily::access}, {"flags", A::flags, false, FlagFamily::at}}},
      {"statvfs", {path}, DataArg::none, statvfs_fields()},
      {"fstatvfs", {fd}, DataArg::none, statvfs_fields()},
      {"getdents", {fd, bufsize}, DataArg::none,
       {{"entries", FieldKind::entries}, {"names", FieldKind::names}, {"count", I}, {"eof", FieldKind::boolean}}},
      {"opendir", {path, {"dir", A::dir_bind, true}}},
      {"readdir", {dir}, DataArg::none,
       {{"name", FieldKind::string}, {"ino", I}, {"type", FieldKind::string}, {"end", FieldKind::boolean}}},
      {"telldir", {dir}, DataArg::none, {{"pos", I}}},
      {"seekdir", {dir, {"pos", A::value, true}}},
      {"rewinddir", {dir}},
      {"closedir", {dir}},
      {"listdir", {path}, DataArg::none,
       {{"names", FieldKind::names}, {"entries", FieldKind::entries}, {"count", I}}},
      {"setxattr", {path, xname, {"flags", A::flags, false, FlagFamily::xattr}}, DataArg::required},
      {"lsetxattr", {path, xname, {"flags", A::flags, false, FlagFamily::xattr}}, DataArg::required},
      {"fsetxattr", {fd, xname, {"flags", A::flags, false, FlagFamily::xattr}}, DataArg::required},
      {"getxattr", {path, xname, bufsize}, DataArg::none, {{"data", FieldKind::bytes}, {"size", I}}},
      {"lgetxattr", {path, xname, bufsize}, DataArg::none, {{"data", FieldKind::bytes}, {"size", I}}},
      {"fgetxattr", {fd, xname, bufsize}, DataArg::none, {{"data", FieldKind::bytes}, {"size", I}}},
      {"listxattr", {path, bufsize}, DataArg::none, {{"names", FieldKind::names}, {"size", I}}},
      {"llistxattr", {path, bufsize}, DataArg::none, {{"names", FieldKind::names}, {"size", I}}},
      {"flistxattr", {fd, bufsize}, DataArg::none, {{"names", FieldKind::names}, {"size", I}}},
      {"removexattr", {path, xname}},
      {"lremovexattr", {path, xname}},
      {"fremovexattr", {fd, xname}},
      {"create_file", {path, {"mode", A::mode}}, DataArg::optional},
      {"read_file", {path}, DataArg::none, {{"data", FieldKind::bytes}, {"size", I}}},
      {"create_many", {{"prefix", A::name_prefix, true}, {"count", A::integer, true}, {"start", A::integer},
                       {"kind", A::choice, false, FlagFamily::open, {"file", "dir"}}, {"mode", A::mode}},
       DataArg::none, {{"count", I}}},
      {"unlink_many", {{"prefix", A::name_prefix, true}, {"count", A::integer, true}, {"start", A::integer},
                       {"kind", A::choice, false, FlagFamily::open, {"file", "dir"}}},
       DataArg::none, {{"count", I}}},
      {"sleep", {{"seconds", A::seconds, true}}},
      {"parallel", {}},
  };
  return ops;
}

const OpSpec* find_op(const std::string& name) {
  for (const auto& op : op_table())
    if (op.name == name) return &op;
  return nullptr;
}

const std::vector<std::string> data_keys = {"data", "hex", "gen", "zeros"};
const std::vector<std::string> step_common_keys = {"op", "actor", "expect", "save", "note", "timeout"};

// Per-actor handle names open at this point of the file, and saved results so far.
struct FlowState {
  std::map<std::string, std::set<std::string>> fds, dirs;
  std::map<std::string, const OpSpec*> saved;
};

class Parser {
 public:
  Parser(std::string file, std::map<std::string, std::string> params)
      : file_(std::move(file)), params_(std::move(params)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw FileError(fmt::format("{}: {}", where(node), message));
  }

  std::string where(const YAML::Node& node) const {
    YAML::Mark mark = node.Mark();
    if (mark.is_null()) return file_;
    return fmt::format("{}:{}:{}", file_, mark.line + 1, mark.column + 1);
  }

  std::string substitute(const YAML::Node& node, const std::string& raw) const {
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '$') {
        out += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '{') {
        size_t close = raw.find('}', i);
        if (close == std::string::npos) fail(node, "unterminated ${...} in '" + raw + "'");
        std::string name = raw.substr(i + 2, close - i - 2);
        auto found = params_.find(name);
        if (found == params_.end()) fail(node, "unknown parameter ${" + name + "} (not declared in params)");
        out += found->second;
        i = close;
        continue;
      }
      out += '$';
    }
    return out;
  }

  // Map keys, in place, so a key keeps its file position for errors. With `substitute_params`
  // false it only checks: merge keys are refused (yaml-cpp 0.7 reads `<<` as a plain key and
  // would not merge) and so are duplicate keys (one of them would be silently ignored). The
  // keys of `params` are parameter names and are never substituted. Aliased maps are visited
  // once, so `$$` cannot be expanded twice.
  void rewrite_keys(YAML::Node node, bool substitute_params, std::vector<YAML::Node>& seen, bool top = false) const {
    if (node.IsSequence()) {
      for (YAML::Node item : node) rewrite_keys(item, substitute_params, seen);
      return;
    }
    if (!node.IsMap()) return;
    for (const auto& done : seen)
      if (done.is(node)) return;
    seen.push_back(node);
    std::set<std::string> keys;
    for (auto entry : node) {
      YAML::Node key = entry.first;
      if (!key.IsScalar()) fail(key, "map keys must be scalars");
      if (key.Scalar() == "<<")
        fail(key, "merge keys (<<) are not supported; use an alias of a whole value (*name) or write the keys out");
      bool is_params = top && key.Scalar() == "params";
      if (substitute_params && !is_params && key.Scalar().find('$') != std::string::npos)
        key = substitute(key, key.Scalar());
      if (!keys.insert(key.Scalar()).second) fail(key, fmt::format("duplicate key '{}'", key.Scalar()));
      if (!is_params) rewrite_keys(entry.second, substitute_params, seen);
    }
  }

  std::string text(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a scalar");
    return substitute(node, node.Scalar());
  }

  long long integer_text(const YAML::Node& node, const std::string& raw, const std::string& what) const {
    std::string_view view = raw;
    bool negative = false;
    if (!view.empty() && (view[0] == '-' || view[0] == '+')) {
      negative = view[0] == '-';
      view.remove_prefix(1);
    }
    int base = 10;
    if (view.size() > 2 && view[0] == '0' && (view[1] == 'x' || view[1] == 'X')) {
      base = 16;
      view.remove_prefix(2);
    } else if (view.size() > 2 && view[0] == '0' && view[1] == 'o') {
      base = 8;
      view.remove_prefix(2);
    } else if (view.size() > 1 && view[0] == '0') {
      base = 8;
      view.remove_prefix(1);
    }
    long long value = 0;
    auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value, base);
    if (view.empty() || ec != std::errc() || end != view.data() + view.size())
      fail(node, fmt::format("{} must be an integer, got '{}'", what, raw));
    return negative ? -value : value;
  }

  long long integer(const YAML::Node& node, const std::string& what) const {
    return integer_text(node, text(node, what), what);
  }

  double seconds(const YAML::Node& node, const std::string& what) const {
    std::string raw = text(node, what);
    try {
      size_t used = 0;
      double value = std::stod(raw, &used);
      if (used == raw.size() && value >= 0) return value;
    } catch (const std::exception&) {
    }
    fail(node, fmt::format("{} must be a non-negative number of seconds, got '{}'", what, raw));
  }

  bool boolean(const YAML::Node& node, const std::string& what) const {
    std::string raw = text(node, what);
    if (raw == "true") return true;
    if (raw == "false") return false;
    fail(node, fmt::format("{} must be true or false, got '{}'", what, raw));
  }

  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what) const {
    if (!map.IsMap()) fail(map, what + " must be a map");
    for (const auto& entry : map) {
      std::string key = entry.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (const auto& name : allowed) list += (list.empty() ? "" : ", ") + name;
        fail(entry.first, fmt::format("unknown key '{}' in {} (allowed: {})", key, what, list));
      }
    }
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& what) const {
    std::vector<std::string> out;
    if (node.IsScalar()) return {text(node, what)};
    if (!node.IsSequence()) fail(node, what + " must be a list");
    for (const auto& item : node) out.push_back(text(item, what + " item"));
    return out;
  }

  // Lexical confinement: no absolute paths, no climbing above `depth` directories.
  std::vector<std::string> confined(const YAML::Node& node, const std::string& path, const std::string& what,
                                    std::vector<std::string> start = {}) const {
    if (path.empty()) fail(node, what + " is empty");
    if (path[0] == '/') fail(node, fmt::format("{} '{}' is absolute; paths are relative to the test's workdir", what, path));
    if (path.find('\0') != std::string::npos) fail(node, what + " contains a NUL byte");
    std::vector<std::string> stack = std::move(start);
    std::stringstream parts(path);
    std::string part;
    while (std::getline(parts, part, '/')) {
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (stack.empty()) fail(node, fmt::format("{} '{}' escapes the test's workdir with '..'", what, path));
        stack.pop_back();
      } else {
        stack.push_back(part);
      }
    }
    return stack;
  }

  std::string data_value(const YAML::Node& step, const std::string& key, const YAML::Node& value) const {
    if (key == "data") return text(value, "data");
    if (key == "hex") {
      std::string raw = text(value, "hex");
      raw.erase(std::remove(raw.begin(), raw.end(), ' '), raw.end());
      auto bytes = from_hex(raw);
      if (!bytes) fail(value, "hex must be an even number of hex digits");
      return *bytes;
    }
    if (key == "zeros") return std::string(static_cast<size_t>(non_negative(value, "zeros")), '\0');
    if (key == "gen") {
      check_keys(value, {"size", "seed"}, "gen");
      if (!value["size"]) fail(value, "gen needs a size");
      long long seed = value["seed"] ? integer(value["seed"], "gen seed") : 0;
      return generate_bytes(static_cast<size_t>(non_negative(value["size"], "gen size")),
                            static_cast<unsigned long long>(seed));
    }
    fail(step, "unknown data form " + key);
  }

  long long non_negative(const YAML::Node& node, const std::string& what) const {
    long long value = integer(node, what);
    if (value < 0) fail(node, what + " must not be negative");
    if (value > (64LL << 20)) fail(node, what + " is larger than 64 MiB");
    return value;
  }

  // A byte-string literal in a matcher: "text" or {hex|gen|zeros|data: ...}.
  std::string bytes_literal(const YAML::Node& node, const std::string& what) const {
    if (node.IsScalar()) return text(node, what);
    if (!node.IsMap() || node.size() != 1) fail(node, what + " must be text or one of {hex:, gen:, zeros:, data:}");
    auto entry = *node.begin();
    std::string key = entry.first.Scalar();
    if (std::find(data_keys.begin(), data_keys.end(), key) == data_keys.end())
      fail(entry.first, fmt::format("unknown data form '{}' (allowed: data, hex, gen, zeros)", key));
    return data_value(node, key, entry.second);
  }

  long flags_value(const YAML::Node& node, FlagFamily family, const std::string& what) const {
    std::vector<std::string> names;
    if (node.IsScalar()) {
      std::string raw = text(node, what);
      std::stringstream parts(raw);
      std::string part;
      while (std::getline(parts, part, '|')) {
        part.erase(0, part.find_first_not_of(' '));
        part.erase(part.find_last_not_of(' ') + 1);
        if (!part.empty()) names.push_back(part);
      }
    } else if (node.IsSequence()) {
      for (const auto& item : node) names.push_back(text(item, what));
    } else if (node.IsNull()) {
      return 0;
    } else {
      fail(node, what + " must be a list of names or \"A|B\"");
    }
    long value = 0;
    for (const auto& name : names) {
      auto known = flag_value(family, name);
      if (!known) {
        std::string list;
        for (const auto& option : flag_names(family)) list += (list.empty() ? "" : ", ") + option;
        fail(node, fmt::format("unknown {} '{}' (known: {})", family_name(family), name, list));
      }
      value |= *known;
    }
    return value;
  }

  long long id_value(const YAML::Node& node, bool want_uid, const std::map<std::string, Identity>& actors,
                     const std::string& what) const {
    std::string raw = text(node, what);
    auto actor = actors.find(raw);
    if (actor != actors.end()) return want_uid ? actor->second.uid : actor->second.gid;
    if (!raw.empty() && (std::isdigit(static_cast<unsigned char>(raw[0])) || raw[0] == '-'))
      return integer_text(node, raw, what);
    fail(node, fmt::format("{} '{}' is neither a number nor an actor name", what, raw));
  }

  json time_value(const YAML::Node& node, const std::string& what) const {
    if (node.IsMap()) {
      check_keys(node, {"sec", "nsec"}, what);
      long long sec = node["sec"] ? integer(node["sec"], what + ".sec") : 0;
      long long nsec = node["nsec"] ? integer(node["nsec"], what + ".nsec") : 0;
      // Kept apart, as written: an out-of-range tv_nsec must reach the kernel (EINVAL), not
      // be folded into the seconds.
      return json{{"kind", "ts"}, {"sec", sec}, {"nsec", nsec}};
    }
    std::string raw = text(node, what);
    if (raw == "now" || raw == "omit") return json{{"kind", raw}};
    return json{{"kind", "ns"}, {"ns", integer_text(node, raw, what)}};
  }

  ValueRef value_ref(const YAML::Node& node, const std::string& what, const FlowState& flow,
                     const OpSpec* current) const {
    ValueRef ref;
    if (node.IsMap()) {
      check_keys(node, {"saved", "field", "add"}, what);
      if (node["add"]) ref.add = integer(node["add"], what + " add");
      if (node["saved"]) {
        ref.kind = ValueRef::Kind::saved;
        ref.saved = text(node["saved"], "saved");
        auto saved = flow.saved.find(ref.saved);
        if (saved == flow.saved.end())
          fail(node["saved"], fmt::format("no earlier step saves a result named '{}'", ref.saved));
        if (node["field"]) {
          ref.field = text(node["field"], "field");
          if (!has_field(*saved->second, ref.field))
            fail(node["field"], fmt::format("saved result '{}' ({}) has no field '{}'", ref.saved,
                                            saved->second->name, ref.field));
        }
      } else if (node["field"]) {
        ref.kind = ValueRef::Kind::field;
        ref.field = text(node["field"], "field");
        if (current == nullptr || !has_field(*current, ref.field))
          fail(node["field"], fmt::format("this result has no field '{}'", ref.field));
      } else {
        fail(node, what + " reference needs saved: or field:" + (node["add"] ? " (add: offsets a reference)" : ""));
      }
      return ref;
    }
    ref.literal = integer(node, what);
    return ref;
  }

  static bool has_field(const OpSpec& op, const std::string& field) {
    return std::any_of(op.results.begin(), op.results.end(), [&](const auto& f) { return f.first == field; });
  }

  json literal_of(FieldKind kind, const YAML::Node& node, const std::string& what) const {
    switch (kind) {
      case FieldKind::integer:
        // uid/gid results may be compared with an actor's name.
        if ((what == "uid" || what == "gid") && actors_ && node.IsScalar() && actors_->count(text(node, what)))
          return what == "uid" ? actors_->at(text(node, what)).uid : actors_->at(text(node, what)).gid;
        return integer(node, what);
      case FieldKind::string: return text(node, what);
      case FieldKind::boolean: return boolean(node, what);
      case FieldKind::bytes: return to_hex(bytes_literal(node, what));
      case FieldKind::names: return text(node, what);
      case FieldKind::entries: {
        if (node.IsScalar()) return json{{"name", text(node, what)}};
        check_keys(node, {"name", "type", "ino"}, what);
        if (!node["name"]) fail(node, what + " needs a name");
        json entry{{"name", text(node["name"], "name")}};
        if (node["type"]) entry["type"] = text(node["type"], "type");
        if (node["ino"]) entry["ino"] = integer(node["ino"], "ino");
        return entry;
      }
    }
    return {};
  }

  std::vector<Matcher> matchers(FieldKind kind, const YAML::Node& node, const std::string& field,
                                const FlowState& flow, const OpSpec& op) const {
    std::vector<Matcher> out;
    bool list_kind = kind == FieldKind::names || kind == FieldKind::entries;
    bool is_data_form = kind == FieldKind::bytes && node.IsMap() && node.size() == 1 &&
                        std::find(data_keys.begin(), data_keys.end(), node.begin()->first.Scalar()) != data_keys.end();
    if (!node.IsMap() || is_data_form) {
      if (list_kind) fail(node, fmt::format("field '{}' is a list: use set:, sequence:, contains:, excludes:, each_once:, unique: or len:", field));
      Matcher eq{Matcher::Kind::eq};
      eq.value.literal = literal_of(kind, node, field);
      out.push_back(eq);
      return out;
    }
    std::vector<std::string> allowed =
        list_kind ? std::vector<std::string>{"set", "sequence", "contains", "excludes", "each_once", "unique", "len"}
        : kind == FieldKind::integer
            ? std::vector<std::string>{"eq", "ne", "lt", "le", "gt", "ge", "mask", "bits_set", "bits_clear",
                                       "one_of", "changed", "unchanged", "recent"}
            : std::vector<std::string>{"eq", "ne", "one_of", "changed", "unchanged"};
    check_keys(node, allowed, fmt::format("matcher of '{}'", field));
    if (node["mask"] && !node["eq"]) fail(node, "mask: needs eq: (the value of the masked bits)");
    for (const auto& entry : node) {
      std::string key = entry.first.Scalar();
      const YAML::Node& value = entry.second;
      Matcher m{Matcher::Kind::eq};
      if (key == "eq" || key == "ne" || key == "lt" || key == "le" || key == "gt" || key == "ge") {
        m.kind = key == "eq" ? Matcher::Kind::eq : key == "ne" ? Matcher::Kind::ne : key == "lt" ? Matcher::Kind::lt
               : key == "le" ? Matcher::Kind::le : key == "gt" ? Matcher::Kind::gt : Matcher::Kind::ge;
        if (value.IsMap() && (value["saved"] || value["field"] || value["add"]))
          m.value = value_ref(value, key, flow, &op);
        else
          m.value.literal = literal_of(kind, value, field);
        if (key == "eq" && node["mask"]) {
          m.kind = Matcher::Kind::mask_eq;
          m.mask = integer(node["mask"], "mask");
        }
      } else if (key == "mask") {
        continue;  // consumed with eq
      } else if (key == "bits_set" || key == "bits_clear") {
        m.kind = key == "bits_set" ? Matcher::Kind::bits_set : Matcher::Kind::bits_clear;
        m.mask = integer(value, key);
      } else if (key == "one_of") {
        m.kind = Matcher::Kind::one_of;
        if (!value.IsSequence()) fail(value, "one_of must be a list");
        for (const auto& item : value) m.items.push_back(literal_of(kind, item, field));
      } else if (key == "changed" || key == "unchanged") {
        m.kind = key == "changed" ? Matcher::Kind::changed : Matcher::Kind::unchanged;
        m.value.kind = ValueRef::Kind::saved;
        m.value.saved = text(value, key);
        auto saved = flow.saved.find(m.value.saved);
        if (saved == flow.saved.end())
          fail(value, fmt::format("no earlier step saves a result named '{}'", m.value.saved));
        if (!has_field(*saved->second, field))
          fail(value, fmt::format("saved result '{}' ({}) has no field '{}'", m.value.saved, saved->second->name, field));
      } else if (key == "recent") {
        m.kind = Matcher::Kind::recent;
        m.value.literal = seconds(value, "recent");
      } else if (key == "set" || key == "sequence" || key == "contains" || key == "excludes" || key == "each_once") {
        m.kind = key == "set" ? Matcher::Kind::set : key == "sequence" ? Matcher::Kind::sequence
               : key == "contains" ? Matcher::Kind::contains : key == "excludes" ? Matcher::Kind::excludes
               : Matcher::Kind::each_once;
        if (!value.IsSequence()) fail(value, key + " must be a list");
        for (const auto& item : value) {
          if (item.IsMap() && item["range"]) {
            // {range: {prefix: f, count: N, start: S}} stands for the names fS .. f(S+N-1).
            check_keys(item, {"range"}, "range item");
            const YAML::Node& range = item["range"];
            check_keys(range, {"prefix", "count", "start"}, "range");
            if (!range["count"]) fail(range, "range needs a count");
            std::string prefix = range["prefix"] ? text(range["prefix"], "range prefix") : "";
            long long start = range["start"] ? integer(range["start"], "range start") : 0;
            long long count = non_negative(range["count"], "range count");
            for (long long i = start; i < start + count; ++i) {
              json name = prefix + std::to_string(i);
              m.items.push_back(kind == FieldKind::entries ? json{{"name", name}} : name);
            }
            continue;
          }
          m.items.push_back(literal_of(kind, item, field + " item"));
        }
      } else if (key == "unique") {
        m.kind = Matcher::Kind::unique;
        if (!boolean(value, "unique")) continue;
      } else if (key == "len") {
        m.kind = Matcher::Kind::len;
        m.nested = matchers(FieldKind::integer, value, field + " length", flow, op);
      }
      out.push_back(m);
    }
    return out;
  }

  Expect expect(const YAML::Node& node, const OpSpec& op, const FlowState& flow) const {
    Expect result;
    if (!node) return result;
    if (node.IsScalar()) {
      std::string raw = text(node, "expect");
      if (raw == "ok") return result;
      if (raw == "any") {
        result.kind = Expect::Kind::any;
        return result;
      }
      auto err = errno_from_name(raw);
      if (!err) fail(node, fmt::format("expect '{}' is not ok, any, or an errno name", raw));
      result.kind = Expect::Kind::error;
      result.errnos.push_back(*err);
      return result;
    }
    if (!node.IsMap()) fail(node, "expect must be ok, any, an errno name, or a map of field matchers");
    if (node["errno"]) {
      if (node.size() != 1) fail(node, "expect with errno: takes no field matchers (a failed call has no result)");
      result.kind = Expect::Kind::error;
      for (const auto& name : string_list(node["errno"], "errno")) {
        auto err = errno_from_name(name);
        if (!err) fail(node["errno"], fmt::format("unknown errno name '{}'", name));
        result.errnos.push_back(*err);
      }
      return result;
    }
    for (const auto& entry : node) {
      std::string field = entry.first.Scalar();
      auto spec = std::find_if(op.results.begin(), op.results.end(), [&](const auto& f) { return f.first == field; });
      if (spec == op.results.end()) {
        std::string list;
        for (const auto& f : op.results) list += (list.empty() ? "" : ", ") + f.first;
        fail(entry.first, fmt::format("{} has no result field '{}' (fields: {})", op.name, field,
                                      list.empty() ? "none" : list));
      }
      result.fields.push_back(FieldExpect{field, spec->second, matchers(spec->second, entry.second, field, flow, op),
                                          where(entry.second)});
    }
    return result;
  }

  Step step(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor, FlowState& flow,
            bool in_parallel) const {
    if (!node.IsMap()) fail(node, "a step must be a map with an op");
    if (!node["op"]) fail(node, "step has no op");
    Step step;
    step.where = where(node);
    step.op = text(node["op"], "op");
    const OpSpec* op = find_op(step.op);
    if (op == nullptr) fail(node["op"], fmt::format("unknown op '{}'", step.op));

    std::vector<std::string> allowed = step_common_keys;
    for (const auto& arg : op->args) allowed.push_back(arg.name);
    if (op->data != DataArg::none) allowed.insert(allowed.end(), data_keys.begin(), data_keys.end());
    if (step.op == "utimensat" || step.op == "futimens") allowed.push_back("times");
    if (step.op == "parallel") allowed = {"op", "steps", "note"};
    check_keys(node, allowed, "step '" + step.op + "'");

    if (node["note"]) step.note = text(node["note"], "note");
    if (node["timeout"]) step.timeout = seconds(node["timeout"], "timeout");

    if (step.op == "parallel") {
      if (in_parallel) fail(node, "parallel steps cannot nest");
      if (!node["steps"] || !node["steps"].IsSequence() || node["steps"].size() < 2)
        fail(node, "parallel needs steps: a list of at least two steps");
      std::set<std::string> used;
      for (const auto& sub : node["steps"]) {
        Step inner = this->step(sub, scenario, default_actor, flow, true);
        if (inner.op == "sleep") fail(sub, "sleep cannot run inside parallel");
        if (!used.insert(inner.actor).second)
          fail(sub, fmt::format("actor '{}' appears twice in one parallel step; each sub-step needs its own actor", inner.actor));
        step.parallel.push_back(std::move(inner));
      }
      step.summary = "parallel";
      return step;
    }

    if (step.op == "sleep") {
      if (node["actor"]) fail(node["actor"], "sleep is made by the engine and takes no actor");
      step.sleep_seconds = seconds(node["seconds"], "seconds");
      if (step.sleep_seconds > 60) fail(node["seconds"], "sleep longer than 60 s");
      step.summary = fmt::format("sleep {}", step.sleep_seconds);
      return step;
    }

    step.actor = node["actor"] ? text(node["actor"], "actor") : default_actor;
    if (!scenario.actors.count(step.actor))
      fail(node["actor"] ? node["actor"] : node, fmt::format("unknown actor '{}' (declare it under actors:)", step.actor));

    json& request = step.request;
    request["op"] = step.op;
    std::string summary = step.op;
    for (const auto& arg : op->args) {
      YAML::Node value = node[arg.name];
      if (!value) {
        if (arg.required) fail(node, fmt::format("{} needs '{}'", step.op, arg.name));
        continue;
      }
      std::string what = step.op + " " + arg.name;
      switch (arg.type) {
        case ArgType::path: {
          std::string path = text(value, what);
          confined(value, path, arg.name);
          request[arg.name] = path;
          summary += " " + path;
          break;
        }
        case ArgType::symlink_target: {
          std::string target = text(value, what);
          if (!node["path"]) fail(node, "symlink needs 'path'");
          auto link = confined(node["path"], text(node["path"], "path"), "path");
          link.pop_back();
          confined(value, target, "symlink target", link);
          request[arg.name] = target;
          summary += " " + target;
          break;
        }
        case ArgType::name_prefix: {
          std::string prefix = text(value, what);
          confined(value, prefix + "0", arg.name);
          request[arg.name] = prefix;
          summary += " " + prefix;
          break;
        }
        case ArgType::fd_use:
        case ArgType::dir_use: {
          std::string name = text(value, what);
          auto& open = arg.type == ArgType::fd_use ? flow.fds[step.actor] : flow.dirs[step.actor];
          if (!open.count(name))
            fail(value, fmt::format("{} '{}' is not open in actor '{}' at this step (open it first)",
                                    arg.type == ArgType::fd_use ? "fd" : "dir", name, step.actor));
          if (step.op == "close" || step.op == "closedir") open.erase(name);
          request[arg.name] = name;
          summary += " " + name;
          break;
        }
        case ArgType::fd_bind:
        case ArgType::dir_bind: {
          std::string name = text(value, what);
          static const std::regex handle_name("[a-z][a-z0-9_]*");
          if (!std::regex_match(name, handle_name)) fail(value, fmt::format("handle name '{}' must match [a-z][a-z0-9_]*", name));
          (arg.type == ArgType::fd_bind ? flow.fds : flow.dirs)[step.actor].insert(name);
          request[arg.name] = name;
          break;
        }
        case ArgType::mode: {
          long long mode = integer(value, what);
          // chmod/fchmod take a whole st_mode (0..0177777) as given, so a scenario can check
          // that the file-type bits are ignored; modes that create something stay 0..07777.
          bool whole_mode = step.op == "chmod" || step.op == "fchmod";
          long long limit = whole_mode ? 0177777 : 07777;
          if (mode < 0) fail(value, fmt::format("{} {} is negative (0..0{:o})", what, mode, limit));
          if (mode > limit)
            fail(value, fmt::format("{} 0{:o} is not a {} (0..0{:o})", what, mode, whole_mode ? "mode" : "permission mode", limit));
          request[arg.name] = mode;
          summary += fmt::format(" {}=0{:o}", arg.name, mode);
          break;
        }
        case ArgType::integer:
          request[arg.name] = integer(value, what);
          if (arg.name == "size" && !arg.required && op->results.size() > 0) {
            // A buffer the actor allocates: keep it sane.
            long long size = request[arg.name].get<long long>();
            if (size < 0 || size > (64LL << 20)) fail(value, fmt::format("{} must be within 0..64 MiB", what));
          }
          if ((step.op == "read" || step.op == "pread") && arg.name == "size") {
            long long size = request[arg.name].get<long long>();
            if (size < 0 || size > (64LL << 20)) fail(value, fmt::format("{} must be within 0..64 MiB", what));
          }
          if (arg.name == "count" && (request[arg.name].get<long long>() < 0 || request[arg.name].get<long long>() > 1000000))
            fail(value, fmt::format("{} must be within 0..1000000", what));
          summary += fmt::format(" {}={}", arg.name, request[arg.name].get<long long>());
          break;
        case ArgType::flags:
          request[arg.name] = flags_value(value, arg.family, what);
          summary += " " + flags_text(value);
          break;
        case ArgType::uid:
        case ArgType::gid:
          request[arg.name] = id_value(value, arg.type == ArgType::uid, scenario.actors, what);
          summary += fmt::format(" {}={}", arg.name, request[arg.name].get<long long>());
          break;
        case ArgType::time:
          if (node["times"]) fail(value, "give either times: null or atime/mtime");
          request[arg.name] = time_value(value, what);
          summary += fmt::format(" {}={}", arg.name, value.IsScalar() ? text(value, what) : "{..}");
          break;
        case ArgType::text:
          request[arg.name] = text(value, what);
          summary += " " + request[arg.name].get<std::string>();
          break;
        case ArgType::choice: {
          std::string choice = text(value, what);
          if (std::find(arg.choices.begin(), arg.choices.end(), choice) == arg.choices.end()) {
            std::string list;
            for (const auto& option : arg.choices) list += (list.empty() ? "" : ", ") + option;
            fail(value, fmt::format("{} '{}' is not one of: {}", what, choice, list));
          }
          request[arg.name] = choice;
          summary += " " + choice;
          break;
        }
        case ArgType::value: {
          ValueRef ref = value_ref(value, what, flow, nullptr);
          if (ref.kind == ValueRef::Kind::literal) request[arg.name] = ref.literal;
          else step.ref_args[arg.name] = ref;
          summary += " " + arg.name;
          break;
        }
        case ArgType::seconds:
          break;
      }
    }
    if (step.op == "utimensat" || step.op == "futimens") {
      if (node["times"]) {
        if (!node["times"].IsNull()) fail(node["times"], "times: may only be null (a NULL times array)");
        request["times_null"] = true;
        summary += " times=NULL";
      } else if (!node["atime"] || !node["mtime"]) {
        fail(node, step.op + " needs atime and mtime (now, omit, ns or {sec, nsec}), or times: null");
      }
    }
    if (op->data != DataArg::none) {
      int given = 0;
      for (const auto& key : data_keys) {
        if (!node[key]) continue;
        ++given;
        std::string bytes = data_value(node, key, node[key]);
        request["data"] = to_hex(bytes);
        summary += fmt::format(" <{} bytes>", bytes.size());
      }
      if (given > 1) fail(node, "give only one of data:, hex:, gen:, zeros:");
      if (given == 0 && op->data == DataArg::required) fail(node, step.op + " needs data:, hex:, gen: or zeros:");
    }
    if (step.actor != "root") summary += " (as " + step.actor + ")";
    step.summary = summary;

    step.expect = expect(node["expect"], *op, flow);
    if (node["save"]) {
      step.save = text(node["save"], "save");
      if (step.expect.kind != Expect::Kind::ok) fail(node["save"], "save: needs a step that expects success");
      if (op->results.empty()) fail(node["save"], fmt::format("{} has no result to save", step.op));
      flow.saved[step.save] = op;
    }
    return step;
  }

  std::string flags_text(const YAML::Node& node) const {
    if (node.IsScalar()) return substitute(node, node.Scalar());
    std::string out;
    for (const auto& item : node) out += (out.empty() ? "" : "|") + substitute(item, item.Scalar());
    return out.empty() ? "0" : out;
  }

  std::vector<Step> steps(const YAML::Node& node, const std::string& section, const Scenario& scenario,
                          const std::string& default_actor, FlowState& flow) const {
    std::vector<Step> out;
    if (!node) return out;
    if (!node.IsSequence()) fail(node, section + " must be a list of steps");
    for (const auto& item : node) out.push_back(step(item, scenario, default_actor, flow, false));
    return out;
  }

  Identity identity(const YAML::Node& node, const std::string& name) const {
    check_keys(node, {"uid", "gid", "groups", "umask"}, "actor '" + name + "'");
    if (!node["uid"]) fail(node, fmt::format("actor '{}' needs a uid", name));
    Identity id;
    id.uid = static_cast<uid_t>(integer(node["uid"], "uid"));
    id.gid = node["gid"] ? static_cast<gid_t>(integer(node["gid"], "gid")) : id.uid;
    if (node["groups"]) {
      if (!node["groups"].IsSequence()) fail(node["groups"], "groups must be a list of gids");
      for (const auto& group : node["groups"]) id.groups.push_back(static_cast<gid_t>(integer(group, "group")));
    }
    if (node["umask"]) {
      long long mask = integer(node["umask"], "umask");
      if (mask < 0 || mask > 0777) fail(node["umask"], "umask must be within 0..0777");
      id.umask = static_cast<mode_t>(mask);
    }
    return id;
  }

  Scenario scenario(const YAML::Node& doc, const std::string& base_name,
                    const std::vector<std::pair<std::string, std::string>>& combination) {
    check_keys(doc, {"format", "title", "refs", "tags", "requires", "mount", "actors", "default_actor", "workdir",
                     "timeout", "params", "setup", "steps", "cleanup", "repro"},
               "scenario");
    Scenario s;
    s.file = file_;
    s.base_name = base_name;
    s.params = combination;
    s.name = base_name;
    if (!combination.empty()) {
      s.name += "@";
      for (size_t i = 0; i < combination.size(); ++i)
        s.name += (i ? "," : "") + combination[i].first + "=" + combination[i].second;
    }
    if (!doc["format"]) fail(doc, "missing 'format: 1'");
    if (text(doc["format"], "format") != "1") fail(doc["format"], "unsupported format (this fusecheck reads format 1)");
    if (!doc["title"]) fail(doc, "missing 'title'");
    s.title = text(doc["title"], "title");
    if (!doc["refs"]) fail(doc, "missing 'refs' (cite what the scenario checks)");
    s.refs = string_list(doc["refs"], "refs");
    if (s.refs.empty()) fail(doc["refs"], "refs must cite at least one source");
    if (doc["tags"]) s.tags = string_list(doc["tags"], "tags");
    if (doc["requires"]) {
      for (const auto& feature : string_list(doc["requires"], "requires")) {
        const auto& known = known_features();
        if (std::find(known.begin(), known.end(), feature) == known.end())
          fail(doc["requires"], fmt::format("unknown feature '{}' (see docs/scenario-format.md section 6)", feature));
        s.requires_features.insert(feature);
      }
    }
    if (doc["mount"]) {
      s.mount_options = string_list(doc["mount"], "mount");
      for (const auto& option : s.mount_options)
        if (option.empty() || option.find_first_of(", ") != std::string::npos)
          fail(doc["mount"], fmt::format("mount option '{}' must be one option without commas or spaces", option));
      std::sort(s.mount_options.begin(), s.mount_options.end());
      if (!s.mount_options.empty()) s.requires_features.insert("mount_options");
    }
    s.actors["root"] = Identity{};
    actors_ = &s.actors;
    if (doc["actors"]) {
      if (!doc["actors"].IsMap()) fail(doc["actors"], "actors must be a map of name: {uid, gid, groups, umask}");
      static const std::regex actor_name("[a-z][a-z0-9_]*");
      for (const auto& entry : doc["actors"]) {
        std::string name = entry.first.Scalar();
        if (!std::regex_match(name, actor_name)) fail(entry.first, fmt::format("actor name '{}' must match [a-z][a-z0-9_]*", name));
        if (name == "root") fail(entry.first, "root is predefined; give another name to a differently configured root");
        s.actors[name] = identity(entry.second, name);
        if (s.actors[name].uid != 0) s.requires_features.insert("other_users");
      }
    }
    std::string default_actor = doc["default_actor"] ? text(doc["default_actor"], "default_actor") : "root";
    if (!s.actors.count(default_actor)) fail(doc["default_actor"], fmt::format("unknown actor '{}'", default_actor));
    if (doc["workdir"]) {
      const YAML::Node& w = doc["workdir"];
      check_keys(w, {"mode", "owner", "group"}, "workdir");
      if (w["mode"]) s.workdir.mode = static_cast<mode_t>(integer(w["mode"], "workdir mode"));
      if (w["owner"]) s.workdir.uid = static_cast<uid_t>(id_value(w["owner"], true, s.actors, "workdir owner"));
      if (w["group"]) s.workdir.gid = static_cast<gid_t>(id_value(w["group"], false, s.actors, "workdir group"));
    }
    if (doc["timeout"]) s.timeout = seconds(doc["timeout"], "timeout");
    if (doc["repro"]) check_keys(doc["repro"], {"test", "fs", "seed"}, "repro");
    if (!doc["steps"] || !doc["steps"].IsSequence() || doc["steps"].size() == 0)
      fail(doc["steps"] ? doc["steps"] : doc, "steps must be a non-empty list");
    FlowState flow;
    s.setup = steps(doc["setup"], "setup", s, "root", flow);
    s.steps = steps(doc["steps"], "steps", s, default_actor, flow);
    s.cleanup = steps(doc["cleanup"], "cleanup", s, default_actor, flow);
    return s;
  }

 private:
  std::string file_;
  std::map<std::string, std::string> params_;
  mutable const std::map<std::string, Identity>* actors_ = nullptr;
};

std::vector<std::vector<std::pair<std::string, std::string>>> combinations(const YAML::Node& node, const Parser& parser) {
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  if (!node) return {{}};
  if (node.IsMap()) {
    rows.push_back({});
    for (const auto& entry : node) {
      std::string key = entry.first.Scalar();
      std::vector<std::string> values;
      if (entry.second.IsScalar()) values.push_back(entry.second.Scalar());
      else if (entry.second.IsSequence() && entry.second.size() > 0)
        for (const auto& value : entry.second) {
          if (!value.IsScalar()) parser.fail(value, "parameter values must be scalars");
          values.push_back(value.Scalar());
        }
      else parser.fail(entry.second, fmt::format("parameter '{}' needs a non-empty list of values", key));
      std::vector<std::vector<std::pair<std::string, std::string>>> next;
      for (const auto& row : rows)
        for (const auto& value : values) {
          auto extended = row;
          extended.emplace_back(key, value);
          next.push_back(std::move(extended));
        }
      rows = std::move(next);
    }
    return rows;
  }
  if (!node.IsSequence() || node.size() == 0) parser.fail(node, "params must be a map of lists or a non-empty list of maps");
  std::vector<std::string> first_keys;
  for (const auto& row_node : node) {
    if (!row_node.IsMap()) parser.fail(row_node, "each params row must be a map");
    std::vector<std::pair<std::string, std::string>> row;
    std::vector<std::string> keys;
    for (const auto& entry : row_node) {
      if (!entry.second.IsScalar()) parser.fail(entry.second, "parameter values must be scalars");
      row.emplace_back(entry.first.Scalar(), entry.second.Scalar());
      keys.push_back(entry.first.Scalar());
    }
    if (first_keys.empty()) first_keys = keys;
    else if (keys != first_keys) parser.fail(row_node, "every params row must have the same keys in the same order");
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::vector<Scenario> parse_scenario_text(const std::string& text, const std::string& file, const std::string& base_name) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw FileError(fmt::format("{}:{}:{}: YAML syntax error: {}", file, error.mark.line + 1, error.mark.column + 1, error.msg));
  }
  Parser plain(file, {});
  if (!doc.IsMap()) plain.fail(doc, "a scenario file must be a YAML map");
  std::vector<YAML::Node> seen;
  plain.rewrite_keys(doc, false, seen, true);
  std::vector<Scenario> out;
  for (const auto& combination : combinations(doc["params"], plain)) {
    std::map<std::string, std::string> values(combination.begin(), combination.end());
    Parser parser(file, values);
    // Keys are substituted in place, so each combination reads its own copy of the document
    // (a fresh load keeps every position; YAML::Clone would drop them). `source` stays as written.
    YAML::Node working = YAML::Load(text);
    seen.clear();
    parser.rewrite_keys(working, true, seen, true);
    out.push_back(parser.scenario(working, base_name, combination));
    out.back().source = doc;
  }
  return out;
}

std::vector<Scenario> load_scenario_file(const std::string& path, const std::string& base_name) {
  std::ifstream in(path);
  if (!in) throw FileError(fmt::format("{}: cannot read the file", path));
  std::stringstream content;
  content << in.rdbuf();
  return parse_scenario_text(content.str(), path, base_name);
}

std::string repro_yaml(const Scenario& scenario, const std::string& fs, unsigned seed) {
  YAML::Node doc = YAML::Clone(scenario.source);
  if (!scenario.params.empty()) {
    YAML::Node row(YAML::NodeType::Map);
    for (const auto& [key, value] : scenario.params) row[key] = value;
    YAML::Node rows(YAML::NodeType::Sequence);
    rows.push_back(row);
    doc["params"] = rows;
  }
  YAML::Node repro(YAML::NodeType::Map);
  repro["test"] = scenario.name;
  repro["fs"] = fs;
  repro["seed"] = seed;
  doc["repro"] = repro;
  YAML::Emitter out;
  out << doc;
  return fmt::format("# fusecheck repro of {} (from {})\n# run it with: fusecheck replay THIS_FILE\n{}\n",
                     scenario.name, scenario.file, out.c_str());
}

namespace {
std::string offset_text(long long add) {
  if (add == 0) return "";
  return add > 0 ? fmt::format(" + {}", add) : fmt::format(" - {}", -static_cast<unsigned long long>(add));
}
}  // namespace

std::string Matcher::describe() const {
  auto value_text = [this] {
    switch (value.kind) {
      case ValueRef::Kind::saved:
        return fmt::format("saved '{}'{}{}", value.saved, value.field.empty() ? "" : "." + value.field, offset_text(value.add));
      case ValueRef::Kind::field: return "field " + value.field + offset_text(value.add);
      default: return value.literal.dump();
    }
  };
  auto items_text = [this] {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item.dump();
    return "[" + out + "]";
  };
  switch (kind) {
    case Kind::eq: return "== " + value_text();
    case Kind::ne: return "!= " + value_text();
    case Kind::lt: return "< " + value_text();
    case Kind::le: return "<= " + value_text();
    case Kind::gt: return "> " + value_text();
    case Kind::ge: return ">= " + value_text();
    case Kind::mask_eq: return fmt::format("& 0{:o} == {}", mask, value_text());
    case Kind::bits_set: return fmt::format("has bits 0{:o} set", mask);
    case Kind::bits_clear: return fmt::format("has bits 0{:o} clear", mask);
    case Kind::one_of: return "one of " + items_text();
    case Kind::changed: return "changed since '" + value.saved + "'";
    case Kind::unchanged: return "unchanged since '" + value.saved + "'";
    case Kind::recent: return fmt::format("within {} s of now", value.literal.dump());
    case Kind::set: return "the set " + items_text();
    case Kind::sequence: return "the sequence " + items_text();
    case Kind::contains: return "contains " + items_text();
    case Kind::excludes: return "excludes " + items_text();
    case Kind::each_once: return "each exactly once: " + items_text();
    case Kind::unique: return "no duplicates";
    case Kind::len: {
      std::string out = "length";
      for (const auto& inner : nested) out += " " + inner.describe();
      return out;
    }
  }
  return "?";
}

std::string Expect::describe() const {
  if (kind == Kind::any) return "any result";
  if (kind == Kind::ok) return "success";
  std::string names;
  for (int err : errnos) names += (names.empty() ? "" : " or ") + errno_name(err);
  return names;
}

}  // namespace fusecheck
