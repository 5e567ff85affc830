// The fuzzer's normalisation rules (docs/fuzzing.md, "What is compared") on hand-made actor
// replies, without a mount: times become changed/same relative to the last stat of the same
// inode, inode numbers become labels shared by stat and readdir, statvfs becomes deltas, and
// orders that POSIX leaves open are sorted away. Also the scenario text these become.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>

#include "fusecheck/fuzz.hpp"
#include "fusecheck/scenario.hpp"
#include "execution.hpp"
#include "inode_use.hpp"
#include "normalise.hpp"
#include "scenario_writer.hpp"

namespace {

using fusecheck::fuzz::CompareOptions;
using fusecheck::fuzz::json;
using fusecheck::fuzz::SideObserver;

json stat_reply(uint64_t ino, const std::string& type, int64_t atime, int64_t mtime, int64_t ctime,
                int64_t blocks = 8) {
  return {{"ok", true},
          {"r",
           {{"ino", ino},
            {"type", type},
            {"perm", 0644},
            {"nlink", 1},
            {"uid", 0},
            {"gid", 0},
            {"size", 3},
            {"blocks", blocks},
            {"rdev_major", 0},
            {"rdev_minor", 7},
            {"atime", atime},
            {"mtime", mtime},
            {"ctime", ctime}}}};
}

json lstat(const std::string& path) { return {{"op", "lstat"}, {"path", path}}; }

// The clock probe's verdict: files made in a row that share a ctime show a ticking clock.
TEST(FuzzNormalise, StampsShowTicksOnlyWhenTwoInARowAreEqual) {
  using fusecheck::fuzz::stamps_show_ticks;
  EXPECT_FALSE(stamps_show_ticks({}));
  EXPECT_FALSE(stamps_show_ticks({100}));
  EXPECT_FALSE(stamps_show_ticks({100, 101, 250, 251}));
  EXPECT_TRUE(stamps_show_ticks({100, 4000100, 4000100, 8000100}));
  EXPECT_FALSE(stamps_show_ticks({100, 200, 100})) << "only neighbours count";
}

// On a coarse-clock target an unchanged time within its tick says nothing, so tmpfs's
// "changed" is not compared against it; outside the tick "same" is a difference again.
TEST(FuzzNormalise, ACoarseTargetsUnknownTimeIsNotComparedAgainstTmpfs) {
  SideObserver target(CompareOptions{.coarse_times = true});
  auto stat_after = [](int64_t time, int64_t clock_after) {
    json reply = stat_reply(5, "dir", time, time, time);
    reply["t"] = clock_after;
    return reply;
  };
  target.observe(lstat("."), stat_after(1000, 1000), 0, "");
  json within_tick = target.observe(lstat("."), stat_after(1000, 5000), 0, "").result;
  EXPECT_FALSE(within_tick.at("ok").contains("mtime")) << "the old value is from the tick the last stat ended in";
  json tmpfs = {{"ok", {{"type", "dir"}, {"mtime", "changed"}, {"ctime", "changed"}}}};
  json compared = tmpfs;
  fusecheck::fuzz::drop_unknown_times(within_tick, compared);
  EXPECT_FALSE(compared.at("ok").contains("mtime"));
  EXPECT_FALSE(compared.at("ok").contains("ctime"));
  json after_tick = target.observe(lstat("."), stat_after(1000, 9000), 0, "").result;
  EXPECT_EQ(after_tick.at("ok").at("mtime"), "same") << "a tick passed since the old value: a missed update";
}

TEST(FuzzNormalise, TimesAreComparedAsChangedOrSameAgainstTheLastStatOfThatInode) {
  SideObserver side;
  auto first = side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 10), 0, "");
  EXPECT_FALSE(first.result.at("ok").contains("mtime")) << "nothing to compare the first sight with";
  auto second = side.observe(lstat("b"), stat_reply(5, "file", 10, 10, 20), 0, "");
  const json& fields = second.result.at("ok");
  EXPECT_EQ(fields.at("atime"), "same");
  EXPECT_EQ(fields.at("mtime"), "same");
  EXPECT_EQ(fields.at("ctime"), "changed");
  EXPECT_EQ(second.links.previous_observation, 0u) << "the same inode under another name";
}

