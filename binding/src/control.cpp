// The control channel: a Unix socket accepting any number of clients, one JSON request per
// line, one JSON answer per line, in order. Waiting commands (wait_held, wait_quiet, notify)
// poll on an Asio timer, so the serving thread keeps answering the kernel meanwhile; a
// notification goes through the session's notifier thread, never the serving thread.
#include "fusepp/control.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <system_error>

// GCC 12 reports the frame of run() below (a large coroutine) as freed by a mismatched
// operator delete: Boost 1.74's awaitable_frame_base pairs its own new and delete, and the
// warning is a known false positive for coroutine frames (GCC bug 108121 family).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fusepp {

using json = nlohmann::json;
using local = asio::local::stream_protocol;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxLine = 1 << 20;
constexpr auto kPoll = 2ms;

const std::map<std::string, int, std::less<>>& errno_names() {
  static const std::map<std::string, int, std::less<>> names{
      {"EPERM", EPERM},           {"ENOENT", ENOENT},       {"EINTR", EINTR},        {"EIO", EIO},
      {"EBADF", EBADF},           {"EAGAIN", EAGAIN},       {"ENOMEM", ENOMEM},      {"EACCES", EACCES},
      {"EBUSY", EBUSY},           {"EEXIST", EEXIST},       {"EXDEV", EXDEV},        {"ENOTDIR", ENOTDIR},
      {"EISDIR", EISDIR},         {"EINVAL", EINVAL},       {"EFBIG", EFBIG},        {"ENOSPC", ENOSPC},
      {"EROFS", EROFS},           {"EMLINK", EMLINK},       {"ERANGE", ERANGE},      {"ENAMETOOLONG", ENAMETOOLONG},
      {"ENOSYS", ENOSYS},         {"ENOTEMPTY", ENOTEMPTY}, {"ELOOP", ELOOP},        {"ENODATA", ENODATA},
      {"EOPNOTSUPP", EOPNOTSUPP}, {"ENOTCONN", ENOTCONN},   {"ESTALE", ESTALE},      {"EDQUOT", EDQUOT},
      {"ETIMEDOUT", ETIMEDOUT},   {"E2BIG", E2BIG},         {"EOVERFLOW", EOVERFLOW}};
  return names;
}

// Every key of j must be one of allowed: control input is untrusted, and a misspelt key that
// silently did nothing would make a scenario pass without testing anything.
void check_keys(const json& j, std::initializer_list<const char*> allowed, const char* what) {
  if (!j.is_object()) throw ControlError(std::string(what) + " must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) throw ControlError(std::string(what) + ": unknown key \"" + key + "\"");
  }
}

template <class T>
T get(const json& j, const char* key) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw ControlError(std::string("\"") + key + "\" is missing or has the wrong type");
  }
}

template <class T>
std::optional<T> get_opt(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return get<T>(j, key);
}

uint64_t node_from_json(const json& j, const Observer& observer, const char* node_key, const char* path_key) {
  if (auto node = get_opt<uint64_t>(j, node_key)) return *node;
  if (auto path = get_opt<std::string>(j, path_key)) {
    if (auto node = observer.node_of(*path)) return *node;
    throw ControlError("no node known for path \"" + *path + "\" (the kernel never looked it up)");
  }
  throw ControlError(std::string("needs \"") + node_key + "\" or \"" + path_key + "\"");
}

ReplyOverride reply_from_json(const json& j) {
  check_keys(j,
             {"mode", "size", "ino", "generation", "mtime_ns", "entry_timeout", "attr_timeout", "keep_cache",
              "direct_io", "negative_timeout"},
             "reply");
  return ReplyOverride{.mode = get_opt<uint32_t>(j, "mode"),
                       .size = get_opt<int64_t>(j, "size"),
                       .ino = get_opt<uint64_t>(j, "ino"),
                       .generation = get_opt<uint64_t>(j, "generation"),
                       .mtime_ns = get_opt<int64_t>(j, "mtime_ns"),
                       .entry_timeout = get_opt<double>(j, "entry_timeout"),
                       .attr_timeout = get_opt<double>(j, "attr_timeout"),
                       .keep_cache = get_opt<bool>(j, "keep_cache"),
                       .direct_io = get_opt<bool>(j, "direct_io"),
                       .negative_timeout = get_opt<double>(j, "negative_timeout")};
}

}  // namespace

