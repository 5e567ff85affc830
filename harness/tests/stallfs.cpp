// fusecheck-test-stallfs: a tiny misbehaving FUSE daemon for the harness's own tests (it is
// a test fixture: only it links libfuse, never the harness). A small in-memory tree that
// works normally, except: looking up the name given with --hang never gets a reply, and
// looking up the name given with --crash kills the daemon with abort(); and a mount option
// named with --refuse is refused the way a libfuse 2 daemon (bindfs) does it: after mounting.
// Usage: fusecheck-test-stallfs [--hang NAME] [--crash NAME] [--ignore-sigterm]
//          [--refuse OPTION [--refuse-after-ms N] [--linger-ms N]] MNT [-o opts]
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

namespace {

struct Node {
  struct stat attr {};
  std::map<std::string, fuse_ino_t> children;
};

std::map<fuse_ino_t, Node> nodes;
fuse_ino_t next_ino = 2;
std::string hang_name, crash_name;
std::vector<fuse_req_t> held_back;  // the --hang lookups, answered only when the loop ends

timespec now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

fuse_ino_t make_node(mode_t mode, const fuse_ctx* ctx) {
  fuse_ino_t ino = next_ino++;
  Node& node = nodes[ino];
  node.attr.st_ino = ino;
  node.attr.st_mode = mode;
  node.attr.st_nlink = S_ISDIR(mode) ? 2 : 1;
  node.attr.st_uid = ctx ? ctx->uid : 0;
  node.attr.st_gid = ctx ? ctx->gid : 0;
  node.attr.st_blksize = 4096;
  node.attr.st_atim = node.attr.st_mtim = node.attr.st_ctim = now();
  return ino;
}

void reply_entry(fuse_req_t req, fuse_ino_t ino) {
  fuse_entry_param entry{};
  entry.ino = ino;
  entry.attr = nodes[ino].attr;
  fuse_reply_entry(req, &entry);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (!hang_name.empty() && hang_name == name) return held_back.push_back(req);  // the kernel waits
  if (!crash_name.empty() && crash_name == name) abort();
  auto& children = nodes[parent].children;
  auto found = children.find(name);
  if (found == children.end()) return (void)fuse_reply_err(req, ENOENT);
  reply_entry(req, found->second);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto found = nodes.find(ino);
  if (found == nodes.end()) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_attr(req, &found->second.attr, 0);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  struct stat& st = nodes[ino].attr;
  if (to_set & FUSE_SET_ATTR_MODE) st.st_mode = (st.st_mode & S_IFMT) | (attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) st.st_uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) st.st_gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) st.st_size = attr->st_size;
  st.st_ctim = now();
  fuse_reply_attr(req, &st, 0);
}

void add_child(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto& children = nodes[parent].children;
  if (children.count(name)) return (void)fuse_reply_err(req, EEXIST);
  fuse_ino_t ino = make_node(mode, fuse_req_ctx(req));
  nodes[parent].children[name] = ino;
  if (S_ISDIR(mode)) nodes[parent].attr.st_nlink++;
  if (fi == nullptr) return reply_entry(req, ino);
  fuse_entry_param entry{};
  entry.ino = ino;
  entry.attr = nodes[ino].attr;
  fuse_reply_create(req, &entry, fi);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  add_child(req, parent, name, S_IFDIR | (mode & 07777), nullptr);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  if (!S_ISREG(mode)) return (void)fuse_reply_err(req, EPERM);
  add_child(req, parent, name, mode, nullptr);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  add_child(req, parent, name, S_IFREG | (mode & 07777), fi);
}

void remove_child(fuse_req_t req, fuse_ino_t parent, const char* name, bool want_dir) {
  auto& children = nodes[parent].children;
  auto found = children.find(name);
  if (found == children.end()) return (void)fuse_reply_err(req, ENOENT);
  Node& node = nodes[found->second];
  if (want_dir != S_ISDIR(node.attr.st_mode)) return (void)fuse_reply_err(req, want_dir ? ENOTDIR : EISDIR);
  if (want_dir && !node.children.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  if (want_dir) nodes[parent].attr.st_nlink--;
  children.erase(found);
  fuse_reply_err(req, 0);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) { remove_child(req, parent, name, false); }
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) { remove_child(req, parent, name, true); }

void op_open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { fuse_reply_open(req, fi); }

void op_read(fuse_req_t req, fuse_ino_t, size_t, off_t, fuse_file_info*) { fuse_reply_buf(req, nullptr, 0); }

