// fusepp::Relay between a real FUSE mount and a daemon the test plays on the socket pair, so
// that the test times each reply: after an abort of the connection the kernel refuses a reply
// (ENOENT), which no real daemon can time, and the relay must give the daemon back what that
// reply carried (a FORGET per node it named, a RELEASE for the handle it opened).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fusepp/fuse_connection.hpp"
#include "fusepp/relay.hpp"
#include "fusepp/testing.hpp"

namespace {

using namespace std::chrono_literals;
using fusepp::testing::errno_name;

constexpr uint64_t kDirHandle = 7;

template <class T>
std::string bytes_of(const T& value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

// The daemon's side of the socket pair: the requests the relay passes on, and the replies.
class ScriptedDaemon {
 public:
  explicit ScriptedDaemon(int fd) : fd_(fd) {}

  // The next message from the relay within `limit`; empty when none came.
  std::string next_message(std::chrono::milliseconds limit = 5s) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(limit.count())) != 1) return {};
    std::string message(fusepp::Relay::max_message_size(), '\0');
    ssize_t n = ::read(fd_, message.data(), message.size());
    message.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return message;
  }
  void reply(uint64_t unique, const std::string& payload, int error = 0) {
    fuse_out_header out{static_cast<uint32_t>(sizeof(fuse_out_header) + payload.size()), -error, unique};
    std::string message = bytes_of(out) + payload;
    ASSERT_EQ(::send(fd_, message.data(), message.size(), MSG_NOSIGNAL), static_cast<ssize_t>(message.size()));
  }
  // Answers as an empty directory would until the kernel asks `opcode`, whose header it
  // returns (opcode 0 when none came).
  fuse_in_header serve_until(uint32_t opcode) {
    for (;;) {
      std::string message = next_message();
      fuse_in_header in{};
      if (message.size() < sizeof in) return in;
      std::memcpy(&in, message.data(), sizeof in);
      if (in.opcode == opcode) return in;
      answer(in, message);
    }
  }
  // What the relay sent the daemon within `limit`, one line per FORGET ("FORGET node 20
  // nlookup 1"), RELEASE or RELEASEDIR ("RELEASE node 21 fh 99"), in order.
  std::vector<std::string> undone(std::chrono::milliseconds limit) {
    std::vector<std::string> sent;
    for (std::string message; !(message = next_message(limit)).empty();) {
      fuse_in_header in{};
      if (message.size() < sizeof in) continue;
      std::memcpy(&in, message.data(), sizeof in);
      std::string node = " node " + std::to_string(in.nodeid);
      if (in.opcode == FUSE_FORGET && message.size() >= sizeof in + sizeof(fuse_forget_in)) {
        fuse_forget_in forget{};
        std::memcpy(&forget, message.data() + sizeof in, sizeof forget);
        sent.push_back("FORGET" + node + " nlookup " + std::to_string(forget.nlookup));
      } else if ((in.opcode == FUSE_RELEASE || in.opcode == FUSE_RELEASEDIR) &&
                 message.size() >= sizeof in + sizeof(fuse_release_in)) {
        fuse_release_in release{};
        std::memcpy(&release, message.data() + sizeof in, sizeof release);
        sent.push_back((in.opcode == FUSE_RELEASE ? "RELEASE" : "RELEASEDIR") + node + " fh " +
                       std::to_string(release.fh));
      }
    }
    return sent;
  }

 private:
  void answer(const fuse_in_header& in, const std::string& message) {
    if (in.opcode == FUSE_INIT) {
      fuse_init_in init_in{};
      std::memcpy(&init_in, message.data() + sizeof in, std::min(sizeof init_in, message.size() - sizeof in));
      fuse_init_out init{};
      init.major = FUSE_KERNEL_VERSION;
      init.minor = FUSE_KERNEL_MINOR_VERSION;
      init.max_readahead = init_in.max_readahead;
      init.flags = FUSE_DO_READDIRPLUS;  // without READDIRPLUS_AUTO: every readdir is a READDIRPLUS
      init.max_background = 16;
      init.congestion_threshold = 12;
      init.max_write = 65536;
      init.time_gran = 1;
      return reply(in.unique, bytes_of(init));
    }
    if (in.opcode == FUSE_OPENDIR) {
      fuse_open_out open{};
      open.fh = kDirHandle;
      return reply(in.unique, bytes_of(open));
    }
    if (in.opcode == FUSE_GETATTR) {
      fuse_attr_out attr{};
      attr.attr.ino = FUSE_ROOT_ID;
      attr.attr.mode = S_IFDIR | 0755;
      attr.attr.nlink = 2;
      return reply(in.unique, bytes_of(attr));
    }
    if (in.opcode == FUSE_LOOKUP) return reply(in.unique, {}, ENOENT);
    reply(in.unique, {}, ENOSYS);
  }

  int fd_;
};

