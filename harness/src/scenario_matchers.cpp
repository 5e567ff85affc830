// Scenario parser, `expect`: ok/any/errno forms and field matchers (docs/scenario-format.md
// section 8), each checked against the op's result fields in the op table. Evaluating them
// is matching.cpp's job.
#include <algorithm>

#include "fusecheck/protocol.hpp"
#include "scenario_parser.hpp"

namespace fusecheck::parsing {

using nlohmann::json;

namespace {

const std::vector<std::string> list_matchers = {"set",       "sequence", "contains", "excludes",
                                                "each_once", "unique",   "len"};
const std::vector<std::string> integer_matchers = {
    "eq", "ne", "lt", "le", "gt", "ge", "mask", "bits_set", "bits_clear", "one_of", "changed", "unchanged", "recent"};
const std::vector<std::string> other_matchers = {"eq", "ne", "one_of", "changed", "unchanged"};

const std::map<std::string, Matcher::Kind> matcher_kinds = {
    {"eq", Matcher::Kind::eq},
    {"ne", Matcher::Kind::ne},
    {"lt", Matcher::Kind::lt},
    {"le", Matcher::Kind::le},
    {"gt", Matcher::Kind::gt},
    {"ge", Matcher::Kind::ge},
    {"bits_set", Matcher::Kind::bits_set},
    {"bits_clear", Matcher::Kind::bits_clear},
    {"one_of", Matcher::Kind::one_of},
    {"changed", Matcher::Kind::changed},
    {"unchanged", Matcher::Kind::unchanged},
    {"recent", Matcher::Kind::recent},
    {"set", Matcher::Kind::set},
    {"sequence", Matcher::Kind::sequence},
    {"contains", Matcher::Kind::contains},
    {"excludes", Matcher::Kind::excludes},
    {"each_once", Matcher::Kind::each_once},
    {"unique", Matcher::Kind::unique},
    {"len", Matcher::Kind::len},
};

}  // namespace

ValueRef Parser::value_ref(const YAML::Node& node, const std::string& what, const FlowState& flow,
                           const OpSpec* current) const {
  ValueRef ref;
  if (node.IsMap()) {
    check_keys(node, {"saved", "field", "add"}, what);
    if (child(node, "add")) ref.add = integer(child(node, "add"), what + " add");
    if (child(node, "saved")) {
      ref.kind = ValueRef::Kind::saved;
      ref.saved = text(child(node, "saved"), "saved");
      auto saved = flow.saved.find(ref.saved);
      if (saved == flow.saved.end())
        fail(child(node, "saved"), fmt::format("no earlier step saves a result named '{}'", ref.saved));
      if (child(node, "field")) {
        ref.field = text(child(node, "field"), "field");
        if (!saved->second->result(ref.field))
          fail(child(node, "field"),
               fmt::format("saved result '{}' ({}) has no field '{}'", ref.saved, saved->second->name, ref.field));
      }
    } else if (child(node, "field")) {
      ref.kind = ValueRef::Kind::field;
      ref.field = text(child(node, "field"), "field");
      if (current == nullptr || !current->result(ref.field))
        fail(child(node, "field"), fmt::format("this result has no field '{}'", ref.field));
    } else {
      fail(node,
           what + " reference needs saved: or field:" + (child(node, "add") ? " (add: offsets a reference)" : ""));
    }
    return ref;
  }
  ref.literal = integer(node, what);
  return ref;
}

json Parser::literal_of(FieldKind kind, const YAML::Node& node, const std::string& what,
                        const ResultField* field) const {
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
      // An element names the keys the op's entries carry (op table), name required.
      if (node.IsScalar()) return json{{"name", text(node, what)}};
      check_keys(node, field ? field->entry_keys : std::vector<std::string>{"name"}, what);
      if (!child(node, "name")) fail(node, what + " needs a name");
      json entry{{"name", text(child(node, "name"), "name")}};
      for (const char* key : {"type"})
        if (child(node, key)) entry[key] = text(child(node, key), key);
      for (const char* key : {"ino", "off"})
        if (child(node, key)) entry[key] = integer(child(node, key), key);
      return entry;
    }
  }
  return {};
}

std::vector<Matcher> Parser::matchers(FieldKind kind, const YAML::Node& node, const std::string& field,
                                      const FlowState& flow, const OpSpec& op) const {
  bool list_kind = kind == FieldKind::names || kind == FieldKind::entries;
  bool is_data_form = kind == FieldKind::bytes && node.IsMap() && node.size() == 1 &&
                      std::find(data_keys.begin(), data_keys.end(), node.begin()->first.Scalar()) != data_keys.end();
  if (!node.IsMap() || is_data_form) {
    if (list_kind)
      fail(node,
           fmt::format("field '{}' is a list: use set:, sequence:, contains:, excludes:, each_once:, unique: or len:",
                       field));
    Matcher eq{Matcher::Kind::eq};
    eq.value.literal = literal_of(kind, node, field, op.result(field));
    return {eq};
  }
  check_keys(node,
             list_kind                    ? list_matchers
             : kind == FieldKind::integer ? integer_matchers
                                          : other_matchers,
             fmt::format("matcher of '{}'", field));
  if (child(node, "mask") && !child(node, "eq")) fail(node, "mask: needs eq: (the value of the masked bits)");
  std::vector<Matcher> out;
  for (const auto& entry : node) {
    std::string key = entry.first.Scalar();
    if (key == "mask") continue;  // consumed with eq
    if (key == "unique" && !boolean(entry.second, "unique")) continue;
    out.push_back(field_matcher(key, entry.second, node, kind, field, flow, op));
  }
  return out;
}

