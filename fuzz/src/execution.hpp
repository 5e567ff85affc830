// How the fuzzer's requests reach the two filesystems (the target and the tmpfs oracle): per
// side one actor process per fuzz identity, kept across test cases, and a fresh workdir per
// case, made with requests under way on every actor of both sides at once and removed by a
// sweeper actor per side while the next case runs.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fusecheck/actor.hpp"
#include "normalise.hpp"
#include "operation.hpp"

namespace fusecheck::fuzz {

// One of the fuzzer's actors on one side, started on first use and restarted when a hang or
// crash on the target made it unusable. It is either unconfined (at the real root: absolute
// paths resolve as in the fuzzer) or confined to the directory it entered last.
class ActorSlot {
 public:
  ActorSlot(std::string executable, Identity identity)
      : executable_(std::move(executable)), identity_(std::move(identity)) {}
  // The actor, confined to `dir` (entering it first if elsewhere); throws HarnessError if it
  // cannot get there.
  ActorProcess& in(const std::filesystem::path& dir, double timeout);
  // in() in two halves, so that several actors (both sides') enter at once.
  void start_entering(const std::filesystem::path& dir, double timeout);
  ActorProcess& finish_entering(const std::filesystem::path& dir, double timeout);
  // Sends a harness request without waiting for its answer; settle() collects it. An actor
  // answers in order, so requests to several actors, or several to one, are under way at once.
  // Nothing that names a path may follow an unsettled `chdir`: a failed one leaves the actor
  // unconfined, where a relative path would resolve outside the workdir.
  void post(const nlohmann::json& request, bool must_succeed);
  void post_enter(const std::filesystem::path& dir);  // a chdir that must succeed
  void post_leave();  // if confined: back to the real root, closing every descriptor it holds
  // Collects every posted answer; false if one that had to succeed did not (or the actor
  // hung or died; failure() says how). An actor whose chdir failed counts as unconfined again.
  bool settle(double timeout);
  const std::string& failure() const { return failure_; }
  bool confined() const { return !cwd_.empty(); }
  void stop();
  static Clock::time_point deadline_after(double seconds);

 private:
  ActorProcess& running();
  std::string executable_;
  Identity identity_;
  std::unique_ptr<ActorProcess> actor_;
  std::filesystem::path cwd_;       // empty: unconfined
  std::vector<bool> must_succeed_;  // per posted request not yet settled
  std::string failure_;             // the last settle()'s first failed answer
};

// A filesystem under comparison: its root, one actor per fuzz identity, the sweeper (root,
// never confined) that removes the last case's workdir, and the observer that normalises its
// results in the current case.
struct Side {
  Side(const std::string& executable, std::filesystem::path root_dir);
  std::filesystem::path root, workdir;
  std::vector<ActorSlot> actors;  // fuzz_actors() order: actors[0] is root
  ActorSlot sweeper;
  std::filesystem::path sweeping;  // the workdir the sweeper is removing; empty when idle
  SideObserver observer;
  void stop();
};

// The case workdirs of both sides: begin() makes a fresh, empty 0777 directory per side (as
// `fusecheck replay` gives a scenario; each case's has a name of its own) with the root actor
// inside; end() sends every actor that entered it back out (closing its descriptors) and hands
// the directory to the side's sweeper. end() only sends: the next begin() waits for the
// actors, and the removal runs while the next case does, on the other core. One removal per
// side is under way at most (end() waits for the last one first). Only the free counts of
// statvfs see it: a case's statvfs must come after finish().
class CaseWorkdirs {
 public:
  CaseWorkdirs(std::vector<Side*> sides, double timeout) : sides_(std::move(sides)), timeout_(timeout) {}
  ~CaseWorkdirs() { finish(); }
  CaseWorkdirs(const CaseWorkdirs&) = delete;
  CaseWorkdirs& operator=(const CaseWorkdirs&) = delete;
  void begin(const std::string& name);  // throws HarnessError when a workdir cannot be made
  void end() noexcept;
  // Waits for every request under way: the actors' leaving and the removals (bounded by the
  // timeout per request). Before a statvfs, and at the end.
  void finish() noexcept;
  // Removals that failed (the directory, or part of it, is left behind), and the first one.
  size_t removal_failures() const { return removal_failures_; }
  const std::string& first_removal_failure() const { return first_removal_failure_; }

  // begin() on construction, end() on destruction (also when a case fails by throwing).
  class Scope {
   public:
    Scope(CaseWorkdirs& workdirs, const std::string& name) : workdirs_(workdirs) { workdirs_.begin(name); }
    ~Scope() { workdirs_.end(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    CaseWorkdirs& workdirs_;
  };

 private:
  // Every actor of `side` out of the workdir `name`, then the sweeper removes it.
  void post_removal(Side& side, const std::string& name) noexcept;
  void settle_removal(Side& side) noexcept;
  std::vector<Side*> sides_;
  double timeout_;
  std::string name_;  // the current case's workdir name; empty between cases
  size_t removal_failures_ = 0;
  std::string first_removal_failure_;
};

// One call's answers from both sides.
struct Answers {
  ActorProcess::Reply oracle, target;
};

// How many calls one batch carries from calls[first]: that call and the ones right after it
// that the same actor makes (an operation's call, its stats, more calls), sent together in
// one write per side and answered in one, so that they cost one round trip, not one each.
// Each request asks the actor to stamp its reply with the coarse clock after the call: the
// observer's "every later change comes after" mark for a stat is that stamp, taken before
// the batch's next call ran. A batch ends where another actor or the fuzzer itself
// (drop_caches) makes the next call: those must wait until this one is answered. Calls after
// one that differed run as well; the case has failed then, and its workdir goes.
size_t batch_length(const std::vector<Call>& calls, size_t first);
// Whether calls[first, first + count) read free counts (statvfs), which a removal still under
// way would move: CaseWorkdirs::finish() comes first.
bool reads_free_counts(const std::vector<Call>& calls, size_t first, size_t count);
// Sends calls[first, first + count) (one actor's) on both sides at once, then collects every
// answer, also after a hang or a difference, so that no answer is left for a later request.
std::vector<Answers> run_batch(Side& oracle, Side& target, const std::vector<Call>& calls, size_t first, size_t count,
                               double timeout);

// Whether actors of other uids reach the target (a FUSE mount needs allow_other); when they
// do not, the fuzzer runs as root alone rather than report EACCES as a difference.
bool other_users_reach(Side& target, double timeout);

// Whether the target stamps times from a ticking clock (tmpfs, ext4: the kernel's coarse
// clock), probed in a directory of its own: files made one right after another (one
// create_many) share a ctime only when the clock did not move between them, which a clock of
// nanoseconds never shows. Up to two rounds of 16 files before the clock counts as exact.
bool target_clock_ticks(Side& target, double timeout);
// From the ctimes of files made one after another, in order: whether two in a row are equal.
bool stamps_show_ticks(const std::vector<int64_t>& ctimes);

}  // namespace fusecheck::fuzz
