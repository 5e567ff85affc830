// Generation, model effect, actor requests, result normalisation and scenario text of one
// fuzzed operation. The name space is tiny on purpose: collisions (EEXIST, ENOTEMPTY,
// rename over existing names, links to the same inode) are where filesystems go wrong.
#include "operation.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <algorithm>
#include <rapidcheck.h>
#include <sstream>

#include "fusecheck/names.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::fuzz {
namespace {

const std::vector<std::string> kNames = {"a", "b", "c", "d", "d/a", "d/b"};
const std::vector<std::string> kLinkTexts = {"a", "b", "d", "d/a", "c"};
const std::string kXattrName = "user.x";

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

bool is_inside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

std::string quoted(const std::string& text) { return json(text).dump(); }

std::string octal(unsigned value) {
  std::ostringstream out;
  out << '0' << std::oct << value;
  return out.str();
}

// Moves `from` (and, for a directory, everything inside it) to `to` in the model.
void move_subtree(NameModel& model, const std::string& from, const std::string& to) {
  std::map<std::string, NodeType> moved;
  for (auto it = model.nodes.begin(); it != model.nodes.end();) {
    if (it->first == from || is_inside(it->first, from)) {
      moved[to + it->first.substr(from.size())] = it->second;
      it = model.nodes.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [path, type] : moved) model.nodes[path] = type;
}

void remove_subtree(NameModel& model, const std::string& path) {
  std::erase_if(model.nodes, [&](const auto& node) { return node.first == path || is_inside(node.first, path); });
}

std::string data_text(OpKind kind) {
  // create_file and pwrite carry file bytes, setxattr a value; a zero byte checks that
  // nothing treats data as C strings.
  int longest = kind == OpKind::setxattr ? 6 : 8;
  int size = *rc::gen::inRange(kind == OpKind::pwrite ? 1 : 0, longest + 1);
  return *rc::gen::container<std::string>(static_cast<size_t>(size), rc::gen::element<char>('A', 'B', 'z', '\0'));
}

}  // namespace

bool NameModel::parent_is_dir(const std::string& path) const {
  auto parent = parent_of(path);
  if (parent.empty()) return true;
  auto found = nodes.find(parent);
  return found != nodes.end() && found->second == NodeType::dir;
}

bool NameModel::dir_empty(const std::string& dir) const {
  return std::none_of(nodes.begin(), nodes.end(), [&](const auto& node) { return is_inside(node.first, dir); });
}

Operation Operation::generate(const NameModel& model) {
  std::vector<std::string> existing;
  for (const auto& [path, type] : model.nodes) existing.push_back(path);
  // Operations that need a subject are only drawn once something exists.
  std::vector<std::pair<uint32_t, OpKind>> kinds = {
      {6, OpKind::create_file}, {3, OpKind::mkdir}, {2, OpKind::symlink}, {3, OpKind::stat}, {2, OpKind::listdir}};
  if (!existing.empty()) {
    kinds.insert(kinds.end(), {{4, OpKind::pwrite},
                               {2, OpKind::truncate},
                               {3, OpKind::read_file},
                               {2, OpKind::rmdir},
                               {3, OpKind::unlink},
                               {3, OpKind::link},
                               {5, OpKind::rename},
                               {2, OpKind::chmod},
                               {2, OpKind::setxattr},
                               {2, OpKind::getxattr},
                               {1, OpKind::removexattr}});
  }
  Operation op;
  // Each kind repeated by its weight; elementOf shrinks towards the front (create_file).
  std::vector<OpKind> weighted;
  for (const auto& [weight, kind] : kinds) weighted.insert(weighted.end(), weight, kind);
  op.kind = *rc::gen::elementOf(weighted);
  auto any_name = [] { return *rc::gen::elementOf(kNames); };
  auto existing_name = [&] { return *rc::gen::elementOf(existing); };
  switch (op.kind) {
    case OpKind::create_file:
      op.path = any_name();
      op.mode = *rc::gen::element<mode_t>(0644, 0600, 0755);
      op.data = data_text(op.kind);
      break;
    case OpKind::pwrite:
      op.path = existing_name();
      op.offset = *rc::gen::inRange(0, 17);
      op.data = data_text(op.kind);
      break;
    case OpKind::truncate:
      op.path = existing_name();
      op.size = *rc::gen::inRange(0, 25);
      break;
    case OpKind::mkdir:
      op.path = any_name();
      op.mode = *rc::gen::element<mode_t>(0755, 0700);
      break;
    case OpKind::symlink:
      op.path = any_name();
      op.other = *rc::gen::elementOf(kLinkTexts);
      break;
    case OpKind::stat:
    case OpKind::listdir:
      // Mostly names that exist; sometimes the workdir (listdir) or a missing name.
      op.path = op.kind == OpKind::listdir ? *rc::gen::element<std::string>(".", "d") : any_name();
      break;
    case OpKind::link:
    case OpKind::rename:
      op.path = existing_name();
      op.other = any_name();
      if (op.kind == OpKind::rename) op.flags = *rc::gen::element<unsigned>(0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE);
      break;
    case OpKind::chmod:
      op.path = existing_name();
      op.mode = *rc::gen::element<mode_t>(0644, 0600, 0755, 0444, 0000, 01777);
      break;
    case OpKind::setxattr:
      op.path = existing_name();
      op.data = data_text(op.kind);
      op.flags = *rc::gen::element<unsigned>(0, XATTR_CREATE, XATTR_REPLACE);
      break;
    case OpKind::read_file:
    case OpKind::rmdir:
    case OpKind::unlink:
    case OpKind::getxattr:
    case OpKind::removexattr: op.path = existing_name(); break;
  }
  return op;
}

void Operation::check_preconditions(const NameModel& model) const {
  switch (kind) {
    case OpKind::create_file:
    case OpKind::mkdir:
    case OpKind::symlink:
    case OpKind::stat:
    case OpKind::listdir: return;  // meaningful whether or not the name exists (EEXIST, ENOENT are results too)
    default: RC_PRE(model.exists(path));
  }
}

void Operation::apply(NameModel& model) const {
  const bool can_create = model.parent_is_dir(path) && !model.exists(path);
  switch (kind) {
    case OpKind::create_file:
      if (can_create) model.nodes[path] = NodeType::file;
      break;
    case OpKind::mkdir:
      if (can_create) model.nodes[path] = NodeType::dir;
      break;
    case OpKind::symlink:
      if (can_create) model.nodes[path] = NodeType::symlink;
      break;
    case OpKind::rmdir:
      if (model.exists(path) && model.nodes[path] == NodeType::dir && model.dir_empty(path)) model.nodes.erase(path);
      break;
    case OpKind::unlink:
      if (model.exists(path) && model.nodes[path] != NodeType::dir) model.nodes.erase(path);
      break;
    case OpKind::link:
      if (model.exists(path) && model.nodes[path] != NodeType::dir && model.parent_is_dir(other) &&
          !model.exists(other))
        model.nodes[other] = model.nodes[path];
      break;
    case OpKind::rename: {
      if (!model.exists(path) || !model.parent_is_dir(other) || path == other) break;
      if (is_inside(other, path)) break;  // EINVAL: into itself
      const bool target_exists = model.exists(other);
      if (flags & RENAME_EXCHANGE) {
        if (!target_exists || is_inside(path, other)) break;
        move_subtree(model, path, "\x01swap");
        move_subtree(model, other, path);
        move_subtree(model, "\x01swap", other);
        break;
      }
      if (target_exists) {
        if (flags & RENAME_NOREPLACE) break;
        NodeType from_type = model.nodes[path], to_type = model.nodes[other];
        if ((from_type == NodeType::dir) != (to_type == NodeType::dir)) break;
        if (to_type == NodeType::dir && !model.dir_empty(other)) break;
        remove_subtree(model, other);
      }
      move_subtree(model, path, other);
      break;
    }
    default: break;  // data, modes and xattrs do not change the name space
  }
}

std::vector<json> Operation::requests() const {
  switch (kind) {
    case OpKind::create_file:
      return {make_request("create_file", {{"path", path}, {"mode", mode}, {"data", to_hex(data)}})};
    case OpKind::pwrite:
      return {make_request("open", {{"path", path}, {"flags", O_WRONLY}, {"mode", 0644}, {"fd", "f"}}),
              make_request("pwrite", {{"fd", "f"}, {"data", to_hex(data)}, {"offset", offset}}),
              make_request("close", {{"fd", "f"}})};
    case OpKind::truncate: return {make_request("truncate", {{"path", path}, {"size", size}})};
    case OpKind::read_file: return {make_request("read_file", {{"path", path}})};
    case OpKind::mkdir: return {make_request("mkdir", {{"path", path}, {"mode", mode}})};
    case OpKind::rmdir: return {make_request("rmdir", {{"path", path}})};
    case OpKind::unlink: return {make_request("unlink", {{"path", path}})};
    case OpKind::link: return {make_request("link", {{"from", path}, {"to", other}})};
    case OpKind::symlink: return {make_request("symlink", {{"target", other}, {"path", path}})};
    case OpKind::rename:
      if (flags == 0) return {make_request("rename", {{"from", path}, {"to", other}})};
      return {make_request("renameat2", {{"from", path}, {"to", other}, {"flags", flags}})};
    case OpKind::chmod: return {make_request("chmod", {{"path", path}, {"mode", mode}})};
    case OpKind::stat: return {make_request("lstat", {{"path", path}})};
    case OpKind::listdir: return {make_request("listdir", {{"path", path}})};
    case OpKind::setxattr:
      return {
          make_request("setxattr", {{"path", path}, {"name", kXattrName}, {"data", to_hex(data)}, {"flags", flags}})};
    case OpKind::getxattr: return {make_request("getxattr", {{"path", path}, {"name", kXattrName}, {"size", 256}})};
    case OpKind::removexattr: return {make_request("removexattr", {{"path", path}, {"name", kXattrName}})};
  }
  return {};
}

std::string Operation::scenario_step(size_t index) const {
  const json request = requests().at(index);
  const std::string op = request.at("op");
  std::string text = "op: " + op;
  auto add = [&](const std::string& key, const std::string& value) { text += ", " + key + ": " + value; };
  for (const char* key : {"path", "from", "to", "target", "fd", "name"})
    if (request.contains(key)) add(key, quoted(request.at(key).get<std::string>()));
  if (request.contains("mode") && op != "open") add("mode", octal(request.at("mode").get<unsigned>()));
  if (op == "open") add("flags", "[O_WRONLY]");
  if (request.contains("data")) add("hex", quoted(request.at("data").get<std::string>()));
  if (request.contains("offset")) add("offset", std::to_string(request.at("offset").get<long>()));
  if (request.contains("size")) add("size", std::to_string(request.at("size").get<long>()));
  if (op == "renameat2") add("flags", flags & RENAME_EXCHANGE ? "[RENAME_EXCHANGE]" : "[RENAME_NOREPLACE]");
  if (op == "setxattr")
    add("flags", flags == XATTR_CREATE ? "[XATTR_CREATE]" : flags == XATTR_REPLACE ? "[XATTR_REPLACE]" : "[]");
  return text;
}

std::vector<std::string> Operation::required_features() const {
  switch (kind) {
    case OpKind::link: return {"hardlinks"};
    case OpKind::symlink: return {"symlinks"};
    case OpKind::setxattr:
    case OpKind::getxattr:
    case OpKind::removexattr: return {"xattr.user"};
    case OpKind::rename:
      if (flags & RENAME_NOREPLACE) return {"rename_noreplace"};
      if (flags & RENAME_EXCHANGE) return {"rename_exchange"};
      return {};
    default: return {};
  }
}

std::string Operation::describe() const {
  std::string text;
  const auto all = requests();
  for (size_t i = 0; i < all.size(); ++i) text += (i ? "; " : "") + scenario_step(i);
  return "{" + text + "}";
}

std::ostream& operator<<(std::ostream& os, const Operation& op) { return os << op.describe(); }

json normalise_reply(const json& request, const json& reply_body, int status, const std::string& detail) {
  if (status != 0) return json{{"broken", detail}};
  if (reply_body.contains("protocol_error")) return json{{"broken", reply_body.at("protocol_error")}};
  if (!reply_body.value("ok", false)) return json{{"errno", errno_name(reply_body.at("errno").get<int>())}};
  const json& result = reply_body.at("r");
  const std::string op = request.at("op");
  json fields = json::object();
  if (op == "lstat") {
    fields["type"] = result.at("type");
    fields["perm"] = result.at("perm");
    fields["nlink"] = result.at("nlink");
    // A directory's st_size is filesystem-specific (tmpfs counts entries, ext4 blocks).
    if (result.at("type") != "dir") fields["size"] = result.at("size");
  } else if (op == "listdir") {
    auto names = result.at("names").get<std::vector<std::string>>();
    std::sort(names.begin(), names.end());  // readdir order is unspecified
    fields["names"] = names;
  } else if (op == "read_file" || op == "getxattr") {
    fields["data"] = result.at("data");
  } else if (op == "pwrite") {
    fields["size"] = result.at("size");
  }
  return json{{"ok", fields}};
}

std::string expect_yaml(const json& normalised) {
  if (normalised.contains("errno")) return normalised.at("errno").get<std::string>();
  if (normalised.contains("broken")) return "ok";  // the oracle never breaks; kept total
  const json& fields = normalised.at("ok");
  if (fields.empty()) return "ok";
  std::string text;
  for (const auto& [key, value] : fields.items()) {
    std::string shown;
    if (key == "perm") {
      shown = octal(value.get<unsigned>());
    } else if (key == "names") {
      for (const auto& name : value) shown += (shown.empty() ? "" : ", ") + name.dump();
      shown = "{set: [" + shown + "]}";
    } else if (key == "data") {
      shown = "{hex: " + value.dump() + "}";
    } else {
      shown = value.is_string() ? value.get<std::string>() : value.dump();
    }
    text += (text.empty() ? "" : ", ") + key + ": " + shown;
  }
  return "{" + text + "}";
}

}  // namespace fusecheck::fuzz