// One READDIRPLUS entry; node 0 takes no reference.
std::string direntplus(uint64_t node, const std::string& name, uint64_t next_offset) {
  fuse_direntplus entry{};
  entry.entry_out.nodeid = node;
  entry.entry_out.attr.ino = node;
  entry.entry_out.attr.mode = name == "." ? S_IFDIR | 0755 : S_IFREG | 0644;
  entry.entry_out.attr.nlink = 1;
  entry.dirent.ino = node;
  entry.dirent.off = next_offset;
  entry.dirent.namelen = static_cast<uint32_t>(name.size());
  entry.dirent.type = name == "." ? DT_DIR : DT_REG;
  std::string bytes(FUSE_DIRENTPLUS_SIZE(&entry), '\0');
  std::memcpy(bytes.data(), &entry, sizeof entry);
  std::memcpy(bytes.data() + FUSE_NAME_OFFSET_DIRENTPLUS, name.data(), name.size());
  return bytes;
}

// An entry reply's payload: a regular file with this node id.
fuse_entry_out file_entry(uint64_t node) {
  fuse_entry_out entry{};
  entry.nodeid = node;
  entry.attr.ino = node;
  entry.attr.mode = S_IFREG | 0644;
  entry.attr.nlink = 1;
  return entry;
}

// Moves this process into a mount namespace of its own, private from the host's, where
// fusectl is mounted (systems and containers may lack it; its abort files are the only way to
// make the kernel refuse replies): what the test mounts there ends with the process, even if
// the test dies. Before any thread starts: unshare refuses a process whose threads share it.
struct PrivateMountNamespace {
  PrivateMountNamespace() {
    static constexpr const char* kConnections = "/sys/fs/fuse/connections";
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      throw std::runtime_error("no mount namespace of our own: " + errno_name(-1));
    if (!fusepp::mount_at(kConnections) && ::mount("fusectl", kConnections, "fusectl", 0, nullptr) != 0)
      throw std::runtime_error(std::string("cannot mount fusectl: ") + errno_name(-1));
  }
};

// What a client child does in the mounted directory; it returns what happened.
using Client = std::function<std::string(const std::string& dir)>;

std::string list_directory(const std::string& dir) {
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return "opendir: " + errno_name(-1);
  errno = 0;
  std::string outcome = ::readdir(listing) != nullptr ? "an entry" : "readdir: " + errno_name(errno ? -1 : 0);
  ::closedir(listing);
  return outcome;
}

// A FUSE mount of a fresh directory on a /dev/fuse descriptor of its own, a Relay between it
// and a ScriptedDaemon, and a client child (started before any relay thread: its requests wait
// for INIT). Whatever happens, the connection is aborted (which ends the child's wait and the
// relay's reads), the relay stopped, the mount and directory removed.
class RelayedScript {
 public:
  explicit RelayedScript(Client client) {
    char templ[] = "/tmp/fusecheck-relay-discard-XXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp: " + errno_name(-1));
    dir_ = templ;
    kernel_fd_ = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    std::string options = "fd=" + std::to_string(kernel_fd_) + ",rootmode=40000,user_id=0,group_id=0";
    if (kernel_fd_ < 0 || ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel_) != 0 ||
        ::mount("fusecheck-relay-discard", dir_.c_str(), "fuse", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      std::string why = errno_name(-1);
      remove();
      throw std::runtime_error("cannot mount " + dir_ + ": " + why);
    }
    connection_ = fusepp::connection_id(dir_);
    client_ = fusepp::testing::start_child([dir = dir_, client = std::move(client)] { return client(dir); });
    relay_.emplace(kernel_fd_, channel_[0], observer_);
    relay_->start([](const std::string&) {});
  }
  ~RelayedScript() {
    abort();
    relay_->stop();
    fusepp::testing::finish_child(client_, 10s);
    remove();
  }
  void abort() { fusepp::abort_connection(connection_); }
  ScriptedDaemon daemon() { return ScriptedDaemon(channel_[1]); }
  fusepp::Observer& observer() { return observer_; }

 private:
  // Each step is harmless where the constructor did not get that far.
  void remove() {
    ::umount2(dir_.c_str(), MNT_DETACH);
    for (int fd : {kernel_fd_, channel_[0], channel_[1]})
      if (fd >= 0) ::close(fd);
    ::rmdir(dir_.c_str());
  }

  PrivateMountNamespace namespace_;  // first: before anything is mounted
  std::string dir_;
  int kernel_fd_ = -1;
  int channel_[2] = {-1, -1};
  std::string connection_;
  fusepp::Observer observer_;
  std::optional<fusepp::Relay> relay_;
  fusepp::testing::RunningChild client_;
};