TEST(FuzzNormalise, OnACoarseClockSameIsOnlyKnownForValuesFromAnEarlierTick) {
  SideObserver tmpfs(CompareOptions{.coarse_times = true});
  const int64_t future = int64_t(1) << 62;  // a value the coarse clock has not passed yet
  tmpfs.observe(lstat("a"), stat_reply(5, "file", 10, future, 10), 0, "");
  auto again = tmpfs.observe(lstat("a"), stat_reply(5, "file", 10, future, 10), 0, "").result.at("ok");
  EXPECT_FALSE(again.contains("mtime")) << "an update in that tick would not show";
  EXPECT_EQ(again.at("ctime"), "same") << "a value from long ago would have changed";
  json target = {{"ok", {{"type", "file"}, {"mtime", "changed"}, {"ctime", "same"}}}};
  fusecheck::fuzz::drop_unknown_times({{"ok", again}}, target);
  EXPECT_FALSE(target.at("ok").contains("mtime"));
  EXPECT_TRUE(target.at("ok").contains("ctime"));
}

TEST(FuzzNormalise, AtimeIsNotComparedAcrossAReadThatFuseMayServeFromItsCache) {
  SideObserver side;
  side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 10), 0, "");
  side.observe({{"op", "read_file"}, {"path", "a"}}, {{"ok", true}, {"r", {{"data", "00"}, {"size", 1}}}}, 0, "");
  auto after_read = side.observe(lstat("a"), stat_reply(5, "file", 30, 10, 10), 0, "");
  EXPECT_FALSE(after_read.result.at("ok").contains("atime"));
  // The read may have marked atime on one side only (tmpfs even at end of file), so the
  // values stay apart: setting atime to its old value would be "changed" on one side only.
  auto next = side.observe(lstat("a"), stat_reply(5, "file", 30, 10, 10), 0, "");
  EXPECT_FALSE(next.result.at("ok").contains("atime"));
  json set_atime = {
      {"op", "utimensat"}, {"path", "a"}, {"atime", {{"kind", "ns"}, {"ns", 10}}}, {"mtime", {{"kind", "omit"}}}};
  side.observe(set_atime, {{"ok", true}, {"r", json::object()}}, 0, "");
  auto after_set = side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 20), 0, "");
  EXPECT_FALSE(after_set.result.at("ok").contains("atime")) << "a change from a value apart";
  auto agreed = side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 20), 0, "");
  EXPECT_EQ(agreed.result.at("ok").at("atime"), "same") << "the set brought both sides to one value";
  json omit_atime = set_atime;
  omit_atime["atime"] = {{"kind", "omit"}};
  side.observe({{"op", "read"}, {"fd", "f0"}}, {{"ok", true}, {"r", {{"data", ""}, {"size", 0}}}}, 0, "");
  side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 20), 0, "");
  side.observe(omit_atime, {{"ok", true}, {"r", json::object()}}, 0, "");
  auto omitted = side.observe(lstat("a"), stat_reply(5, "file", 10, 10, 20), 0, "");
  EXPECT_FALSE(omitted.result.at("ok").contains("atime")) << "UTIME_OMIT sets no atime";
}

TEST(FuzzNormalise, OpeningByHandleMayReadADirectoryToReconnectIt) {
  SideObserver side;
  side.observe(lstat("."), stat_reply(1, "dir", 10, 10, 10), 0, "");
  side.observe({{"op", "open_by_handle_at"}, {"handle", "h"}, {"flags", 0}, {"fd", "hf"}},
               {{"ok", true}, {"r", {{"fd", 5}}}}, 0, "");
  auto dir = side.observe(lstat("."), stat_reply(1, "dir", 20, 10, 10), 0, "");
  EXPECT_FALSE(dir.result.at("ok").contains("atime"));
}

TEST(FuzzNormalise, ASymlinksAtimeIsNeverComparedSinceEveryPathThroughItReadsIt) {
  SideObserver side;
  side.observe(lstat("l"), stat_reply(6, "symlink", 10, 10, 10), 0, "");
  auto followed = side.observe(lstat("l"), stat_reply(6, "symlink", 30, 10, 20), 0, "").result.at("ok");
  EXPECT_FALSE(followed.contains("atime"));
  EXPECT_EQ(followed.at("ctime"), "changed") << "its other times still are";
}

