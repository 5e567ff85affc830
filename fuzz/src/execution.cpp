// The fuzzer's actors and case workdirs on both sides (execution.hpp). Harness requests of a
// case boundary are sent to every actor first and answered afterwards, so both sides and all
// actors work at once instead of one round trip after another.
#include "execution.hpp"

#include <unistd.h>

#include <algorithm>

#include "operation.hpp"

namespace fusecheck::fuzz {

Clock::time_point ActorSlot::deadline_after(double seconds) {
  return Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
}

ActorProcess& ActorSlot::running() {
  // Never restarted under answers still owed: settle() must see that they were lost.
  if (!actor_ || (!actor_->usable() && must_succeed_.empty())) {
    actor_ = ActorProcess::start(executable_, identity_);  // throws HarnessError
    cwd_.clear();
  }
  return *actor_;
}

void ActorSlot::post(const nlohmann::json& request, bool must_succeed) {
  ActorProcess& actor = running();
  must_succeed_.push_back(must_succeed);
  actor.send(request);  // a failed send leaves the actor unusable: settle() sees it gone
}

void ActorSlot::post_enter(const std::filesystem::path& dir) {
  post({{"op", "chdir"}, {"path", dir.string()}}, true);
  cwd_ = dir;
}

void ActorSlot::post_leave() {
  if (!actor_ || !actor_->usable() || !confined()) return;
  post({{"op", "reset"}}, true);
  cwd_.clear();
}

bool ActorSlot::settle(double timeout) {
  bool ok = true;
  failure_.clear();
  for (bool must_succeed : must_succeed_) {
    auto reply = actor_->receive(deadline_after(timeout));
    const bool succeeded = reply.status == ActorProcess::Reply::Status::ok && reply.body.value("ok", false);
    if (must_succeed && !succeeded && ok) failure_ = reply.detail.empty() ? reply.body.dump() : reply.detail;
    if (must_succeed && !succeeded) ok = false;
  }
  must_succeed_.clear();
  // Where a failed request left the actor is unknown (a failed chdir leaves it unconfined):
  // a fresh one starts unconfined for sure.
  if (!ok) stop();
  return ok;
}

ActorProcess& ActorSlot::in(const std::filesystem::path& dir, double timeout) {
  start_entering(dir, timeout);
  return finish_entering(dir, timeout);
}

void ActorSlot::start_entering(const std::filesystem::path& dir, double timeout) {
  settle(timeout);  // nothing is owed during a case; a failure here only restarts the actor
  running();
  if (cwd_ != dir) post_enter(dir);
}

ActorProcess& ActorSlot::finish_entering(const std::filesystem::path& dir, double timeout) {
  if (!settle(timeout)) throw HarnessError("an actor cannot enter " + dir.string());
  return running();
}

void ActorSlot::stop() {
  actor_.reset();
  cwd_.clear();
  must_succeed_.clear();
}

Side::Side(const std::string& executable, std::filesystem::path root_dir)
    : root(std::move(root_dir)), sweeper(executable, fuzz_actors().at(0).identity) {
  for (const auto& actor : fuzz_actors()) actors.emplace_back(executable, actor.identity);
}

void Side::stop() {
  for (auto& actor : actors) actor.stop();
  sweeper.stop();
}

namespace {

// Workdir requests name absolute paths, so the root actor makes them unconfined (post_leave).
nlohmann::json prepare_request(const std::filesystem::path& dir) {
  return {{"op", "prepare_workdir"}, {"path", dir.string()}, {"mode", 0777}, {"uid", 0}, {"gid", 0}};
}

nlohmann::json remove_request(const std::filesystem::path& dir) { return {{"op", "rmtree"}, {"path", dir.string()}}; }

}  // namespace

void CaseWorkdirs::begin(const std::string& name) {
  for (Side* side : sides_)  // the last case's actors leaving; its removal may go on
    for (auto& actor : side->actors) actor.settle(timeout_);
  for (Side* side : sides_) {
    side->workdir = side->root / name;
    ActorSlot& root = side->actors.at(0);
    root.post_leave();
    root.post(prepare_request(side->workdir), true);
    root.post_enter(side->workdir);
  }
  std::vector<Side*> made, failed;
  for (Side* side : sides_) (side->actors.at(0).settle(timeout_) ? made : failed).push_back(side);
  if (!failed.empty()) {
    // Only what this case made is removed: a directory that was there already is not ours.
    for (Side* side : made) post_removal(*side, name);
    throw HarnessError("cannot make a workdir under " + failed.front()->root.string());
  }
  name_ = name;
}

void CaseWorkdirs::end() noexcept {
  if (name_.empty()) return;
  for (Side* side : sides_) post_removal(*side, name_);
  name_.clear();
}

void CaseWorkdirs::post_removal(Side& side, const std::string& name) noexcept {
  try {
    for (auto& actor : side.actors) actor.post_leave();
    settle_removal(side);
    side.sweeper.post(remove_request(side.root / name), true);
    side.sweeping = side.root / name;
  } catch (const std::exception&) {
    // A target that died mid-case: the failure is already recorded; nothing to clean.
  }
}

void CaseWorkdirs::settle_removal(Side& side) noexcept {
  if (side.sweeping.empty()) return;
  if (!side.sweeper.settle(timeout_) && removal_failures_++ == 0)
    first_removal_failure_ = side.sweeping.string() + ": " + side.sweeper.failure();
  side.sweeping.clear();
}

void CaseWorkdirs::finish() noexcept {
  for (Side* side : sides_) {
    for (auto& actor : side->actors) actor.settle(timeout_);
    settle_removal(*side);
  }
}

size_t batch_length(const std::vector<Call>& calls, size_t first) {
  size_t end = first + 1;
  while (end < calls.size() && calls[end].actor == calls[first].actor && !runs_in_fuzzer(calls[end])) ++end;
  return end - first;
}

bool reads_free_counts(const std::vector<Call>& calls, size_t first, size_t count) {
  return std::any_of(calls.begin() + first, calls.begin() + first + count,
                     [](const Call& made) { return made.request.value("op", "") == "statvfs"; });
}

namespace {

// The batch's requests as sent: each stamped with the clock after its call, each but the last
// held by the actor until the last is answered (one write back).
std::vector<nlohmann::json> batch_requests(const std::vector<Call>& calls, size_t first, size_t count) {
  std::vector<nlohmann::json> requests;
  for (size_t i = first; i < first + count; ++i) {
    requests.push_back(calls[i].request);
    requests.back()["clock"] = true;
    if (i + 1 < first + count) requests.back()["hold"] = true;
  }
  return requests;
}

}  // namespace

std::vector<Answers> run_batch(Side& oracle, Side& target, const std::vector<Call>& calls, size_t first, size_t count,
                               double timeout) {
  ActorSlot &oracle_slot = oracle.actors.at(calls.at(first).actor), &target_slot = target.actors.at(calls[first].actor);
  oracle_slot.start_entering(oracle.workdir, timeout);
  target_slot.start_entering(target.workdir, timeout);
  ActorProcess& oracle_actor = oracle_slot.finish_entering(oracle.workdir, timeout);
  ActorProcess& target_actor = target_slot.finish_entering(target.workdir, timeout);
  const auto requests = batch_requests(calls, first, count);
  const bool oracle_sent = oracle_actor.send_batch(requests), target_sent = target_actor.send_batch(requests);
  auto receive = [&](ActorProcess& actor, bool was_sent) {
    if (!was_sent) return ActorProcess::Reply{ActorProcess::Reply::Status::died, {}, "the actor is gone"};
    return actor.receive(ActorSlot::deadline_after(timeout));
  };
  std::vector<Answers> answers;
  for (size_t i = 0; i < count; ++i)
    answers.push_back({receive(oracle_actor, oracle_sent), receive(target_actor, target_sent)});
  return answers;
}

namespace {

// Runs use(dir) in a fresh directory of the target named after the fuzzer's pid and `what`
// (made and removed by the unconfined root actor), before any case; returns what use returns.
template <class Use>
auto in_probe_directory(Side& target, const std::string& what, double timeout, Use&& use) {
  const auto probe = target.root / ("fuzz-" + std::to_string(::getpid()) + "-" + what);
  ActorSlot& root = target.actors.at(0);
  root.post_leave();
  root.post(prepare_request(probe), true);
  if (!root.settle(timeout)) throw HarnessError("cannot make a workdir under " + target.root.string());
  auto result = use(probe);
  root.post_leave();
  root.post(remove_request(probe), false);
  root.settle(timeout);
  return result;
}

}  // namespace

bool other_users_reach(Side& target, double timeout) {
  return in_probe_directory(target, "probe", timeout, [&](const std::filesystem::path& probe) {
    bool reached = true;
    try {
      target.actors.at(1).in(probe, timeout);
    } catch (const HarnessError&) {
      reached = false;
    }
    target.actors.at(1).stop();
    return reached;
  });
}

bool stamps_show_ticks(const std::vector<int64_t>& ctimes) {
  return std::adjacent_find(ctimes.begin(), ctimes.end()) != ctimes.end();
}

namespace {

// The ctimes of `count` files made in a row in the actor's directory, each named `prefix` and
// its number, in the order they were made; files that failed are left out.
std::vector<int64_t> creation_ctimes(ActorProcess& actor, const std::string& prefix, long count, double timeout) {
  std::vector<nlohmann::json> requests = {
      {{"op", "create_many"}, {"prefix", prefix}, {"count", count}, {"kind", "node"}, {"hold", true}}};
  for (long i = 0; i < count; ++i)
    requests.push_back({{"op", "lstat"}, {"path", prefix + std::to_string(i)}, {"hold", i + 1 < count}});
  const bool sent = actor.send_batch(requests);
  std::vector<int64_t> ctimes;
  for (size_t i = 0; sent && i < requests.size(); ++i) {
    const auto reply = actor.receive(ActorSlot::deadline_after(timeout));
    if (i > 0 && reply.status == ActorProcess::Reply::Status::ok && reply.body.value("ok", false))
      ctimes.push_back(reply.body.at("r").at("ctime").get<int64_t>());
  }
  return ctimes;
}

}  // namespace

bool target_clock_ticks(Side& target, double timeout) {
  constexpr int kRounds = 2;
  constexpr long kFilesPerRound = 16;
  return in_probe_directory(target, "clock", timeout, [&](const std::filesystem::path& probe) {
    ActorProcess& actor = target.actors.at(0).in(probe, timeout);
    bool ticks = false;
    for (int round = 0; round < kRounds && !ticks; ++round)
      ticks = stamps_show_ticks(creation_ctimes(actor, "r" + std::to_string(round) + "-", kFilesPerRound, timeout));
    return ticks;
  });
}

}  // namespace fusecheck::fuzz