// The relay saw the kernel refuse the reply to `op`, and every reference the daemon handed out
// came back.
void expect_refused_and_balanced(fusepp::Observer& observer, const std::string& op) {
  auto trace = observer.trace();
  auto record = std::find_if(trace.begin(), trace.end(), [&](const auto& r) { return r.op == op; });
  ASSERT_NE(record, trace.end()) << "no " << op << " in the trace";
  EXPECT_TRUE(record->interrupted) << "the relay did not see the kernel refuse the reply to " << op;
  fusepp::BalanceReport balance = observer.lookup_balance();
  EXPECT_TRUE(balance.problems.empty()) << balance.describe();
  for (const fusepp::NodeBalance& node : balance.nodes)
    EXPECT_EQ(node.lookups, node.forgets) << "node " << node.node << " " << node.path;
}

// Runs `client` until the kernel asks `opcode` (`op` in the trace), aborts the connection,
// answers with `payload`, and returns what the relay then gave back to the daemon, after
// checking that it saw the reply refused and that every reference came back.
std::vector<std::string> refused_reply_undoes(const Client& client, uint32_t opcode, const std::string& op,
                                              const std::string& payload) {
  RelayedScript script(client);
  ScriptedDaemon daemon = script.daemon();
  fuse_in_header request = daemon.serve_until(opcode);
  if (request.opcode != opcode) {
    ADD_FAILURE() << "the kernel asked no " << op;
    return {};
  }
  script.abort();
  daemon.reply(request.unique, payload);
  std::vector<std::string> undone = daemon.undone(1s);
  expect_refused_and_balanced(script.observer(), op);
  return undone;
}

// The daemon counted a reference for each entry of its READDIRPLUS reply with a node id other
// than "." and ".."; the kernel, whose connection was aborted meanwhile, refuses the reply, so
// only the relay can give those references back, one FORGET each.
TEST(RelayDiscardedReply, EveryEntryOfARefusedReaddirplusIsForgotten) {
  std::string entries =
      direntplus(FUSE_ROOT_ID, ".", 1) + direntplus(10, "a", 2) + direntplus(11, "b", 3) + direntplus(0, "c", 4);
  EXPECT_EQ(refused_reply_undoes(list_directory, FUSE_READDIRPLUS, "READDIRPLUS", entries),
            (std::vector<std::string>{"FORGET node 10 nlookup 1", "FORGET node 11 nlookup 1"}));
}

// A client that stats "file" in dir (a LOOKUP).
std::string stat_file(const std::string& dir) {
  struct stat st {};
  return ::stat((dir + "/file").c_str(), &st) == 0 ? "found" : "stat: " + errno_name(-1);
}

// The daemon counted a reference for the node of its LOOKUP reply, which the kernel refused.
TEST(RelayDiscardedReply, ARefusedEntryReplysNodeIsForgotten) {
  EXPECT_EQ(refused_reply_undoes(stat_file, FUSE_LOOKUP, "LOOKUP", bytes_of(file_entry(20))),
            std::vector<std::string>{"FORGET node 20 nlookup 1"});
}

// A client that creates "file" in dir (a LOOKUP, answered ENOENT, then a CREATE).
std::string create_file(const std::string& dir) {
  int fd = ::open((dir + "/file").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return "open: " + errno_name(-1);
  ::close(fd);
  return "created";
}

// A refused CREATE opened a file in the daemon and counted a reference for its node: the
// relay releases the handle, then forgets the node, the order in which the kernel would.
TEST(RelayDiscardedReply, ARefusedCreateIsReleasedThenItsNodeForgotten) {
  fuse_open_out open{};
  open.fh = 99;
  EXPECT_EQ(refused_reply_undoes(create_file, FUSE_CREATE, "CREATE", bytes_of(file_entry(21)) + bytes_of(open)),
            (std::vector<std::string>{"RELEASE node 21 fh 99", "FORGET node 21 nlookup 1"}));
}

// A refused OPENDIR opened a directory in the daemon: RELEASEDIR for the node it was asked
// about, and nothing to forget (an open takes no reference).
TEST(RelayDiscardedReply, ARefusedOpendirIsReleased) {
  fuse_open_out open{};
  open.fh = 77;
  EXPECT_EQ(refused_reply_undoes(list_directory, FUSE_OPENDIR, "OPENDIR", bytes_of(open)),
            std::vector<std::string>{"RELEASEDIR node 1 fh 77"});
}

}  // namespace