void op_write(fuse_req_t req, fuse_ino_t ino, const char*, size_t size, off_t off, fuse_file_info*) {
  struct stat& st = nodes[ino].attr;
  if (off + static_cast<off_t>(size) > st.st_size) st.st_size = off + static_cast<off_t>(size);
  fuse_reply_write(req, size);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", ino}, {"..", 1}};
  for (const auto& [name, child] : nodes[ino].children) entries.emplace_back(name, child);
  std::vector<char> buffer(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].second;
    st.st_mode = nodes[entries[i].second].attr.st_mode;
    size_t need = fuse_add_direntry(req, buffer.data() + used, size - used, entries[i].first.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

// Drops `refused` (bare or as refused=VALUE) from every "-o a,b,c" in argv; true if it was there.
bool strip_option(std::vector<std::string>& argv, const std::string& refused) {
  bool found = false;
  for (size_t i = 0; i + 1 < argv.size();) {
    if (argv[i] != "-o") {
      ++i;
      continue;
    }
    std::istringstream items(argv[i + 1]);
    std::string item, kept;
    while (std::getline(items, item, ',')) {
      if (item == refused || item.rfind(refused + "=", 0) == 0)
        found = true;
      else
        kept += (kept.empty() ? "" : ",") + item;
    }
    if (kept.empty()) {
      argv.erase(argv.begin() + static_cast<long>(i), argv.begin() + static_cast<long>(i) + 2);
    } else {
      argv[i + 1] = kept;
      i += 2;
    }
  }
  return found;
}

// What libfuse 2's fuse_main does with an option it only rejects in fuse_new, after
// fuse_mount: the mount is live but INIT is never answered (requests wait), then the
// connection closes (requests fail ENOTCONN), then a lazy unmount (the bare mountpoint
// directory shows again), then exit 1.
[[noreturn]] void refuse_after_mounting(fuse_session* session, const char* mountpoint, const std::string& option,
                                        int refuse_after_ms, int linger_ms) {
  std::fprintf(stderr, "stallfs: unknown option `%s'\n", option.c_str());
  std::this_thread::sleep_for(std::chrono::milliseconds(refuse_after_ms));
  ::close(fuse_session_fd(session));
  std::this_thread::sleep_for(std::chrono::milliseconds(linger_ms));
  ::umount2(mountpoint, MNT_DETACH);
  _exit(1);
}

struct Settings {
  bool ignore_sigterm = false;
  bool refuse = false;  // the refused option was given: refuse it after mounting
  std::string refused_option;
  int refuse_after_ms = 0, linger_ms = 0;
};

// Mounts and serves until unmounted; returns the exit code. Frees what it allocated on every
// path (the harness's ASan run reports leaks at exit, also of fixtures).
int serve(fuse_args* args, const char* mountpoint, const Settings& settings) {
  Node& root = nodes[FUSE_ROOT_ID];
  root.attr.st_ino = FUSE_ROOT_ID;
  root.attr.st_mode = S_IFDIR | 0755;
  root.attr.st_nlink = 2;
  root.attr.st_atim = root.attr.st_mtim = root.attr.st_ctim = now();

  fuse_lowlevel_ops ops{};
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mkdir = op_mkdir;
  ops.mknod = op_mknod;
  ops.create = op_create;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.opendir = op_open;
  ops.readdir = op_readdir;
  fuse_session* session = fuse_session_new(args, &ops, sizeof ops, nullptr);
  if (session == nullptr) return 1;
  if (settings.ignore_sigterm) {
    signal(SIGTERM, SIG_IGN);  // imitates a daemon that will not go away by itself
  } else if (fuse_set_signal_handlers(session) != 0) {
    fuse_session_destroy(session);
    return 1;
  }
  int rc = 1;
  if (fuse_session_mount(session, mountpoint) == 0) {
    if (settings.refuse)
      refuse_after_mounting(session, mountpoint, settings.refused_option, settings.refuse_after_ms, settings.linger_ms);
    std::fprintf(stderr, "stallfs: serving %s\n", mountpoint);
    rc = fuse_session_loop(session) == 0 ? 0 : 1;
    // The connection is gone by now, so these answers go nowhere, but libfuse frees a
    // request only when it is answered.
    for (fuse_req_t req : held_back) fuse_reply_err(req, EIO);
    fuse_session_unmount(session);
  }
  if (!settings.ignore_sigterm) fuse_remove_signal_handlers(session);
  fuse_session_destroy(session);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the --crash abort() must not write a core file
  Settings settings;
  std::vector<std::string> kept = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--hang" && i + 1 < argc)
      hang_name = argv[++i];
    else if (arg == "--crash" && i + 1 < argc)
      crash_name = argv[++i];
    else if (arg == "--ignore-sigterm")
      settings.ignore_sigterm = true;
    else if (arg == "--refuse" && i + 1 < argc)
      settings.refused_option = argv[++i];
    else if (arg == "--refuse-after-ms" && i + 1 < argc)
      settings.refuse_after_ms = std::stoi(argv[++i]);
    else if (arg == "--linger-ms" && i + 1 < argc)
      settings.linger_ms = std::stoi(argv[++i]);
    else
      kept.push_back(arg);
  }
  settings.refuse = !settings.refused_option.empty() && strip_option(kept, settings.refused_option);
  std::vector<char*> rest;
  for (auto& arg : kept) rest.push_back(arg.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(rest.size()), rest.data());
  fuse_cmdline_opts opts{};
  int rc = 2;
  if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == nullptr) {
    std::fprintf(stderr,
                 "usage: %s [--hang NAME] [--crash NAME] [--ignore-sigterm] [--refuse OPTION "
                 "[--refuse-after-ms N] [--linger-ms N]] MNT [-o opts]\n",
                 argv[0]);
  } else {
    rc = serve(&args, opts.mountpoint, settings);
  }
  free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return rc;
}