// One `key: value` of a field's matcher map.
Matcher Parser::field_matcher(const std::string& key, const YAML::Node& value, const YAML::Node& node, FieldKind kind,
                              const std::string& field, const FlowState& flow, const OpSpec& op) const {
  Matcher m{matcher_kinds.at(key)};
  if (m.compares()) {
    if (value.IsMap() && (child(value, "saved") || child(value, "field") || child(value, "add")))
      m.value = value_ref(value, key, flow, &op);
    else
      m.value.literal = literal_of(kind, value, field, op.result(field));
    if (key == "eq" && child(node, "mask")) {
      m.kind = Matcher::Kind::mask_eq;
      m.mask = integer(child(node, "mask"), "mask");
    }
    return m;
  }
  switch (m.kind) {
    case Matcher::Kind::bits_set:
    case Matcher::Kind::bits_clear: m.mask = integer(value, key); break;
    case Matcher::Kind::one_of:
      if (!value.IsSequence()) fail(value, "one_of must be a list");
      for (const auto& item : value) m.items.push_back(literal_of(kind, item, field, op.result(field)));
      break;
    case Matcher::Kind::changed:
    case Matcher::Kind::unchanged: {
      m.value.kind = ValueRef::Kind::saved;
      m.value.saved = text(value, key);
      auto saved = flow.saved.find(m.value.saved);
      if (saved == flow.saved.end())
        fail(value, fmt::format("no earlier step saves a result named '{}'", m.value.saved));
      if (!saved->second->result(field))
        fail(value, fmt::format("saved result '{}' ({}) has no field '{}'", m.value.saved, saved->second->name, field));
      break;
    }
    case Matcher::Kind::recent: m.value.literal = seconds(value, "recent"); break;
    case Matcher::Kind::len: m.nested = matchers(FieldKind::integer, value, field + " length", flow, op); break;
    case Matcher::Kind::unique: break;
    default:
      if (!value.IsSequence()) fail(value, key + " must be a list");
      list_items(m, kind, value, field, op.result(field));
      break;
  }
  return m;
}

// The items of set/sequence/contains/excludes/each_once; {range: {prefix, count, start}}
// stands for the names prefixS .. prefix(S+N-1).
void Parser::list_items(Matcher& m, FieldKind kind, const YAML::Node& value, const std::string& field,
                        const ResultField* spec) const {
  for (const auto& item : value) {
    if (!(item.IsMap() && child(item, "range"))) {
      m.items.push_back(literal_of(kind, item, field + " item", spec));
      continue;
    }
    check_keys(item, {"range"}, "range item");
    const YAML::Node& range = child(item, "range");
    check_keys(range, {"prefix", "count", "start"}, "range");
    if (!child(range, "count")) fail(range, "range needs a count");
    std::string prefix = child(range, "prefix") ? text(child(range, "prefix"), "range prefix") : "";
    long long start = child(range, "start") ? integer(child(range, "start"), "range start") : 0;
    long long count = non_negative(child(range, "count"), "range count");
    spend_data(child(range, "count"), static_cast<size_t>(count) * 16);  // each name costs about that much
    for (long long i = start; i < start + count; ++i) {
      json name = prefix + std::to_string(i);
      m.items.push_back(kind == FieldKind::entries ? json{{"name", name}} : name);
    }
  }
}

Expect Parser::expect(const YAML::Node& node, const OpSpec& op, const FlowState& flow) const {
  Expect result;
  if (!node) return result;
  if (node.IsScalar()) {
    std::string raw = text(node, "expect");
    if (raw == "ok") return result;
    if (raw == "any") {
      result.kind = Expect::Kind::any;
      return result;
    }
    if (raw == "hang") {
      result.kind = Expect::Kind::hang;
      return result;
    }
    result.kind = Expect::Kind::error;
    if (auto signal = signal_from_name(raw)) {
      result.signals.push_back(*signal);
      return result;
    }
    auto err = errno_from_name(raw);
    if (!err) fail(node, fmt::format("expect '{}' is not ok, any, or an errno name, a signal name or hang", raw));
    result.errnos.push_back(*err);
    return result;
  }
  if (!node.IsMap()) fail(node, "expect must be ok, any, an errno name, or a map of field matchers");
  for (const char* key : {"errno", "signal"}) {
    if (!child(node, key)) continue;
    bool is_errno = key == std::string("errno");
    if (node.size() != 1)
      fail(node, fmt::format("expect with {}: takes no field matchers (a failed call has no result)", key));
    result.kind = Expect::Kind::error;
    for (const auto& name : string_list(child(node, key), key)) {
      auto number = is_errno ? errno_from_name(name) : signal_from_name(name);
      if (!number) fail(child(node, key), fmt::format("unknown {} name '{}'", key, name));
      (is_errno ? result.errnos : result.signals).push_back(*number);
    }
    return result;
  }
  for (const auto& entry : node) {
    std::string field = entry.first.Scalar();
    const ResultField* spec = op.result(field);
    if (spec == nullptr) {
      std::string list;
      for (const auto& f : op.results) list += (list.empty() ? "" : ", ") + f.name;
      fail(entry.first,
           fmt::format("{} has no result field '{}' (fields: {})", op.name, field, list.empty() ? "none" : list));
    }
    result.fields.push_back(
        FieldExpect{field, spec->kind, matchers(spec->kind, entry.second, field, flow, op), where(entry.second)});
  }
  return result;
}

}  // namespace fusecheck::parsing