TEST(FuzzNormalise, InodeNumbersBecomeLabelsSharedByStatAndReaddir) {
  SideObserver side;
  auto dir = side.observe(lstat("."), stat_reply(100, "dir", 1, 1, 1), 0, "");
  auto file = side.observe(lstat("a"), stat_reply(7, "file", 1, 1, 1), 0, "");
  EXPECT_NE(dir.result.at("ok").at("ino"), file.result.at("ok").at("ino"));
  json readdir = {{"op", "readdir"}, {"dir", "r"}};
  auto dot = side.observe(readdir,
                          {{"ok", true}, {"r", {{"name", "."}, {"ino", 100}, {"type", "dir"}, {"end", false}}}}, 0, "");
  EXPECT_EQ(dot.result.at("ok").at("ino"), dir.result.at("ok").at("ino"));
  EXPECT_EQ(dot.links.ino_source, 0u);
  auto wrong = side.observe(
      readdir, {{"ok", true}, {"r", {{"name", "."}, {"ino", 1100}, {"type", "dir"}, {"end", false}}}}, 0, "");
  EXPECT_NE(wrong.result.at("ok").at("ino"), dir.result.at("ok").at("ino")) << "a d_ino no stat gave";
}

// A new inode that gets the number of one whose last name and descriptor are gone: POSIX
// allows it (tmpfs never does it, ext4 does), so it is the same as a fresh number; a number
// shared by two live inodes, or a name that changes inode, still differs.
struct TwoSides {
  SideObserver oracle, target;
  std::function<bool(uint64_t)> oracle_in_use = [](uint64_t) { return false; };
  std::pair<json, json> stat(const std::string& path, uint64_t oracle_ino, uint64_t target_ino, int64_t ctime = 1) {
    auto expected = oracle.observe(lstat(path), stat_reply(oracle_ino, "file", 1, 1, ctime), 0, "");
    const json reply = stat_reply(target_ino, "file", 1, 1, ctime);
    fusecheck::fuzz::accept_reused_number(oracle, expected, target, reply, oracle_in_use);
    return {expected.result, target.observe(lstat(path), reply, 0, "").result};
  }
};

TEST(FuzzNormalise, ANewInodeMayReuseTheNumberOfOneNothingUsesAnyMore) {
  TwoSides sides;
  sides.stat("a", 100, 5, 1);
  const auto [expected, got] = sides.stat("b", 101, 5, 9);  // a is gone: unlinked, closed
  EXPECT_EQ(expected, got) << "same label, and no times compared with the old inode's";
  const auto [again_expected, again_got] = sides.stat("b", 101, 5, 9);
  EXPECT_EQ(again_expected, again_got) << "the new inode keeps its new label";
  EXPECT_EQ(again_got.at("ok").at("ctime"), "same");
}

TEST(FuzzNormalise, TwoLiveInodesSharingANumberOrANameChangingInodeStillDiffer) {
  TwoSides shared;
  shared.oracle_in_use = [](uint64_t ino) { return ino == 100; };  // a still has a name
  shared.stat("a", 100, 5);
  const auto [expected, got] = shared.stat("b", 101, 5);
  EXPECT_NE(expected.at("ok").at("ino"), got.at("ok").at("ino"));

  TwoSides changed;
  changed.stat("a", 100, 5);
  changed.stat("b", 101, 6);
  const auto [to_new_expected, to_new_got] = changed.stat("a", 100, 7);
  EXPECT_NE(to_new_expected.at("ok").at("ino"), to_new_got.at("ok").at("ino")) << "a's inode changed";
  const auto [to_old_expected, to_old_got] = changed.stat("a", 100, 6);
  EXPECT_NE(to_old_expected.at("ok").at("ino"), to_old_got.at("ok").at("ino")) << "a now shows b's inode";
}

