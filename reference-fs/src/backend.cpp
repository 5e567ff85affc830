// memfs changed behind the kernel's back, for the control channel's "backend" command: writes,
// truncation, creation, removal and renames go through memfs's own handlers (as root, so the
// tmpfs rules hold), and the references those handlers count are given back at once; a
// node's type change and an inode number reused with a new generation act on the state.
#include <fcntl.h>
#include <fuse_lowlevel.h>

#include <cstring>

#include "fusepp/control.hpp"
#include "fusepp/testing.hpp"
#include "state.hpp"

namespace memfs {

using fusepp::ControlError;
using fusepp::InodeT;
using json = nlohmann::json;

namespace {

struct Resolved {
  uint64_t parent;
  std::string name;
  uint64_t ino;  // 0 when the name does not exist
};

// Splits "/a/b/c" into the directory /a/b (which must exist) and the name "c".
Resolved resolve(State& state, const std::string& path) {
  if (path.empty() || path[0] != '/' || path == "/")
    throw ControlError("\"path\" must be absolute and not /, got \"" + path + "\"");
  std::lock_guard lock(state.mutex);
  uint64_t dir = fusepp::ROOT_INODE;
  size_t start = 1;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    Inode* d = state.find_dir(dir);
    if (!d || part.empty()) throw ControlError("no directory on the way to \"" + path + "\"");
    const DirEntry* e = d->dir->find(part);
    if (slash == std::string::npos) return Resolved{dir, part, e ? e->ino : 0};
    if (!e) throw ControlError("no directory on the way to \"" + path + "\"");
    dir = e->ino;
    start = slash + 1;
  }
}

void check(int err, const std::string& what) {
  if (err != 0) throw ControlError(what + ": " + std::strerror(err));
}

template <class T>
T checked(fusepp::Result<T> r, const std::string& what) {
  check(r.error(), what);
  return std::move(*r);
}

// A node's mtime and ctime, put back after a change: a remote copy that preserves timestamps
// (or stores them coarsely) leaves the kernel no cue that the data changed.
struct KeptTimes {
  KeptTimes(State& state, uint64_t ino) : state(state), ino(ino) {
    std::lock_guard lock(state.mutex);
    const Inode& inode = *state.find(ino);
    mtime_ns = inode.mtime_ns;
    ctime_ns = inode.ctime_ns;
  }
  void restore() const {
    std::lock_guard lock(state.mutex);
    if (Inode* inode = state.find(ino)) {
      inode->mtime_ns = mtime_ns;
      inode->ctime_ns = ctime_ns;
    }
  }
  State& state;
  uint64_t ino;
  int64_t mtime_ns, ctime_ns;
};

}  // namespace

std::optional<uint64_t> MemFs::lookup_count(uint64_t ino) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->inodes.find(ino);
  if (it == state_->inodes.end()) return std::nullopt;
  return it->second.lookup_count;
}

json MemFs::backend(const json& q) {
  using fusepp::testing::run_handler;
  const fusepp::RequestContext root(0, 0, 0, 0);
  std::string action = q.value("action", "");
  std::string path = q.value("path", "");
  Resolved at = resolve(*state_, path);
  auto need = [&](bool exists) {
    if (exists && at.ino == 0) throw ControlError(path + ": no such file");
    if (!exists && at.ino != 0) throw ControlError(path + ": exists");
  };
  // An inode handed out by a handler counts a reference the kernel never got: give it back.
  auto give_back = [&](uint64_t ino) { run_handler(forget({fusepp::ForgetRequest{InodeT{ino}, 1}})); };
  if (action == "create" || action == "mkdir") {
    need(false);
    mode_t mode = q.value("mode", action == "mkdir" ? 0755u : 0644u);
    if (action == "mkdir") {
      auto attr = checked(run_handler(mkdir(InodeT{at.parent}, at.name, fusepp::ModeT{S_IFDIR | mode}, root)), path);
      give_back(attr.st_ino);
      return json{{"node", attr.st_ino.value}};
    }
    auto [info, attr] = checked(
        run_handler(create(InodeT{at.parent}, at.name, fusepp::ModeT{S_IFREG | mode}, fusepp::FlagT{O_WRONLY}, root)),
        path);
    run_handler(release(info.fh));
    give_back(attr.st_ino);
    return json{{"node", attr.st_ino.value}};
  }
  if (action == "write" || action == "truncate") {
    need(true);
    std::optional<KeptTimes> kept;
    if (q.value("keep_times", false)) kept.emplace(*state_, at.ino);
    auto info = checked(run_handler(open(InodeT{at.ino}, fusepp::FlagT{O_WRONLY}, root)), path);
    int err = 0;
    if (action == "write") {
      std::string data = q.value("data", "");
      err = run_handler(write(info.fh, q.value("offset", int64_t{0}), data, root)).error();
    } else {
      fusepp::EntryAttributes size;
      size.st_size = q.value("size", int64_t{0});
      fusepp::SetattrFields fields(FUSE_SET_ATTR_SIZE);
      err = run_handler(setattr(InodeT{at.ino}, size, fields, info.fh, root)).error();
    }
    run_handler(release(info.fh));
    check(err, path);
    if (kept) kept->restore();
    return json::object();
  }
  if (action == "unlink") {
    need(true);
    bool dir = false;
    {
      std::lock_guard lock(state_->mutex);
      dir = state_->find(at.ino)->is_dir();
    }
    check((dir ? run_handler(rmdir(InodeT{at.parent}, at.name, root))
               : run_handler(unlink(InodeT{at.parent}, at.name, root)))
              .error(),
          path);
    return json::object();
  }
  if (action == "rename") {
    need(true);
    Resolved to = resolve(*state_, q.value("to", ""));
    check(run_handler(rename(InodeT{at.parent}, at.name, InodeT{to.parent}, to.name, fusepp::FlagT{0}, root)).error(),
          path);
    return json::object();
  }
  std::lock_guard lock(state_->mutex);
  need(true);
  Inode& inode = *state_->find(at.ino);
  if (action == "set_type") {
    // Only between non-directory types: the name and the link count stay valid.
    mode_t type = q.value("type", 0u) & S_IFMT;
    if (inode.is_dir() || type == 0 || type == S_IFDIR)
      throw ControlError("set_type: files only, to a non-directory type");
    inode.mode = type | (inode.mode & 07777);
    inode.ctime_ns = now_ns();
    return json::object();
  }
  if (action == "reuse") {
    // The node becomes a new, empty regular file under the same inode number with the next
    // generation: what a filesystem recycling inode numbers shows the kernel.
    if (inode.is_dir()) throw ControlError("reuse: files only");
    state_->resize(inode, 0);
    inode.symlink_target.clear();
    inode.mode = S_IFREG | (inode.mode & 07777);
    inode.generation++;
    inode.mtime_ns = inode.ctime_ns = now_ns();
    return json{{"node", inode.ino}, {"generation", inode.generation}};
  }
  throw ControlError("unknown backend action \"" + action + "\"");
}

}  // namespace memfs