int errno_from_json(const json& j) {
  if (j.is_number_integer() && j.get<int>() > 0) return j.get<int>();
  if (j.is_string()) {
    auto it = errno_names().find(j.get<std::string>());
    if (it != errno_names().end()) return it->second;
  }
  throw ControlError("\"error\" must be a positive errno number or a name such as \"EIO\", not " + j.dump());
}

json to_json(const TraceRecord& r) {
  json j{{"seq", r.seq},           {"op", r.op},        {"node", r.node},
         {"path", r.path},         {"name", r.name},    {"fh", r.fh},
         {"offset", r.offset},     {"size", r.size},    {"pid", r.pid},
         {"uid", r.uid},           {"gid", r.gid},      {"answered", r.answered},
         {"error", r.error},       {"rule", r.rule},    {"interrupted", r.interrupted},
         {"start_ns", r.start_ns}, {"end_ns", r.end_ns}};
  if (!r.name2.empty()) j["name2"] = r.name2;
  if (r.reply_node != 0 || r.op == "LOOKUP") j["reply_node"] = r.reply_node;
  if (r.op == "READDIRPLUS") j["entries"] = r.entries;
  if (r.op == "FORGET" || r.op == "BATCH_FORGET") {
    j["nlookup"] = r.nlookup;
    json pairs = json::array();
    for (const auto& [node, n] : r.forgets) pairs.push_back({node, n});
    j["forgets"] = pairs;
  }
  return j;
}

Notification notification_from_json(const json& j, const Observer& observer) {
  check_keys(j, {"kind", "node", "path", "name", "child", "child_path", "offset", "length", "data"}, "notify");
  auto kind = notification_kind(get<std::string>(j, "kind"));
  if (!kind) throw ControlError("unknown notification kind " + j["kind"].dump());
  Notification n;
  n.kind = *kind;
  n.node = node_from_json(j, observer, "node", "path");
  bool entry = n.kind == Notification::Kind::inval_entry || n.kind == Notification::Kind::expire_entry ||
               n.kind == Notification::Kind::delete_entry;
  if (entry) n.name = get<std::string>(j, "name");
  if (n.kind == Notification::Kind::delete_entry) n.child = node_from_json(j, observer, "child", "child_path");
  n.offset = get_opt<int64_t>(j, "offset").value_or(0);
  n.length = get_opt<int64_t>(j, "length").value_or(0);
  n.data = get_opt<std::string>(j, "data").value_or("");
  return n;
}

FaultRule fault_rule_from_json(const json& j, const Observer& observer) {
  check_keys(j,
             {"cmd", "op", "node", "path", "name", "nth", "times", "notify", "delay_ms", "hold", "ignore_interrupts",
              "error", "negative_entry", "reply"},
             "fault");
  FaultRule r;
  r.op = get_opt<std::string>(j, "op").value_or("");
  r.node = get_opt<uint64_t>(j, "node");
  r.path = get_opt<std::string>(j, "path");
  r.name = get_opt<std::string>(j, "name");
  r.nth = get_opt<unsigned>(j, "nth").value_or(0);
  r.times = get_opt<unsigned>(j, "times").value_or(0);
  if (j.contains("notify")) r.notify = notification_from_json(j["notify"], observer);
  r.delay = std::chrono::milliseconds(get_opt<int64_t>(j, "delay_ms").value_or(0));
  r.hold = get_opt<std::string>(j, "hold").value_or("");
  r.ignore_interrupts = get_opt<bool>(j, "ignore_interrupts").value_or(false);
  if (j.contains("error")) r.error = errno_from_json(j["error"]);
  r.negative_entry = get_opt<double>(j, "negative_entry");
  if (j.contains("reply")) r.reply = reply_from_json(j["reply"]);
  if (r.delay.count() < 0) throw ControlError("\"delay_ms\" must not be negative");
  return r;
}

