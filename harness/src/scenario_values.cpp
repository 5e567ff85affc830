// Scenario parser, scalars: params substitution, map keys, integers, seconds, booleans,
// lists, lexically confined paths, data forms, flags, ids and times. Each reads one YAML node
// and fails with that node's file:line:col.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>
#include <sstream>

#include "fusecheck/protocol.hpp"
#include "scenario_parser.hpp"

namespace fusecheck::parsing {

using nlohmann::json;

namespace {

// The entries of the map child() read last on this thread: the parser asks one map for
// several keys in a row (a step's optional keys), and each walk of a yaml-cpp map builds
// nodes for every entry. The copy of the map keeps its document, so the key views stay valid
// (documents are not changed once their keys are checked).
struct RecentMap {
  YAML::Node map;
  std::vector<std::pair<std::string_view, YAML::Node>> entries;
};
thread_local RecentMap recent;

}  // namespace

YAML::Node child(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return map[std::string(key)];  // yaml-cpp's own answer, errors included
  if (!map.is(recent.map)) {
    recent.entries.clear();
    for (const auto& entry : map) recent.entries.emplace_back(entry.first.Scalar(), entry.second);
    recent.map.reset(map);  // not `=`, which would make the old map's node refer to this one
  }
  for (const auto& [name, value] : recent.entries)
    if (name == key) return value;
  static const YAML::Node absent = [] {
    const YAML::Node empty(YAML::NodeType::Map);
    return empty["absent"];  // the const operator[] adds nothing
  }();
  return absent;
}

std::string Parser::where(const YAML::Node& node) const {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return file_;
  return fmt::format("{}:{}:{}", file_, mark.line + 1, mark.column + 1);
}

std::string Parser::substitute(const YAML::Node& node, const std::string& raw) const {
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
      const auto& vars = repeat_vars_.count(name) ? repeat_vars_ : params_;
      auto found = vars.find(name);
      if (found == vars.end()) fail(node, "unknown parameter ${" + name + "} (not declared in params or by repeat)");
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
// once, so `$$` cannot be expanded twice. Returns whether a key substitution could change
// (a key outside `params` holds a '$').
bool Parser::rewrite_keys(YAML::Node node, bool substitute_params, std::set<size_t>& seen, bool top) const {
  // A node reached again through an alias has the same position: visit it once.
  if ((node.IsSequence() || node.IsMap()) && !seen.insert(node.Mark().pos).second) return false;
  bool dollar = false;
  if (node.IsSequence()) {
    for (YAML::Node item : node) dollar = rewrite_keys(item, substitute_params, seen) || dollar;
    return dollar;
  }
  if (!node.IsMap()) return false;
  std::set<std::string> keys;
  for (auto entry : node) {
    YAML::Node key = entry.first;
    if (!key.IsScalar()) fail(key, "map keys must be scalars");
    if (key.Scalar() == "<<")
      fail(key, "merge keys (<<) are not supported; use an alias of a whole value (*name) or write the keys out");
    bool is_params = top && key.Scalar() == "params";
    if (!is_params && key.Scalar().find('$') != std::string::npos) {
      dollar = true;
      if (substitute_params) key = substitute(key, key.Scalar());
    }
    if (!keys.insert(key.Scalar()).second) fail(key, fmt::format("duplicate key '{}'", key.Scalar()));
    if (!is_params) dollar = rewrite_keys(entry.second, substitute_params, seen) || dollar;
  }
  return dollar;
}

namespace {

// Nodes under `node`, each alias counted as the whole value it stands for; memoised by
// position so the count takes time linear in the document, and saturating above `cap`.
size_t expanded_nodes(const YAML::Node& node, std::unordered_map<size_t, size_t>& memo, size_t cap) {
  if (!node.IsSequence() && !node.IsMap()) return 1;
  auto known = memo.find(node.Mark().pos);
  if (known != memo.end()) return known->second;
  memo[node.Mark().pos] = cap + 1;  // a node that contains itself expands without end
  size_t total = 1;
  for (const auto& item : node) {
    total += node.IsMap() ? expanded_nodes(item.first, memo, cap) + expanded_nodes(item.second, memo, cap)
                          : expanded_nodes(item, memo, cap);
    if (total > cap) break;
  }
  memo[node.Mark().pos] = std::min(total, cap + 1);
  return memo[node.Mark().pos];
}

}  // namespace

void Parser::check_expanded_size(const YAML::Node& doc) const {
  std::unordered_map<size_t, size_t> memo;
  if (expanded_nodes(doc, memo, kMaxExpandedNodes) > kMaxExpandedNodes)
    fail(doc, fmt::format("the document has more than {} nodes once its aliases are expanded", kMaxExpandedNodes));
}

void Parser::spend_data(const YAML::Node& node, size_t bytes) const {
  budget_->data_bytes += bytes;
  if (bytes > kMaxDataBytes || budget_->data_bytes > kMaxDataBytes)
    fail(node, fmt::format("the file's data (data:, gen:, zeros:, ranges, in all params combinations) exceeds {} MiB",
                           kMaxDataBytes >> 20));
}

std::string Parser::text(const YAML::Node& node, const std::string& what) const {
  if (!node.IsScalar()) fail(node, what + " must be a scalar");
  return substitute(node, node.Scalar());
}

long long Parser::integer_text(const YAML::Node& node, const std::string& raw, const std::string& what) const {
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

long long Parser::integer(const YAML::Node& node, const std::string& what) const {
  return integer_text(node, text(node, what), what);
}

double Parser::seconds(const YAML::Node& node, const std::string& what) const {
  std::string raw = text(node, what);
  try {
    size_t used = 0;
    double value = std::stod(raw, &used);
    if (used == raw.size() && value >= 0 && value <= kMaxTimeout) return value;
  } catch (const std::exception&) {
  }
  fail(node, fmt::format("{} must be a number of seconds within 0..{}, got '{}'", what, kMaxTimeout, raw));
}

bool Parser::boolean(const YAML::Node& node, const std::string& what) const {
  std::string raw = text(node, what);
  if (raw == "true") return true;
  if (raw == "false") return false;
  fail(node, fmt::format("{} must be true or false, got '{}'", what, raw));
}

void Parser::check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what) const {
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

std::vector<std::string> Parser::string_list(const YAML::Node& node, const std::string& what) const {
  std::vector<std::string> out;
  if (node.IsScalar()) return {text(node, what)};
  if (!node.IsSequence()) fail(node, what + " must be a list");
  for (const auto& item : node) out.push_back(text(item, what + " item"));
  return out;
}

// Lexical confinement: no absolute paths, no climbing above `depth` directories.
std::vector<std::string> Parser::confined(const YAML::Node& node, const std::string& path, const std::string& what,
                                          std::vector<std::string> start) const {
  if (path.empty()) fail(node, what + " is empty");
  if (path[0] == '/')
    fail(node, fmt::format("{} '{}' is absolute; paths are relative to the test's workdir", what, path));
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

std::string Parser::data_value(const YAML::Node& step, const std::string& key, const YAML::Node& value) const {
  if (key == "data") {
    std::string bytes = text(value, "data");
    spend_data(value, bytes.size());
    return bytes;
  }
  if (key == "hex") {
    std::string raw = text(value, "hex");
    raw.erase(std::remove(raw.begin(), raw.end(), ' '), raw.end());
    auto bytes = from_hex(raw);
    if (!bytes) fail(value, "hex must be an even number of hex digits");
    spend_data(value, bytes->size());
    return *bytes;
  }
  if (key == "zeros") {
    auto size = static_cast<size_t>(non_negative(value, "zeros"));
    spend_data(value, size);
    return std::string(size, '\0');
  }
  if (key == "gen") {
    check_keys(value, {"size", "seed", "from"}, "gen");
    if (!child(value, "size")) fail(value, "gen needs a size");
    long long seed = child(value, "seed") ? integer(child(value, "seed"), "gen seed") : 0;
    auto size = static_cast<size_t>(non_negative(child(value, "size"), "gen size"));
    // from: N skips the stream's first N bytes, so the bytes at file offset N of a file written
    // with gen {size: S, seed} can be named on their own.
    auto from = child(value, "from") ? static_cast<size_t>(non_negative(child(value, "from"), "gen from")) : 0;
    spend_data(child(value, "size"), from + size);
    return generate_bytes(size, static_cast<unsigned long long>(seed), from);
  }
  fail(step, "unknown data form " + key);
}

long long Parser::non_negative(const YAML::Node& node, const std::string& what) const {
  long long value = integer(node, what);
  if (value < 0) fail(node, what + " must not be negative");
  if (value > (64LL << 20)) fail(node, what + " is larger than 64 MiB");
  return value;
}

// A byte-string literal in a matcher: "text" or {hex|gen|zeros|data: ...}.
std::string Parser::bytes_literal(const YAML::Node& node, const std::string& what) const {
  if (node.IsScalar()) return text(node, what);
  if (!node.IsMap() || node.size() != 1) fail(node, what + " must be text or one of {hex:, gen:, zeros:, data:}");
  auto entry = *node.begin();
  std::string key = entry.first.Scalar();
  if (std::find(data_keys.begin(), data_keys.end(), key) == data_keys.end())
    fail(entry.first, fmt::format("unknown data form '{}' (allowed: data, hex, gen, zeros)", key));
  return data_value(node, key, entry.second);
}

long Parser::flags_value(const YAML::Node& node, FlagFamily family, const std::string& what) const {
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

// A uid or gid: 0..4294967294. (uid_t)-1 is "no change" to set*id() and chown(), so an actor
// given it would silently stay root; larger values would wrap.
long long Parser::id_number(const YAML::Node& node, const std::string& what) const {
  long long value = integer(node, what);
  if (value < 0 || value > kMaxId) fail(node, fmt::format("{} {} is out of range (0..{})", what, value, kMaxId));
  return value;
}

long long Parser::id_value(const YAML::Node& node, bool want_uid, const std::map<std::string, Identity>& actors,
                           const std::string& what, bool allow_unchanged) const {
  std::string raw = text(node, what);
  auto actor = actors.find(raw);
  if (actor != actors.end()) return want_uid ? actor->second.uid : actor->second.gid;
  if (raw.empty() || !(std::isdigit(static_cast<unsigned char>(raw[0])) || raw[0] == '-'))
    fail(node, fmt::format("{} '{}' is neither a number nor an actor name", what, raw));
  long long value = integer_text(node, raw, what);
  if (value < (allow_unchanged ? -1 : 0) || value > kMaxId)
    fail(node, fmt::format("{} {} is out of range ({}..{})", what, value, allow_unchanged ? -1 : 0, kMaxId));
  return value;
}

json Parser::time_value(const YAML::Node& node, const std::string& what) const {
  if (node.IsMap()) {
    check_keys(node, {"sec", "nsec"}, what);
    long long sec = child(node, "sec") ? integer(child(node, "sec"), what + ".sec") : 0;
    long long nsec = child(node, "nsec") ? integer(child(node, "nsec"), what + ".nsec") : 0;
    // Kept apart, as written: an out-of-range tv_nsec must reach the kernel (EINVAL), not
    // be folded into the seconds.
    return json{{"kind", "ts"}, {"sec", sec}, {"nsec", nsec}};
  }
  std::string raw = text(node, what);
  if (raw == "now" || raw == "omit") return json{{"kind", raw}};
  return json{{"kind", "ns"}, {"ns", integer_text(node, raw, what)}};
}

}  // namespace fusecheck::parsing
