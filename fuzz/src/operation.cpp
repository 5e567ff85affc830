// Generation, model effect and system calls of one fuzzed operation. The name space is tiny
// on purpose: collisions (EEXIST, ENOTEMPTY, rename over existing names, links to the same
// inode) are where filesystems go wrong. Every operation that changes something is followed
// by lstat/fstat of what it changed (its "observations"), so that times, ownership, link
// counts and inode identity are compared right where a bug would change them.
#include "operation.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <algorithm>
#include <rapidcheck.h>
#include <sstream>

#include "fusecheck/control_client.hpp"
#include "fusecheck/errors.hpp"
#include "fusecheck/names.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/protocol.hpp"
#include "fusecheck/scenario.hpp"
#include "operation_data.hpp"

namespace fusecheck::fuzz {
namespace {

const std::string kBigDir = "e";

// A confined relative link text of exactly `length` bytes: components of 200 bytes.
std::string long_link_text(size_t length) {
  std::string text;
  while (text.size() < length) {
    if (!text.empty()) text += '/';
    text += std::string(std::min<size_t>(200, length - text.size()), 'y');
  }
  return text;
}

bool is_inside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

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

void model_rename(NameModel& model, const Operation& op) {
  const std::string &path = op.path, &other = op.other;
  if (!model.exists(path) || !model.parent_is_dir(other) || path == other || is_inside(other, path)) return;
  const bool exchange = std::count(op.flags.begin(), op.flags.end(), "RENAME_EXCHANGE") != 0;
  const bool noreplace = std::count(op.flags.begin(), op.flags.end(), "RENAME_NOREPLACE") != 0;
  const bool target_exists = model.exists(other);
  if (exchange) {
    if (!target_exists || is_inside(path, other)) return;
    move_subtree(model, path, "\x01swap");
    move_subtree(model, other, path);
    move_subtree(model, "\x01swap", other);
    return;
  }
  if (target_exists) {
    if (noreplace) return;
    NodeType from_type = model.nodes[path], to_type = model.nodes[other];
    if ((from_type == NodeType::dir) != (to_type == NodeType::dir)) return;
    if (to_type == NodeType::dir && !model.dir_empty(other)) return;
    remove_subtree(model, other);
  }
  move_subtree(model, path, other);
}

}  // namespace

std::string small_data(int shortest, int longest) {
  // A zero byte checks that nothing treats data as C strings.
  int size = *rc::gen::inRange(shortest, longest + 1);
  return *rc::gen::container<std::string>(static_cast<size_t>(size), rc::gen::element<char>('A', 'B', 'z', '\0'));
}

namespace {

// File bytes: mostly a few, sometimes over a kilobyte (short reads, st_blocks of two pages).
void draw_file_data(Operation& op, int shortest) {
  if (*rc::gen::weightedElement<bool>({{5, false}, {1, true}})) {
    op.data_seed = *rc::gen::inRange(1u, 4u);
    op.data = generate_bytes(*rc::gen::element<size_t>(1500, 4500), op.data_seed);
  } else {
    op.data = small_data(shortest, 8);
  }
}

json time_value(const std::string& kind) {
  if (kind == "now" || kind == "omit") return {{"kind", kind}};
  return {{"kind", "ns"}, {"ns", std::stoll(kind)}};
}

}  // namespace

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Short names mostly; now and then the longest name the target takes, and, when that is also
// tmpfs's longest (255 bytes), one byte more, which both must refuse. A target with a shorter
// limit is compared only within it: tmpfs, the oracle, would take the longer name.
std::string any_name(const NameModel& model) {
  constexpr size_t kTmpfsNameMax = 255;
  const std::string longest(model.name_max, 'n');
  const std::string too_long = model.name_max >= kTmpfsNameMax ? longest + 'n' : longest;
  return *rc::gen::weightedElement<std::string>(
      {{6, "a"}, {6, "b"}, {6, "c"}, {6, "d"}, {4, "d/a"}, {4, "d/b"}, {1, longest}, {1, too_long}});
}

size_t any_actor(const NameModel& model) {
  if (model.actors < 3) return 0;
  return *rc::gen::weightedElement<size_t>({{4, 0}, {1, 1}, {1, 2}});
}

namespace {

long long any_uid() { return *rc::gen::element<long long>(-1, 0, 1000, 1001); }
long long any_gid() { return *rc::gen::element<long long>(-1, 0, 1000, 1001, 3000); }
mode_t any_chmod_mode() {
  return *rc::gen::element<mode_t>(0644, 0600, 0755, 0444, 0000, 01777, 04755, 02755, 06777, 0777, 02775, 04777);
}

void generate_fd_op(Operation& op) {
  switch (op.kind) {
    case OpKind::fd_read:
      op.text = *rc::gen::element<std::string>("read", "pread");
      op.size = *rc::gen::element<long>(3, 16, 8192);
      op.offset = *rc::gen::inRange(0, 9);
      break;
    case OpKind::fd_write:
      op.text = *rc::gen::element<std::string>("write", "pwrite");
      op.offset = *rc::gen::inRange(0, 17);
      draw_file_data(op, 1);
      break;
    case OpKind::fd_truncate: op.size = *rc::gen::element<long>(0, 1, 5, 24, 5000); break;
    case OpKind::fd_chmod: op.mode = any_chmod_mode(); break;
    case OpKind::fd_chown:
      op.uid = any_uid();
      op.gid = any_gid();
      break;
    default: break;
  }
}

// One of the big directory's five groups: its name prefix and whether its names are
// directories. Names of different lengths in each group, and within a group runs of its names
// between runs of short ones, so that a small buffer fills at different places (the bug of
// pyfuse3 issue 5 needs a long name refused, then a shorter one in the same reply).
void draw_group(Operation& op, size_t name_max) {
  const size_t group = *rc::gen::inRange<size_t>(0, 5);
  const size_t lengths[] = {1, 9, 40, 120, 200};
  const size_t longest = name_max > 3 ? name_max - 3 : 1;  // room for the entry's number
  op.text = std::string(std::min(lengths[group], longest), static_cast<char>('f' + group));
  op.flags = {*rc::gen::weightedElement<std::string>({{2, "file"}, {1, "dir"}})};
}

// A listing of e interrupted after a few entries or many (past the first READDIR reply), by
// a change that adds names (ahead of the resume point where the newest are listed first),
// removes a run of a group (perhaps already listed) or renames one, then resumed from the
// telldir position (which makes the next readdir ask the filesystem from that cookie) or
// simply continued.
void generate_interrupted_listing(Operation& op, size_t name_max) {
  op.size = *rc::gen::element<long>(1, 5, 20, 60, 150);
  op.offset = *rc::gen::element<long>(0, 0, 3, 30);
  op.change = *rc::gen::weightedElement<std::string>({{3, "create"}, {3, "unlink"}, {1, "rename"}, {1, "none"}});
  draw_group(op, name_max);
  op.first = *rc::gen::inRange(0, 20);
  op.count = *rc::gen::inRange(1, 30);
  op.seekdir = *rc::gen::weightedElement<bool>({{2, true}, {1, false}});
}

void generate_big_dir_op(Operation& op, size_t name_max) {
  op.actor = 0;
  if (op.kind == OpKind::list_big) {
    op.size = *rc::gen::element<long>(600, 1024, 4096, 0);
    return;
  }
  if (op.kind == OpKind::interrupted_listing) return generate_interrupted_listing(op, name_max);
  draw_group(op, name_max);
  if (op.kind == OpKind::populate) {
    op.size = *rc::gen::inRange(20, 151);
    op.mode = *rc::gen::element<mode_t>(0644, 0755);
    op.offset = *rc::gen::element<long>(0, 4, 9);  // the run length; 0: one run, no short names
  } else {
    op.offset = *rc::gen::inRange(0, 20);
    op.size = *rc::gen::inRange(1, 30);
  }
}

// Open flags drawn independently (access mode, then O_APPEND, O_TRUNC and O_CREAT/O_EXCL),
// so that every combination a program uses comes up, e.g. a non-owner's O_TRUNC of a setuid
// file or two O_APPEND writers. O_TRUNC only with write access: O_RDONLY|O_TRUNC is
// unspecified.
std::vector<std::string> any_open_flags() {
  std::vector<std::string> flags = {*rc::gen::element<std::string>("O_RDONLY", "O_WRONLY", "O_RDWR")};
  const bool writes = flags[0] != "O_RDONLY";
  if (*rc::gen::element<bool>(false, true)) flags.push_back("O_APPEND");
  if (writes && *rc::gen::weightedElement<bool>({{2, false}, {1, true}})) flags.push_back("O_TRUNC");
  const int creation = *rc::gen::weightedElement<int>({{3, 0}, {2, 1}, {1, 2}});  // none, O_CREAT, O_CREAT|O_EXCL
  if (creation >= 1) flags.push_back("O_CREAT");
  if (creation == 2) flags.push_back("O_EXCL");
  return flags;
}

// How the path-based write opens its file: for writing, sometimes appending or truncating.
std::vector<std::string> any_write_flags() {
  std::vector<std::string> flags = {*rc::gen::element<std::string>("O_WRONLY", "O_RDWR")};
  if (*rc::gen::weightedElement<bool>({{2, false}, {1, true}})) flags.push_back("O_APPEND");
  if (*rc::gen::weightedElement<bool>({{2, false}, {1, true}})) flags.push_back("O_TRUNC");
  return flags;
}

// File sizes: a few bytes, a page and a bit, and over 64 KiB so that the kernel reads the file
// in requests larger than 64 KiB (readahead), as it does for any large file.
long any_file_size() { return *rc::gen::element<long>(0, 1, 5, 24, 5000, 100000); }

void generate_data_op(Operation& op, const NameModel& model) {
  op.path = any_name(model);  // but for create_file, the precondition wants it to exist
  switch (op.kind) {
    case OpKind::create_file:
      op.mode = *rc::gen::element<mode_t>(0644, 0600, 0755, 04755, 06777);
      draw_file_data(op, 0);
      break;
    case OpKind::pwrite:
      op.flags = any_write_flags();
      op.offset = *rc::gen::element<long>(0, 1, 3, 9, 16, 5000, 70000);
      draw_file_data(op, 1);
      break;
    case OpKind::shared_write:
      // A user who is not root: root keeps set-id bits (CAP_FSETID), anyone else's write or
      // O_TRUNC clears them. Truncating half the time, and then half the time writing nothing
      // (a write of 0 bytes clears nothing), so that the open alone must have cleared them.
      op.actor = *rc::gen::element<size_t>(1, 2);
      op.mode = *rc::gen::element<mode_t>(04777, 06777, 02777);
      op.flags = {*rc::gen::element<std::string>("O_WRONLY", "O_RDWR")};
      if (*rc::gen::element<bool>(false, true)) op.flags.push_back("O_TRUNC");
      op.offset = *rc::gen::element<long>(0, 3, 5000);
      draw_file_data(op, 1);
      if (op.flags.size() == 2 && *rc::gen::element<bool>(false, true)) {
        op.data.clear();
        op.data_seed = 0;
      }
      break;
    case OpKind::truncate:
      op.size = any_file_size();
      // Half the time resized again at once, fsx's shrink-then-extend: the bytes the first
      // truncate let go must read back as zeros.
      op.offset = *rc::gen::weightedElement<long>({{2, 0}, {1, 24}, {1, 5000}});
      break;
    default: break;  // read_file
  }
}

std::string any_link_text() {
  return *rc::gen::weightedElement<std::string>({{4, "a"},
                                                 {3, "b"},
                                                 {3, "d"},
                                                 {2, "d/a"},
                                                 {2, "c"},
                                                 {1, long_link_text(1500)},
                                                 {1, long_link_text(4095)},
                                                 {1, long_link_text(4096)}});
}

// A name in the other directory than path's: d/x for a name x of the workdir, and the
// workdir's x for d/x (d itself, moved into itself, gets EINVAL like any such rename).
std::string across_directories(const std::string& path) {
  if (path.rfind("d/", 0) == 0) return *rc::gen::element<std::string>("a", "b", "c");
  return *rc::gen::element<std::string>("d/a", "d/b");
}

void generate_namespace_op(Operation& op, const NameModel& model) {
  op.path = any_name(model);  // link, rename, rmdir, unlink: the precondition wants it to exist
  switch (op.kind) {
    case OpKind::mkdir:
      op.mode = *rc::gen::element<mode_t>(0755, 0700, 0777, 02775);
      // d a third of the time: the one name that can hold others (d/a, d/b, d/p), which
      // moves between directories and rmdir of a full directory need.
      if (*rc::gen::weightedElement<bool>({{2, false}, {1, true}})) op.path = "d";
      break;
    case OpKind::symlink: op.other = any_link_text(); break;
    case OpKind::mknod:
      op.path = *rc::gen::element<std::string>("p", "d/p");
      op.text = *rc::gen::element<std::string>("fifo", "chr");
      op.minor = op.text == "chr" ? *rc::gen::inRange(1, 10) : 0;
      op.mode = *rc::gen::element<mode_t>(0644, 0600);
      break;
    case OpKind::link:
    case OpKind::rename:
      op.other = any_name(model);  // not a device node: they stay at p, never behind a symlink
      // Half the renames move to the other directory (d and the workdir), where both
      // parents' nlink, mtime and ctime change: with every name drawn alike they were rare.
      if (op.kind == OpKind::rename && *rc::gen::element<bool>(false, true)) {
        // d moved into itself is EINVAL, which the other renames try often enough: across
        // directories, a name of the workdir that may be a directory moves into d instead.
        if (op.path == "d") op.path = *rc::gen::element<std::string>("a", "b", "c");
        op.other = across_directories(op.path);
      }
      if (op.kind == OpKind::rename)
        op.flags = *rc::gen::element<std::vector<std::string>>(std::vector<std::string>{}, std::vector<std::string>{},
                                                               std::vector<std::string>{"RENAME_NOREPLACE"},
                                                               std::vector<std::string>{"RENAME_EXCHANGE"});
      break;
    case OpKind::rmdir:
      // d is the one name that can hold others, and rmdir of a directory that does is where
      // rmdir goes wrong (ENOTEMPTY): drawn alike, d came up in one rmdir of six.
      op.path = *rc::gen::weightedElement<std::string>({{1, op.path}, {1, "d"}});
      break;
    default: break;  // unlink
  }
}

void generate_attribute_op(Operation& op, const NameModel& model) {
  op.path = any_name(model);  // the precondition wants it to exist
  switch (op.kind) {
    case OpKind::chmod: op.mode = any_chmod_mode(); break;
    case OpKind::chown:
      op.text = *rc::gen::element<std::string>("chown", "lchown");
      op.uid = any_uid();
      op.gid = any_gid();
      break;
    case OpKind::utimensat: {
      const auto times = rc::gen::element<std::string>("now", "omit", "1500000000123456789", "1600000000000000000");
      op.atime = time_value(*times);
      op.mtime = time_value(*times);
      break;
    }
    case OpKind::setxattr:
      op.text = *rc::gen::element<std::string>("user.x", "user.y");
      op.data = small_data(0, 6);
      op.flags = *rc::gen::element<std::vector<std::string>>(std::vector<std::string>{},
                                                             std::vector<std::string>{"XATTR_CREATE"},
                                                             std::vector<std::string>{"XATTR_REPLACE"});
      break;
    case OpKind::getxattr:
    case OpKind::removexattr: op.text = *rc::gen::element<std::string>("user.x", "user.y"); break;
    default: break;  // listxattr
  }
}

void generate_observation_op(Operation& op, const NameModel& model) {
  switch (op.kind) {
    case OpKind::stat: op.path = *rc::gen::weightedElement<std::string>({{5, any_name(model)}, {1, "."}}); break;
    case OpKind::listdir:
    case OpKind::dir_identity: op.path = *rc::gen::element<std::string>(".", "d"); break;
    case OpKind::forget: op.actor = 0; break;
    default: op.path = "."; break;  // statvfs
  }
}

void generate_descriptor_op(Operation& op, const NameModel& model) {
  op.slot = *rc::gen::inRange(0, 2);  // but for open, the precondition wants it open by this actor
  if (op.kind == OpKind::open) {
    op.path = any_name(model);
    op.flags = any_open_flags();
    op.mode = *rc::gen::element<mode_t>(0644, 0666, 0600);
    return;
  }
  generate_fd_op(op);
}

void generate_big_dir(Operation& op, const NameModel& model) { generate_big_dir_op(op, model.name_max); }

using Generator = void (*)(Operation&, const NameModel&);
struct KindSpec {
  uint32_t weight;
  OpKind kind;
  Generator generate;
};

// Every kind, whatever the model holds: generation must not depend on the model, or
// rapidcheck, regenerating the commands after one it removed while shrinking, would draw
// different ones and lose the failure. Preconditions reject what does not apply.
const std::vector<KindSpec>& kind_specs() {
  static const std::vector<KindSpec> specs = {
      {6, OpKind::create_file, generate_data_op},        {3, OpKind::pwrite, generate_data_op},
      {1, OpKind::shared_write, generate_data_op},       {2, OpKind::truncate, generate_data_op},
      {2, OpKind::read_file, generate_data_op},          {3, OpKind::mkdir, generate_namespace_op},
      {2, OpKind::symlink, generate_namespace_op},       {1, OpKind::mknod, generate_namespace_op},
      {2, OpKind::rmdir, generate_namespace_op},         {3, OpKind::unlink, generate_namespace_op},
      {2, OpKind::link, generate_namespace_op},          {4, OpKind::rename, generate_namespace_op},
      {2, OpKind::chmod, generate_attribute_op},         {2, OpKind::chown, generate_attribute_op},
      {2, OpKind::utimensat, generate_attribute_op},     {2, OpKind::setxattr, generate_attribute_op},
      {1, OpKind::getxattr, generate_attribute_op},      {1, OpKind::removexattr, generate_attribute_op},
      {1, OpKind::listxattr, generate_attribute_op},     {3, OpKind::stat, generate_observation_op},
      {2, OpKind::listdir, generate_observation_op},     {1, OpKind::dir_identity, generate_observation_op},
      {1, OpKind::statvfs, generate_observation_op},     {1, OpKind::forget, generate_observation_op},
      {3, OpKind::open, generate_descriptor_op},         {2, OpKind::fd_read, generate_descriptor_op},
      {3, OpKind::fd_write, generate_descriptor_op},     {1, OpKind::fd_truncate, generate_descriptor_op},
      {2, OpKind::fd_stat, generate_descriptor_op},      {1, OpKind::fd_chmod, generate_descriptor_op},
      {1, OpKind::fd_chown, generate_descriptor_op},     {1, OpKind::close, generate_descriptor_op},
      {1, OpKind::populate, generate_big_dir},           {2, OpKind::list_big, generate_big_dir},
      {1, OpKind::depopulate, generate_big_dir},         {2, OpKind::interrupted_listing, generate_big_dir},
      {2, OpKind::map_write, generate_data_path_op},     {1, OpKind::open_direct, generate_data_path_op},
      {2, OpKind::copy_range, generate_data_path_op},    {1, OpKind::seek_data, generate_data_path_op},
      {1, OpKind::lock_conflict, generate_data_path_op}, {1, OpKind::inode_flags, generate_data_path_op},
      {2, OpKind::take_handle, generate_data_path_op},   {2, OpKind::open_handle, generate_data_path_op}};
  return specs;
}

// Each kind's index repeated by its weight; shrinks towards the front.
const std::vector<size_t>& weighted_kinds() {
  static const std::vector<size_t> weighted = [] {
    std::vector<size_t> indices;
    for (size_t i = 0; i < kind_specs().size(); ++i) indices.insert(indices.end(), kind_specs()[i].weight, i);
    return indices;
  }();
  return weighted;
}

}  // namespace

const std::vector<FuzzActor>& fuzz_actors() {
  static const std::vector<FuzzActor> actors = {
      {"root", Identity{}},
      {"alice", Identity{1000, 1000, {3000}, 022}},
      {"bob", Identity{1001, 1001, {}, 077}},
  };
  return actors;
}

bool NameModel::parent_is_dir(const std::string& path) const {
  auto parent = parent_of(path);
  if (parent == ".") return true;
  auto found = nodes.find(parent);
  return found != nodes.end() && found->second == NodeType::dir;
}

bool NameModel::dir_empty(const std::string& dir) const {
  return std::none_of(nodes.begin(), nodes.end(), [&](const auto& node) { return is_inside(node.first, dir); });
}

Operation Operation::generate(const NameModel& model) {
  const KindSpec& spec = kind_specs().at(*rc::gen::elementOf(weighted_kinds()));
  Operation op;
  op.kind = spec.kind;
  op.actor = any_actor(model);
  spec.generate(op, model);
  return op;
}

void Operation::check_preconditions(const NameModel& model) const {
  if (is_data_path(kind)) return check_data_path_preconditions(*this, model);
  switch (kind) {
    case OpKind::create_file:
    case OpKind::mkdir:
    case OpKind::symlink:
    case OpKind::mknod:
    case OpKind::stat:
    case OpKind::listdir:
    case OpKind::dir_identity:
    case OpKind::statvfs:
    case OpKind::forget:
    case OpKind::populate:
    case OpKind::list_big: return;  // meaningful whether or not the name exists (EEXIST, ENOENT are results too)
    case OpKind::open:
      if (model.exists(path)) RC_PRE(model.nodes.at(path) != NodeType::special);
      return;
    case OpKind::depopulate:
      RC_PRE(std::count(model.groups.begin(), model.groups.end(), std::pair{text, flags.at(0) == "dir"}) != 0);
      return;
    case OpKind::interrupted_listing: {
      // A run to unlink or a name to rename comes from a group that was made.
      const bool made = std::count(model.groups.begin(), model.groups.end(), std::pair{text, flags.at(0) == "dir"});
      RC_PRE(!model.groups.empty() && (made || change == "create" || change == "none"));
      return;
    }
    case OpKind::fd_read:
    case OpKind::fd_write:
    case OpKind::fd_truncate:
    case OpKind::fd_stat:
    case OpKind::fd_chmod:
    case OpKind::fd_chown:
    case OpKind::close: {
      const bool open_here = model.fds[slot].open && model.fds[slot].actor == actor;
      RC_PRE(open_here);
      return;
    }
    case OpKind::shared_write: {
      const bool file = model.exists(path) && model.nodes.at(path) == NodeType::file;
      RC_PRE(file);
      RC_PRE(actor < model.actors);
      return;
    }
    case OpKind::pwrite:
    case OpKind::truncate:  // its observation reads the file: never a fifo
    case OpKind::read_file:
    case OpKind::link:
    case OpKind::rename: {
      // RC_PRE captures its expression, so `&&` would not short-circuit: decide first.
      const bool movable = model.exists(path) && model.nodes.at(path) != NodeType::special;
      RC_PRE(movable);
      if (kind == OpKind::rename && model.exists(other)) RC_PRE(model.nodes.at(other) != NodeType::special);
      return;
    }
    default: RC_PRE(model.exists(path));
  }
}

// The kind of node an operation that makes a name makes.
NodeType created_type(OpKind kind) {
  switch (kind) {
    case OpKind::mkdir: return NodeType::dir;
    case OpKind::symlink: return NodeType::symlink;
    case OpKind::mknod: return NodeType::special;
    default: return NodeType::file;
  }
}

void Operation::apply(NameModel& model) const {
  if (is_data_path(kind)) return apply_data_path(*this, model);
  const bool can_create = model.parent_is_dir(path) && !model.exists(path);
  switch (kind) {
    case OpKind::create_file:
    case OpKind::mkdir:
    case OpKind::symlink:
    case OpKind::mknod:
      if (can_create) model.nodes[path] = created_type(kind);
      break;
    case OpKind::open:
      if (can_create && std::count(flags.begin(), flags.end(), "O_CREAT")) model.nodes[path] = NodeType::file;
      model.fds[slot] = {true, actor};
      break;
    case OpKind::close: model.fds[slot].open = false; break;
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
    case OpKind::rename: model_rename(model, *this); break;
    case OpKind::populate:
      model.nodes[kBigDir] = NodeType::dir;
      model.groups.push_back({text, flags.at(0) == "dir"});
      break;
    default: break;  // data, modes, xattrs and listings do not change the name space
  }
}

Call call(size_t actor, std::string_view op, json args, std::vector<std::string> flag_names) {
  return Call{make_request(op, std::move(args)), actor, std::move(flag_names), std::nullopt};
}

long flags_value(FlagFamily family, const std::vector<std::string>& names) {
  long value = 0;
  for (const auto& name : names) value |= flag_value(family, name).value();
  return value;
}

std::string fd_name(int slot) { return "f" + std::to_string(slot); }

// lstat (as root) of the names an operation may have changed, each once.
void observe_paths(std::vector<Call>& calls, std::vector<std::string> paths) {
  std::vector<std::string> seen;
  for (auto& path : paths) {
    if (std::count(seen.begin(), seen.end(), path)) continue;
    seen.push_back(path);
    calls.push_back(call(0, "lstat", {{"path", path}}));
  }
}

Call with_data(Call made, const Operation& op) {
  made.request["data"] = to_hex(op.data);
  if (op.data_seed != 0) made.gen = std::pair{op.data.size(), op.data_seed};
  return made;
}

// The big directory's files are made with mknod (kind node: one MKNOD request each, against
// a CREATE, FLUSH and RELEASE for open and close): filling it is setup, not the call under test,
// and open's own path is exercised by the open and create operations.
std::string fill_kind(const std::string& group_kind) { return group_kind == "file" ? "node" : group_kind; }

namespace {

// A group of op.size names made in runs of op.offset, each run followed by as many names of
// the group's short companion prefix (its letter and "s"), or in one run when op.offset is 0.
// A group made in runs is listed at once, with a small getdents buffer: names of two lengths
// side by side are where a READDIR reply refuses a long name and still has room for a short
// one (pyfuse3 issue 5; readdir(3)'s 32 KiB buffer did not show it), and a later list_big
// came after only one populate in four.
std::vector<Call> populate_calls(const Operation& op, const std::string& prefix) {
  std::vector<Call> calls = {call(0, "mkdir", {{"path", kBigDir}, {"mode", 0777}})};
  const std::string companion = kBigDir + "/" + op.text.substr(0, 1) + "s";
  const long run = op.offset == 0 ? op.size : op.offset;
  auto make = [&](const std::string& names, long start) {
    calls.push_back(call(0, "create_many",
                         {{"prefix", names},
                          {"count", std::min(run, op.size - start)},
                          {"start", start},
                          {"kind", fill_kind(op.flags.at(0))},
                          {"mode", op.mode}}));
  };
  for (long start = 0; start < op.size; start += run) {
    make(prefix, start);
    if (op.offset != 0) make(companion, start);
  }
  calls.push_back(call(0, "lstat", {{"path", kBigDir}}));
  if (op.offset != 0) calls.push_back(call(0, "listdir", {{"path", kBigDir}, {"size", 1024}}));
  return calls;
}

// The change in the middle of an interrupted listing, and the lstat of e after it.
std::vector<Call> listing_change(const Operation& op) {
  const std::string prefix = kBigDir + "/" + op.text;
  const std::string kind = op.flags.at(0);
  std::vector<Call> calls;
  if (op.change == "create") {
    // 2-byte names of their own ("n0"...): no group uses the prefix n.
    calls.push_back(call(0, "create_many",
                         {{"prefix", kBigDir + "/n"}, {"count", op.count}, {"start", op.first}, {"kind", "node"}}));
  } else if (op.change == "unlink") {
    calls.push_back(
        call(0, "unlink_many", {{"prefix", prefix}, {"count", op.count}, {"start", op.first}, {"kind", kind}}));
  } else if (op.change == "rename") {
    const std::string number = std::to_string(op.first);
    calls.push_back(call(0, "rename", {{"from", prefix + number}, {"to", kBigDir + "/m" + number}}));
  } else {
    return calls;
  }
  calls.push_back(call(0, "lstat", {{"path", kBigDir}}));
  return calls;
}

std::vector<Call> interrupted_listing_calls(const Operation& op) {
  std::vector<Call> calls = {call(0, "opendir", {{"path", kBigDir}, {"dir", "l"}}),
                             call(0, "readdir_many", {{"dir", "l"}, {"count", op.size}})};
  if (op.seekdir) calls.push_back(call(0, "telldir", {{"dir", "l"}}));
  if (op.offset != 0) calls.push_back(call(0, "readdir_many", {{"dir", "l"}, {"count", op.offset}}));
  for (auto& made : listing_change(op)) calls.push_back(std::move(made));
  if (op.seekdir) calls.push_back(call(0, "seekdir", {{"dir", "l"}}));  // to the telldir position
  calls.push_back(call(0, "readdir_many", {{"dir", "l"}}));
  calls.push_back(call(0, "closedir", {{"dir", "l"}}));
  return calls;
}

std::vector<Call> big_dir_calls(const Operation& op) {
  if (op.kind == OpKind::interrupted_listing) return interrupted_listing_calls(op);
  if (op.kind == OpKind::list_big) {
    json args = {{"path", kBigDir}};
    if (op.size != 0) args["size"] = op.size;
    return {call(0, "listdir", args)};
  }
  const std::string prefix = kBigDir + "/" + op.text;
  if (op.kind == OpKind::depopulate)
    return {call(0, "unlink_many",
                 {{"prefix", prefix}, {"count", op.size}, {"start", op.offset}, {"kind", op.flags.at(0)}}),
            call(0, "lstat", {{"path", kBigDir}})};
  return populate_calls(op, prefix);
}

std::vector<Call> descriptor_calls(const Operation& op) {
  const std::string fd = fd_name(op.slot);
  const size_t who = op.actor;
  std::vector<Call> calls;
  switch (op.kind) {
    case OpKind::open:
      calls.push_back(
          call(who, "open",
               {{"path", op.path}, {"flags", flags_value(FlagFamily::open, op.flags)}, {"mode", op.mode}, {"fd", fd}},
               op.flags));
      observe_paths(calls, {op.path, parent_of(op.path)});
      return calls;
    case OpKind::close: return {call(who, "close", {{"fd", fd}})};
    case OpKind::fd_stat: return {call(who, "fstat", {{"fd", fd}})};
    case OpKind::fd_read:
      if (op.text == "read") return {call(who, "read", {{"fd", fd}, {"size", op.size}})};
      return {call(who, "pread", {{"fd", fd}, {"size", op.size}, {"offset", op.offset}})};
    case OpKind::fd_write:
      calls.push_back(with_data(op.text == "write" ? call(who, "write", {{"fd", fd}})
                                                   : call(who, "pwrite", {{"fd", fd}, {"offset", op.offset}}),
                                op));
      break;
    case OpKind::fd_truncate: calls.push_back(call(who, "ftruncate", {{"fd", fd}, {"size", op.size}})); break;
    case OpKind::fd_chmod: calls.push_back(call(who, "fchmod", {{"fd", fd}, {"mode", op.mode}})); break;
    case OpKind::fd_chown: calls.push_back(call(who, "fchown", {{"fd", fd}, {"uid", op.uid}, {"gid", op.gid}})); break;
    default: break;
  }
  calls.push_back(call(who, "fstat", {{"fd", fd}}));  // the file even after its name went
  return calls;
}

// create_file, pwrite, truncate, read_file. A path write and a truncate are read back
// whole, as fsx reads back what it wrote: what a shrink let go must read as zeros after a
// grow, and a large file is read in large requests.
std::vector<Call> data_calls(const Operation& op) {
  const size_t who = op.actor;
  std::vector<Call> calls;
  switch (op.kind) {
    case OpKind::create_file:
      calls.push_back(with_data(call(who, "create_file", {{"path", op.path}, {"mode", op.mode}}), op));
      observe_paths(calls, {op.path, parent_of(op.path)});
      return calls;
    case OpKind::pwrite: {
      const auto opening = op.flags.empty() ? std::vector<std::string>{"O_WRONLY"} : op.flags;
      calls = {call(who, "open",
                    {{"path", op.path}, {"flags", flags_value(FlagFamily::open, opening)}, {"mode", 0644}, {"fd", "w"}},
                    opening),
               with_data(call(who, "pwrite", {{"fd", "w"}, {"offset", op.offset}}), op),
               call(who, "close", {{"fd", "w"}})};
      break;
    }
    case OpKind::shared_write: {
      calls.push_back(call(0, "chmod", {{"path", op.path}, {"mode", op.mode}}));
      observe_paths(calls, {op.path});
      Operation write = op;
      write.kind = OpKind::pwrite;
      for (auto& made : data_calls(write)) calls.push_back(std::move(made));
      return calls;
    }
    case OpKind::truncate:
      calls.push_back(call(who, "truncate", {{"path", op.path}, {"size", op.size}}));
      if (op.offset == 0) break;
      observe_paths(calls, {op.path});
      calls.push_back(call(who, "truncate", {{"path", op.path}, {"size", op.offset}}));  // then grown (or shrunk)
      break;
    default: return {call(who, "read_file", {{"path", op.path}})};
  }
  observe_paths(calls, {op.path});
  calls.push_back(call(0, "read_file", {{"path", op.path}}));
  return calls;
}

// stat, listdir, dir_identity, statvfs, forget: calls that change nothing in the name space.
std::vector<Call> observation_calls(const Operation& op) {
  const size_t who = op.actor;
  const std::string& path = op.path;
  switch (op.kind) {
    case OpKind::stat: return {call(who, "lstat", {{"path", path}})};
    case OpKind::listdir: return {call(who, "listdir", {{"path", path}})};
    case OpKind::dir_identity: {
      // d_ino of "." and ".." against st_ino: the directory is stat'ed first so that its
      // identity is known when readdir reports it.
      std::vector<Call> calls = {call(0, "lstat", {{"path", path}}),
                                 call(0, "lstat", {{"path", parent_of(path)}}),
                                 call(who, "opendir", {{"path", path}, {"dir", "r"}}),
                                 call(who, "readdir", {{"dir", "r"}}),
                                 call(who, "readdir", {{"dir", "r"}}),
                                 call(who, "closedir", {{"dir", "r"}})};
      // Closed at once: whether entries made later show up in an open stream is unspecified.
      if (path == ".") calls.erase(calls.begin() + 1);
      return calls;
    }
    case OpKind::forget:
      // The kernel forgets every unused dentry and inode, so the next call on a name looks it
      // up again: a target that miscounts lookups, or keeps state only while the kernel
      // holds a node, shows it there. (A `remount` step would be a second kind of forgetting:
      // it would go here as another call, with runs_in_fuzzer() remounting the target.)
      return {Call{{{"op", "drop_caches"}, {"what", "dentries"}}, 0, {}, std::nullopt}};  // no actor op
    default: return {call(who, "statvfs", {{"path", path}})};
  }
}

}  // namespace

std::vector<Call> Operation::calls() const {
  if (is_data_path(kind)) return data_path_calls(*this);
  const size_t who = actor;
  std::vector<Call> calls;
  const std::string parent = parent_of(path);
  // A call that may change something, then lstat of what it may have changed.
  auto changing = [&](Call made, std::vector<std::string> paths) {
    calls.push_back(std::move(made));
    observe_paths(calls, std::move(paths));
  };
  switch (kind) {
    case OpKind::create_file:
    case OpKind::pwrite:
    case OpKind::shared_write:
    case OpKind::truncate:
    case OpKind::read_file: return data_calls(*this);
    case OpKind::mkdir: changing(call(who, "mkdir", {{"path", path}, {"mode", mode}}), {path, parent}); break;
    case OpKind::unlink: changing(call(who, "unlink", {{"path", path}}), {path, parent}); break;
    case OpKind::rmdir:
      // Between two statvfs: what the removal freed (a removed directory that an open file
      // inside still refers to keeps its inode on tmpfs), which only the free-inode delta shows.
      calls.push_back(call(who, "statvfs", {{"path", "."}}));
      calls.push_back(call(who, "rmdir", {{"path", path}}));
      calls.push_back(call(who, "statvfs", {{"path", "."}}));
      observe_paths(calls, {path, parent});
      break;
    case OpKind::mknod: {
      json args = {{"path", path}, {"type", text}, {"mode", mode}};
      if (text == "chr") args.update({{"major", 0}, {"minor", minor}});
      changing(call(who, "mknod", args), {path, parent});
      break;
    }
    case OpKind::link:
      changing(call(who, "link", {{"from", path}, {"to", other}}), {path, other, parent_of(other)});
      break;
    case OpKind::symlink: changing(call(who, "symlink", {{"target", other}, {"path", path}}), {path, parent}); break;
    case OpKind::rename:
      calls.push_back(flags.empty()
                          ? call(who, "rename", {{"from", path}, {"to", other}})
                          : call(who, "renameat2",
                                 {{"from", path}, {"to", other}, {"flags", flags_value(FlagFamily::rename, flags)}},
                                 flags));
      observe_paths(calls, {path, other, parent, parent_of(other)});
      break;
    case OpKind::chmod: changing(call(who, "chmod", {{"path", path}, {"mode", mode}}), {path}); break;
    case OpKind::chown: changing(call(who, text, {{"path", path}, {"uid", uid}, {"gid", gid}}), {path}); break;
    case OpKind::utimensat:
      changing(call(who, "utimensat", {{"path", path}, {"atime", atime}, {"mtime", mtime}}), {path});
      break;
    case OpKind::stat:
    case OpKind::listdir:
    case OpKind::dir_identity:
    case OpKind::statvfs:
    case OpKind::forget: return observation_calls(*this);
    case OpKind::setxattr:
      calls.push_back(
          with_data(call(who, "setxattr",
                         {{"path", path}, {"name", text}, {"flags", flags_value(FlagFamily::xattr, flags)}}, flags),
                    *this));
      observe_paths(calls, {path});
      break;
    case OpKind::getxattr:
      calls.push_back(call(who, "getxattr", {{"path", path}, {"name", text}, {"size", 256}}));
      break;
    case OpKind::removexattr: changing(call(who, "removexattr", {{"path", path}, {"name", text}}), {path}); break;
    case OpKind::listxattr: calls.push_back(call(who, "listxattr", {{"path", path}})); break;
    case OpKind::populate:
    case OpKind::list_big:
    case OpKind::depopulate:
    case OpKind::interrupted_listing: return big_dir_calls(*this);
    default: return descriptor_calls(*this);
  }
  return calls;
}

std::vector<std::string> Operation::required_features() const {
  if (is_data_path(kind)) return data_path_features(*this);
  switch (kind) {
    case OpKind::link: return {"hardlinks"};
    case OpKind::symlink: return {"symlinks"};
    case OpKind::mknod: return {text == "fifo" ? "fifo" : "devices"};
    case OpKind::setxattr:
    case OpKind::getxattr:
    case OpKind::removexattr:
    case OpKind::listxattr: return {"xattr.user"};
    case OpKind::rename:
      if (flags.empty()) return {};
      return {flags[0] == "RENAME_NOREPLACE" ? "rename_noreplace" : "rename_exchange"};
    default: return {};
  }
}

bool runs_in_fuzzer(const Call& made) { return made.request.at("op") == "drop_caches"; }

// The pause between the two passes of a drop. The harness waits 20 ms for an asynchronous
// RELEASE to let go of its inode; here the actors are idle and their last close was answered
// a round trip ago, so 1 ms does (a default run drops about 300 times: 20 ms each was 40% of
// its wall time).
constexpr std::chrono::milliseconds kBetweenDropPasses{1};

json run_in_fuzzer(const Call& made) {
  const std::string error =
      drop_kernel_caches(drop_caches_level(made.request.value("what", "all")), nullptr, kBetweenDropPasses);
  if (!error.empty()) throw HarnessError("fusecheck fuzz: " + error);
  return {{"ok", true}, {"r", json::object()}};
}

std::string Operation::describe() const {
  std::string text = fuzz_actors().at(actor).name + ":";
  for (const auto& made : calls()) text += " {" + scenario_step(made) + "}";
  return text;
}

std::ostream& operator<<(std::ostream& os, const Operation& op) { return os << op.describe(); }

std::string scenario_step(const Call& made) {
  const json& request = made.request;
  const OpSpec* spec = find_op(request.at("op").get<std::string>());
  std::string text = "op: " + spec->name;
  if (made.actor != 0) text += ", actor: " + fuzz_actors().at(made.actor).name;
  auto add = [&](const std::string& key, const std::string& value) { text += ", " + key + ": " + value; };
  for (const auto& arg : spec->args) {
    if (!request.contains(arg.name)) continue;
    const json& value = request.at(arg.name);
    switch (arg.type) {
      case ArgType::mode: add(arg.name, octal(value.get<unsigned>())); break;
      case ArgType::flags: {
        auto named = made.arg_flag_names.find(arg.name);
        const auto& flag_names = named == made.arg_flag_names.end() ? made.flag_names : named->second;
        std::string names;
        for (const auto& name : flag_names) names += (names.empty() ? "" : ", ") + name;
        add(arg.name, "[" + names + "]");
        break;
      }
      case ArgType::time:
        add(arg.name, value.at("kind") == "ns" ? std::to_string(value.at("ns").get<long long>())
                                               : value.at("kind").get<std::string>());
        break;
      default: add(arg.name, value.is_string() ? json(value).dump() : value.dump());
    }
  }
  if (made.gen) {
    add("gen", "{size: " + std::to_string(made.gen->first) + ", seed: " + std::to_string(made.gen->second) + "}");
  } else if (request.contains("data")) {
    add("hex", json(request.at("data")).dump());
  }
  return text;
}

}  // namespace fusecheck::fuzz