// ----- the server -----

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& io, Observer& observer, const std::filesystem::path& path, Notifier notifier)
      : observer(observer), path(path), acceptor(io), notifier(std::move(notifier)) {}

  Observer& observer;
  std::filesystem::path path;
  local::acceptor acceptor;
  Notifier notifier;
  std::map<std::string, Command> commands;  // filesystem commands
  std::atomic<bool> closing{false};

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_client(local::socket socket);
  asio::awaitable<json> execute(const std::string& line);
  asio::awaitable<json> run(const std::string& cmd, const json& request);
  // done is a named local of the caller (GCC 12 destroys a temporary std::function built in a
  // co_await expression twice: ASan saw the captured shared_ptr freed early).
  asio::awaitable<json> wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
};

asio::awaitable<void> ControlServer::Impl::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    local::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), self->serve_client(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ControlServer::Impl::serve_client(local::socket socket) {
  auto self = shared_from_this();
  asio::streambuf input(kMaxLine);
  try {
    for (;;) {
      size_t n = co_await asio::async_read_until(socket, input, '\n', asio::use_awaitable);
      std::string line(asio::buffers_begin(input.data()), asio::buffers_begin(input.data()) + n - 1);
      input.consume(n);
      json answer = co_await execute(line);
      std::string out = answer.dump() + "\n";
      co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    // The client left (EOF), sent a line longer than kMaxLine, or the server is closing.
  }
}

asio::awaitable<json> ControlServer::Impl::execute(const std::string& line) {
  json request;
  try {
    request = json::parse(line);
  } catch (const json::exception& e) {
    co_return json{{"ok", false}, {"error", std::string("not JSON: ") + e.what()}};
  }
  std::string error;
  try {
    if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string())
      throw ControlError("a request is an object with a string \"cmd\"");
    std::string cmd = request["cmd"].get<std::string>();  // named: see wait_until()
    json result = co_await run(cmd, request);
    result["ok"] = true;
    co_return result;
  } catch (const ControlError& e) {
    error = e.what();
  } catch (const std::system_error& e) {
    error = e.what();
  }
  co_return json{{"ok", false}, {"error", error}};
}

asio::awaitable<json> ControlServer::Impl::wait_until(const std::function<bool()>& done,
                                                      std::chrono::milliseconds timeout) {
  asio::steady_timer timer(acceptor.get_executor());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool finished = done();
    if (finished) co_return json{{"timed_out", false}};
    if (std::chrono::steady_clock::now() >= deadline) co_return json{{"timed_out", true}};
    timer.expires_after(kPoll);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<json> ControlServer::Impl::run(const std::string& cmd, const json& q) {
  auto timeout = std::chrono::milliseconds(get_opt<int64_t>(q, "timeout_ms").value_or(10'000));
  if (cmd == "mark") co_return json{{"mark", observer.mark()}};
  if (cmd == "trace") {
    auto op = get_opt<std::string>(q, "op");
    json records = json::array();
    for (const TraceRecord& r : observer.trace(get_opt<uint64_t>(q, "since").value_or(0)))
      if (!op || r.op == *op) records.push_back(to_json(r));
    co_return json{{"requests", records}, {"mark", observer.mark()}};
  }
  if (cmd == "fault") co_return json{{"rule", observer.add_rule(fault_rule_from_json(q, observer))}};
  if (cmd == "remove_fault") co_return json{{"removed", observer.remove_rule(get<unsigned>(q, "rule"))}};
  if (cmd == "clear_faults") {
    observer.clear_rules();
    co_return json::object();
  }
  if (cmd == "rule_hits") co_return json{{"hits", observer.rule_hits(get<unsigned>(q, "rule"))}};
  if (cmd == "release") {
    observer.release(get<std::string>(q, "gate"));
    co_return json::object();
  }
  if (cmd == "release_all") {
    observer.release_all();
    co_return json::object();
  }
  if (cmd == "held") co_return json{{"held", observer.held(get<std::string>(q, "gate"))}};
  if (cmd == "wait_held") {
    std::string gate = get<std::string>(q, "gate");
    size_t count = get_opt<size_t>(q, "count").value_or(1);
    bool interrupted = get_opt<bool>(q, "interrupted").value_or(false);
    std::function<bool()> enough = [this, gate, count, interrupted] {
      return observer.held(gate, interrupted) >= count;
    };
    json r = co_await wait_until(enough, timeout);
    r["held"] = observer.held(gate, interrupted);
    co_return r;
  }
  if (cmd == "wait_quiet") {
    auto quiet = std::chrono::milliseconds(get_opt<int64_t>(q, "quiet_ms").value_or(50));
    auto since = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    uint64_t mark = observer.mark();
    auto last = std::make_shared<uint64_t>(mark);
    // Quiet: no new request (by sequence number) for `quiet`.
    std::function<bool()> quiet_enough = [this, quiet, since, last] {
      uint64_t now_mark = observer.mark();
      if (now_mark != *last) {
        *last = now_mark;
        *since = std::chrono::steady_clock::now();
      }
      return std::chrono::steady_clock::now() - *since >= quiet;
    };
    json r = co_await wait_until(quiet_enough, timeout);
    co_return r;
  }
  if (cmd == "notify") {
    json spec = q;
    spec.erase("cmd");
    spec.erase("timeout_ms");
    Notification n = notification_from_json(spec, observer);
    auto rc = std::make_shared<std::atomic<int>>(1);  // 1: not sent yet
    notifier(n, [rc](int result) { rc->store(result); });
    std::function<bool()> sent = [rc] { return rc->load() != 1; };
    json r = co_await wait_until(sent, timeout);
    if (r["timed_out"].get<bool>()) co_return r;  // the kernel has not taken it: a deadlock?
    int result = rc->load();
    if (result < 0) throw ControlError(std::string(to_string(n.kind)) + " failed: " + std::strerror(-result));
    co_return r;
  }
  if (cmd == "balance") {
    BalanceReport b = observer.lookup_balance();
    json nodes = json::array();
    for (const NodeBalance& n : b.nodes) {
      json node{{"node", n.node}, {"path", n.path}, {"lookups", n.lookups}, {"forgets", n.forgets}};
      if (n.fs_count) node["fs_count"] = *n.fs_count;
      nodes.push_back(node);
    }
    co_return json{{"problems", b.problems}, {"outstanding", b.outstanding}, {"nodes", nodes}};
  }
  auto it = commands.find(cmd);
  if (it == commands.end()) throw ControlError("unknown command \"" + cmd + "\"");
  co_return it->second(q);
}

ControlServer::ControlServer(Session& session, Observer& observer, const std::filesystem::path& socket_path)
    : ControlServer(session.io_context(), observer, socket_path,
                    [&session](Notification n, std::function<void(int)> done) {
                      session.notify_async(std::move(n), std::move(done));
                    }) {}

ControlServer::ControlServer(asio::io_context& io, Observer& observer, const std::filesystem::path& socket_path,
                             Notifier notifier)
    : impl_(std::make_shared<Impl>(io, observer, socket_path, std::move(notifier))) {
  std::error_code ec;
  if (std::filesystem::is_socket(socket_path, ec)) std::filesystem::remove(socket_path, ec);
  boost::system::error_code bec;
  impl_->acceptor.open(local(), bec);
  if (!bec) impl_->acceptor.bind(local::endpoint(socket_path.string()), bec);
  if (!bec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, bec);
  if (bec)
    throw std::system_error(bec.value(), std::generic_category(), "fusepp: control socket " + socket_path.string());
  asio::co_spawn(io, impl_->accept_loop(), asio::detached);
}

ControlServer::~ControlServer() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  std::error_code fec;
  std::filesystem::remove(impl_->path, fec);
}

void ControlServer::add_command(const std::string& name, Command command) {
  static const char* builtin[] = {"mark",       "trace",   "fault",       "remove_fault", "clear_faults",
                                  "rule_hits",  "release", "release_all", "held",         "wait_held",
                                  "wait_quiet", "notify",  "balance"};
  for (const char* b : builtin)
    if (name == b) throw std::invalid_argument("fusepp: control command " + name + " is built in");
  impl_->commands[name] = std::move(command);
}

}  // namespace fusepp