TEST(FuzzNormalise, AnInodeIsInUseWhileItHasANameOrAnOpenDescriptor) {
  const auto tree = std::filesystem::temp_directory_path() / ("inode-use-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tree / "sub");
  const auto file = tree / "sub" / "f";
  std::ofstream(file) << "x";
  struct stat st {
  }, sub_before{}, sub_after{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  ASSERT_EQ(::stat((tree / "sub").c_str(), &sub_before), 0);
  EXPECT_TRUE(fusecheck::fuzz::inode_in_use(tree, st.st_ino)) << "named";
  ASSERT_EQ(::stat((tree / "sub").c_str(), &sub_after), 0);
  EXPECT_EQ(sub_after.st_atim.tv_nsec, sub_before.st_atim.tv_nsec) << "the oracle's atimes are compared: not marked";
  const int fd = ::open(file.c_str(), O_RDONLY);
  std::filesystem::remove(file);
  EXPECT_TRUE(fusecheck::fuzz::inode_in_use(tree, st.st_ino)) << "open after its unlink";
  ::close(fd);
  EXPECT_FALSE(fusecheck::fuzz::inode_in_use(tree, st.st_ino)) << "freed";
  std::filesystem::remove_all(tree);
}

TEST(FuzzNormalise, BlocksOnlyForRegularFilesAndOnlyWhenDeclared) {
  SideObserver declared;
  EXPECT_EQ(declared.observe(lstat("a"), stat_reply(1, "file", 1, 1, 1, 8), 0, "").result.at("ok").at("blocks"), 8);
  EXPECT_FALSE(
      declared.observe(lstat("d"), stat_reply(2, "dir", 1, 1, 1, 8), 0, "").result.at("ok").contains("blocks"));
  SideObserver undeclared(CompareOptions{.blocks = false});
  EXPECT_FALSE(
      undeclared.observe(lstat("a"), stat_reply(1, "file", 1, 1, 1), 0, "").result.at("ok").contains("blocks"));
}

TEST(FuzzNormalise, DevicesCarryTheirRdevAndDirectoriesNoSize) {
  SideObserver side;
  auto device = side.observe(lstat("p"), stat_reply(1, "chr", 1, 1, 1), 0, "").result.at("ok");
  EXPECT_EQ(device.at("rdev"), json::array({0, 7}));
  auto dir = side.observe(lstat("d"), stat_reply(2, "dir", 1, 1, 1), 0, "").result.at("ok");
  EXPECT_FALSE(dir.contains("size"));
  EXPECT_EQ(dir.at("nlink"), 1);
}

TEST(FuzzNormalise, StatvfsBecomesDeltasWhenTheTargetIsExclusive) {
  json request = {{"op", "statvfs"}, {"path", "."}};
  auto reply = [](int ffree, int bfree) {
    return json{{"ok", true}, {"r", {{"ffree", ffree}, {"bfree", bfree}, {"namemax", 255}}}};
  };
  SideObserver side;
  EXPECT_FALSE(side.observe(request, reply(100, 50), 0, "").result.at("ok").contains("ffree_delta"));
  auto second = side.observe(request, reply(98, 49), 0, "");
  EXPECT_EQ(second.result.at("ok").at("ffree_delta"), -2);
  EXPECT_EQ(second.result.at("ok").at("bfree_delta"), -1);
  EXPECT_EQ(second.links.previous_statvfs, 0u);
  SideObserver shared(CompareOptions{.statfs = false});
  shared.observe(request, reply(100, 50), 0, "");
  EXPECT_FALSE(shared.observe(request, reply(98, 49), 0, "").result.at("ok").contains("ffree_delta"));
}

TEST(FuzzNormalise, ListingsAreSortedButDuplicatesAndTypesStay) {
  SideObserver side;
  json entries = json::array({{{"name", "b"}, {"type", "dir"}, {"ino", 3}},
                              {{"name", "a"}, {"type", "file"}, {"ino", 2}},
                              {{"name", "a"}, {"type", "file"}, {"ino", 2}}});
  auto listed = side.observe({{"op", "listdir"}, {"path", "."}}, {{"ok", true}, {"r", {{"entries", entries}}}}, 0, "");
  EXPECT_EQ(listed.result.at("ok").at("entries"), json::parse(R"([["a","file"],["a","file"],["b","dir"]])"));
  auto xattrs = side.observe({{"op", "listxattr"}, {"path", "a"}},
                             {{"ok", true}, {"r", {{"names", {"user.y", "user.x"}}, {"size", 14}}}}, 0, "");
  EXPECT_EQ(xattrs.result.at("ok").at("names"), json::array({"user.x", "user.y"}));
}

json readdir_many_reply(std::vector<std::string> listed, bool end, size_t count) {
  return {{"ok", true}, {"r", {{"listed", listed}, {"end", end}, {"count", count}}}};
}

// An interrupted listing: names that existed throughout must be listed exactly once (skips
// and repeats show); names added, removed or renamed since opendir are not compared.
TEST(FuzzNormalise, AResumedListingComparesOnlyTheNamesThatExistedThroughout) {
  json opendir = {{"op", "opendir"}, {"path", "e"}, {"dir", "l"}};
  json more = {{"op", "readdir_many"}, {"dir", "l"}, {"count", 2}}, rest = {{"op", "readdir_many"}, {"dir", "l"}};
  json unlink = {{"op", "unlink_many"}, {"prefix", "e/f"}, {"start", 0}, {"count", 2}};
  json create = {{"op", "create_many"}, {"prefix", "e/n"}, {"count", 1}};
  json rename = {{"op", "rename"}, {"from", "e/g1"}, {"to", "e/m1"}};
  json elsewhere = {{"op", "unlink"}, {"path", "g2"}};  // another directory's g2
  auto listing_after_changes = [&](std::vector<std::string> listed) {
    SideObserver side;
    side.observe(opendir, {{"ok", true}, {"r", json::object()}}, 0, "");
    auto first = side.observe(more, readdir_many_reply({".", ".."}, false, 2), 0, "").result.at("ok");
    EXPECT_EQ(first, json({{"end", false}, {"count", 2}})) << "an unfinished listing: only how much was read";
    for (const json& change : {unlink, create, rename, elsewhere})
      side.observe(change, {{"ok", true}, {"r", {{"count", 1}}}}, 0, "");
    return side.observe(rest, readdir_many_reply(listed, true, listed.size()), 0, "").result.at("ok");
  };
  const json survivors = {{"end", true}, {"listed", {".", "..", "g2", "g3"}}};
  EXPECT_EQ(listing_after_changes({".", "..", "f0", "g3", "n0", "g2", "g1", "m1", "f1"}), survivors)
      << "changed names, listed or not, are left out";
  EXPECT_EQ(listing_after_changes({"..", ".", "g2", "g3"}), survivors) << "order does not count";
  EXPECT_NE(listing_after_changes({".", "..", "g3"}), survivors) << "a skipped survivor shows";
  EXPECT_NE(listing_after_changes({".", "..", "g2", "g3", "g3"}), survivors) << "a repeated survivor shows";
}

// tmpfs restarting a resumed listing (docs/kernel-bugs/README.md) is held to POSIX: each
// survivor once. A target that repeats one still differs from that.
TEST(FuzzNormalise, AnOracleListingThatRepeatsASurvivorIsHeldToEachOnce) {
  SideObserver oracle, target;
  auto finished_listing = [](SideObserver& side, std::vector<std::string> listed) {
    side.observe({{"op", "opendir"}, {"path", "e"}, {"dir", "l"}}, {{"ok", true}, {"r", json::object()}}, 0, "");
    return side.observe({{"op", "readdir_many"}, {"dir", "l"}}, readdir_many_reply(listed, true, listed.size()), 0, "")
        .result;
  };
  json restarted = finished_listing(oracle, {".", "..", "g1", "g2", ".", "..", "g1", "g2", "g2"});
  EXPECT_EQ(fusecheck::fuzz::drop_oracle_repeats(restarted), (std::vector<std::string>{".", "..", "g1", "g2"}));
  const json each_once = {{"ok", {{"end", true}, {"listed", {".", "..", "g1", "g2"}}}}};
  EXPECT_EQ(restarted, each_once);
  json kept = each_once;
  EXPECT_TRUE(fusecheck::fuzz::drop_oracle_repeats(kept).empty());
  EXPECT_EQ(kept, each_once) << "a listing that keeps the rule is left as it is";
  json not_a_listing = {{"errno", "ENOENT"}};
  EXPECT_TRUE(fusecheck::fuzz::drop_oracle_repeats(not_a_listing).empty());
  EXPECT_NE(finished_listing(target, {".", "..", "g1", "g2", "g2"}), each_once) << "the target's repeat shows";
}

TEST(FuzzNormalise, ANamesChangesCountOnlyWhileItsDirectorysStreamIsOpen) {
  SideObserver side;
  side.observe({{"op", "unlink"}, {"path", "e/g1"}}, {{"ok", true}, {"r", json::object()}}, 0, "");
  side.observe({{"op", "opendir"}, {"path", "e"}, {"dir", "l"}}, {{"ok", true}, {"r", json::object()}}, 0, "");
  auto listed = side.observe({{"op", "readdir_many"}, {"dir", "l"}}, readdir_many_reply({"g1"}, true, 1), 0, "");
  EXPECT_EQ(listed.result.at("ok").at("listed"), json::array({"g1"})) << "a change before opendir is history";
  EXPECT_EQ(fusecheck::fuzz::names_changed_by({{"op", "open"}, {"path", "a"}, {"flags", O_WRONLY}}).size(), 0u);
  EXPECT_EQ(fusecheck::fuzz::names_changed_by({{"op", "open"}, {"path", "a"}, {"flags", O_WRONLY | O_CREAT}}),
            std::vector<std::string>{"a"});
  EXPECT_EQ(fusecheck::fuzz::names_changed_by({{"op", "lstat"}, {"path", "a"}}).size(), 0u);
}

TEST(FuzzNormalise, ErrorsByNameAndBrokenCalls) {
  SideObserver side;
  EXPECT_EQ(side.observe(lstat("x"), {{"ok", false}, {"errno", ENOENT}}, 0, "").result, json({{"errno", "ENOENT"}}));
  EXPECT_TRUE(side.observe(lstat("x"), json::object(), 1, "timed out").result.contains("broken"));
  json map_read = {{"op", "map_read"}, {"map", "mm"}, {"offset", 0}, {"size", 1}};
  EXPECT_EQ(side.observe(map_read, {{"ok", false}, {"signal", SIGBUS}}, 0, "").result, json({{"signal", "SIGBUS"}}));
}

TEST(FuzzNormalise, DataPathResultsKeepWhatBothMustAgreeOn) {
  SideObserver side;
  auto ok = [](json result) { return json{{"ok", true}, {"r", std::move(result)}}; };
  json lseek = {{"op", "lseek"}, {"fd", "s"}, {"offset", 4096}, {"whence", 3}};
  EXPECT_EQ(side.observe(lseek, ok({{"offset", 8192}}), 0, "").result, json({{"ok", {{"offset", 8192}}}}));
  json flags = {{"op", "ioctl_getflags"}, {"fd", "g"}};
  EXPECT_EQ(side.observe(flags, ok({{"flags", 64}}), 0, "").result, json({{"ok", {{"flags", 64}}}}));
  json copy = {{"op", "copy_file_range"}, {"fd_in", "ci"}, {"fd_out", "co"}, {"len", 100}};
  EXPECT_EQ(side.observe(copy, ok({{"size", 7}}), 0, "").result, json({{"ok", {{"size", 7}}}}));
  // Each side's lock holder is its own process: the pid is not compared.
  json getlk = {{"op", "fcntl_lock"}, {"fd", "k"}, {"cmd", "F_GETLK"}, {"type", "F_WRLCK"}};
  auto lock = side.observe(getlk, ok({{"type", "F_RDLCK"}, {"pid", 4242}, {"start", 0}, {"len", 0}}), 0, "");
  EXPECT_EQ(lock.result, json({{"ok", {{"type", "F_RDLCK"}, {"start", 0}, {"len", 0}}}}));
  // A file handle's bytes and an opened descriptor's number are each side's own.
  json take = {{"op", "name_to_handle_at"}, {"path", "a"}, {"handle", "h"}};
  auto handle =
      side.observe(take, ok({{"handle_type", 1}, {"handle_bytes", 8}, {"handle", "00"}, {"mount_id", 9}}), 0, "");
  EXPECT_EQ(handle.result, json({{"ok", json::object()}}));
}

TEST(FuzzScenarioWriter, RelationsBecomeSavedResultsAndReferences) {
  using namespace fusecheck::fuzz;
  SideObserver side;
  RecordedCase recorded;
  auto record = [&](const json& request, const json& reply) {
    Call made{request, 0, {}, std::nullopt};
    auto observed = side.observe(request, reply, 0, "");
    recorded.steps.push_back({made, observed, observed});
  };
  record(lstat("a"), stat_reply(5, "file", 10, 10, 10));
  record({{"op", "chmod"}, {"path", "a"}, {"mode", 0600}}, {{"ok", true}, {"r", json::object()}});
  record(lstat("a"), stat_reply(5, "file", 10, 10, 20));
  const std::string text = scenario_text(recorded, "memfs", 1);
  EXPECT_NE(text.find("{op: lstat, path: \"a\", save: s0, expect: {"), std::string::npos) << text;
  EXPECT_NE(text.find("ino: {eq: {saved: s0, field: ino}}"), std::string::npos) << text;
  EXPECT_NE(text.find("mtime: {unchanged: s0}"), std::string::npos) << text;
  EXPECT_NE(text.find("ctime: {changed: s0}"), std::string::npos) << text;
  // No operation starts in this record, but the chmod follows the stat its change is relative
  // to: on a coarse clock it needs a later tick (a truncate observed, then truncated again).
  EXPECT_NE(text.find("uid: 0}}\n  - {op: sleep, seconds: 0.005}\n  - {op: chmod"), std::string::npos) << text;
  EXPECT_EQ(text.find("op: sleep"), text.rfind("op: sleep")) << "one pause: none before a stat";
}

TEST(FuzzScenarioWriter, AFinishedListingExpectsEachSurvivorOnceAndNoneOfTheTargetsExtraNames) {
  using namespace fusecheck::fuzz;
  SideObserver oracle, target;
  RecordedCase recorded;
  auto record = [&](const json& request, const json& oracle_reply, const json& target_reply) {
    recorded.steps.push_back({Call{request, 0, {}, std::nullopt}, oracle.observe(request, oracle_reply, 0, ""),
                              target.observe(request, target_reply, 0, "")});
  };
  const json opened = {{"ok", true}, {"r", json::object()}};
  record({{"op", "opendir"}, {"path", "e"}, {"dir", "l"}}, opened, opened);
  record({{"op", "readdir_many"}, {"dir", "l"}}, readdir_many_reply({".", "..", "f0", "f1", "f2", "x"}, true, 6),
         readdir_many_reply({".", "..", "f0", "f2", "f2", "y"}, true, 6));
  const std::string text = scenario_text(recorded, "memfs", 1);
  EXPECT_NE(
      text.find("expect: {end: true, listed: {each_once: [\".\", \"..\", \"x\", {range: {prefix: \"f\", count: 3, "
                "start: 0}}], excludes: [\"y\"]}}"),
      std::string::npos)
      << text;
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << text;
  return path;
}

TEST(FuzzKnownDifferences, ANamedFieldIsLookedPastOnBothSidesOnlyWhereItApplies) {
  auto path = write_file("known",
                         "format: 1\nknown:\n  - {op: lstat, field: nlink, type: dir, reason: \"always 1\"}\n"
                         "  - {field: result, op: listxattr, reason: \"none yet\"}\n");
  auto known = fusecheck::fuzz::load_known_differences(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(known.size(), 2u);
  json dir_expected = {{"ok", {{"type", "dir"}, {"nlink", 3}}}}, dir_got = {{"ok", {{"type", "dir"}, {"nlink", 1}}}};
  fusecheck::fuzz::forgive_known(known, lstat("d"), dir_expected, dir_got);
  EXPECT_EQ(dir_expected, dir_got);
  json file_expected = {{"ok", {{"type", "file"}, {"nlink", 2}}}},
       file_got = {{"ok", {{"type", "file"}, {"nlink", 1}}}};
  fusecheck::fuzz::forgive_known(known, lstat("a"), file_expected, file_got);
  EXPECT_NE(file_expected, file_got) << "only directories were declared";
  json list_expected = {{"errno", "ENOTSUP"}}, list_got = {{"ok", {{"names", json::array()}}}};
  fusecheck::fuzz::forgive_known(known, {{"op", "listxattr"}, {"path", "a"}}, list_expected, list_got);
  EXPECT_EQ(list_expected, list_got);
}

TEST(FuzzKnownDifferences, BadFilesAreRefusedWithTheirPlace) {
  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {"format: 1\nknown:\n  - {op: lstat, field: colour, reason: x}\n", ":3:"},
           {"format: 1\nknown:\n  - {op: nosuchop, field: nlink, reason: x}\n", ":3:"},
           {"format: 1\nknown:\n  - {op: lstat, field: nlink}\n", ":3:"},
           {"format: 2\nknown: []\n", ":1:"},
           {"format: 1\nknown: [\n", ":"}}) {
    auto path = write_file("bad-known", text);
    try {
      fusecheck::fuzz::load_known_differences(path.string());
      ADD_FAILURE() << "accepted: " << text;
    } catch (const fusecheck::FileError& error) {
      EXPECT_NE(std::string(error.what()).find(path.string() + where), std::string::npos) << error.what();
    }
    std::filesystem::remove(path);
  }
}

}  // namespace
