// fusecheck-actor: the process that makes a scenario's system calls. Started by the harness
// as root, it drops to the identity given on its command line (setgroups, setgid, setuid, in
// that order), then answers length-prefixed JSON requests on stdin with results on stdout.
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "actor.hpp"
#include "fusecheck/message_json.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/protocol.hpp"

using nlohmann::json;
using namespace fusecheck;
using namespace fusecheck::actor;

namespace {

using ExecutorMap = std::unordered_map<std::string_view, ExecuteFn>;

// Every executor by op name. Throws unless each actor op of the op table has exactly one
// executor and every executor other than the harness-internal ones has a row in the table.
ExecutorMap executor_map() {
  ExecutorMap map;
  for (const auto* family : {&file_executors, &directory_executors, &xattr_executors, &metadata_executors,
                             &mapping_executors, &handle_executors})
    for (const auto& executor : *family) {
      const OpSpec* op = find_op(executor.op);
      if (op == nullptr || op->family == OpFamily::engine)
        throw std::logic_error("executor for '" + std::string(executor.op) + "', which the op table lacks");
      if (!map.emplace(executor.op, executor.run).second)
        throw std::logic_error("two executors for '" + std::string(executor.op) + "'");
    }
  for (const auto& op : op_table())
    if (op.family != OpFamily::engine && !map.count(op.name))
      throw std::logic_error("op '" + op.name + "' of the op table has no executor");
  for (const auto& executor : internal_executors)
    if (!map.emplace(executor.op, executor.run).second)
      throw std::logic_error("internal request '" + std::string(executor.op) + "' shadows an op");
  return map;
}

json handle(const ExecutorMap& executors, const json& request) {
  const auto op = request.at("op").get<std::string>();
  auto found = executors.find(op);
  if (found == executors.end()) throw BadRequest{"unknown op '" + op + "'"};
  return found->second(request);
}

// A uid/gid argument: 0..4294967294, since (uid_t)-1 would leave the id unchanged (root).
unsigned id_arg(const char* text) {
  unsigned long long value = std::stoull(text);
  if (value > 4294967294ULL || text[0] == '-') throw std::runtime_error(std::string("id out of range: ") + text);
  return static_cast<unsigned>(value);
}

std::vector<gid_t> parse_groups(const std::string& text) {
  std::vector<gid_t> groups;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    if (comma > at) groups.push_back(id_arg(text.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  return groups;
}

// A non-root actor keeps one capability, CAP_SYS_CHROOT, to enter and leave test workdirs
// (internal.cpp); it grants nothing a file operation checks.
void keep_only_chroot_after_setuid(uid_t uid) {
  if (uid != 0 && ::prctl(PR_SET_KEEPCAPS, 1) != 0)
    throw std::runtime_error(std::string("PR_SET_KEEPCAPS: ") + std::strerror(errno));
}

void limit_capabilities_to_chroot() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[CAP_TO_INDEX(CAP_SYS_CHROOT)].permitted = CAP_TO_MASK(CAP_SYS_CHROOT);
  data[CAP_TO_INDEX(CAP_SYS_CHROOT)].effective = CAP_TO_MASK(CAP_SYS_CHROOT);
  if (::syscall(SYS_capset, &header, data) != 0)
    throw std::runtime_error(std::string("capset: ") + std::strerror(errno));
  ::prctl(PR_SET_KEEPCAPS, 0);
}

void become(char** argv) {
  uid_t uid = id_arg(argv[1]);
  gid_t gid = id_arg(argv[2]);
  auto groups = parse_groups(argv[3]);
  auto mask = static_cast<mode_t>(std::stoul(argv[4], nullptr, 8));
  if (::geteuid() == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0)
      throw std::runtime_error(std::string("setgroups: ") + std::strerror(errno));
    if (::setresgid(gid, gid, gid) != 0) throw std::runtime_error(std::string("setresgid: ") + std::strerror(errno));
    keep_only_chroot_after_setuid(uid);
    if (::setresuid(uid, uid, uid) != 0) throw std::runtime_error(std::string("setresuid: ") + std::strerror(errno));
    if (uid != 0) limit_capabilities_to_chroot();
    // setuid clears the dumpable flag and with it nothing we need; PDEATHSIG survives it
    // only for same-credential changes, so set it again.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  } else if (uid != ::geteuid() || gid != ::getegid()) {
    throw std::runtime_error("not root: cannot become uid " + std::to_string(uid));
  }
  ::umask(mask);
}

int64_t coarse_clock_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
}

struct Answer {
  json reply;
  bool hold = false;  // more of its batch follows: the reply may wait for theirs
  bool exit = false;
};

// A request marked "clock" gets "t" in its reply: the coarse clock (tmpfs's timestamp clock)
// right after the call, so a harness that reads the reply later still knows that every
// later call of this actor's batch came after that time.
Answer answer(const ExecutorMap& executors, const std::string& payload) {
  Answer answer;
  bool stamp = false;
  try {
    json request = parse_message(payload);
    if (request.at("op") == "exit") return {json(), false, true};
    answer.hold = request.value("hold", false);
    stamp = request.value("clock", false);
    json result = handle(executors, request);
    answer.reply = json(json::value_t::object);
    answer.reply.get_ref<json::object_t&>().emplace("ok", true);
    answer.reply.get_ref<json::object_t&>().emplace("r", std::move(result));
  } catch (const SyscallFailed& failed) {
    answer.reply = json{{"ok", false}, {"errno", failed.err}};
  } catch (const AccessSignalled& caught) {
    answer.reply = json{{"ok", false}, {"signal", caught.signal}};
  } catch (const BadRequest& bad) {
    answer.reply = json{{"ok", false}, {"protocol_error", bad.message}};
  } catch (const std::exception& error) {
    answer.reply = json{{"ok", false}, {"protocol_error", error.what()}};
  }
  if (stamp) answer.reply["t"] = coarse_clock_ns();
  return answer;
}

void serve(const ExecutorMap& executors) {
  FrameReader requests(STDIN_FILENO);
  ReplyWriter replies(STDOUT_FILENO);
  std::string payload;
  while (requests.read(payload) == FrameStatus::ok) {
    Answer done = answer(executors, payload);
    if (done.exit) break;
    if (!replies.send(message_text(done.reply), done.hold)) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Die with the harness: an orphaned actor must not keep a mount busy. The harness armed this
  // before exec, and checked it was still there (ActorProcess::start); this is for a manual run.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::signal(SIGPIPE, SIG_IGN);
  if (argc != 5) {
    std::fprintf(stderr, "usage: fusecheck-actor UID GID GROUPS(a,b,..) UMASK(octal)\n");
    return 2;
  }
  ExecutorMap executors;
  try {
    started_as_root();
    if (real_root_fd() < 0) throw std::runtime_error(std::string("cannot open /: ") + std::strerror(errno));
    executors = executor_map();
    become(argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fusecheck-actor: %s\n", error.what());
    return 3;
  }
  // The `signal` step's SIGUSR1 interrupts the call in progress: a handler that does nothing,
  // without SA_RESTART, so the call ends with EINTR (FUSE: the kernel sends INTERRUPT).
  struct sigaction interrupt {};
  interrupt.sa_handler = [](int) {};
  sigemptyset(&interrupt.sa_mask);
  ::sigaction(SIGUSR1, &interrupt, nullptr);
  serve(executors);
  close_everything();
  return 0;
}
