// The fuzzer's operations without a mount: what generation draws (every kind, open flags
// combined independently, file sizes past 64 KiB, big-directory runs of short names), and the
// calls an operation becomes (data read back after writes and truncates, the kernel's
// forgetting as an engine step that a scenario replays on any filesystem).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <rapidcheck.h>
#include <set>

#include "fusecheck/scenario.hpp"
#include "operation.hpp"
#include "scenario_writer.hpp"

namespace {

using fusecheck::fuzz::Call;
using fusecheck::fuzz::json;
using fusecheck::fuzz::NameModel;
using fusecheck::fuzz::Operation;
using fusecheck::fuzz::OpKind;

std::vector<Operation> sample_operations(size_t count) {
  const NameModel model;
  const auto generator = rc::gen::exec([&] { return Operation::generate(model); });
  std::vector<Operation> operations;
  for (size_t i = 0; i < count; ++i) operations.push_back(generator(rc::Random(i + 1), 30).value());
  return operations;
}

bool has(const std::vector<std::string>& flags, const std::string& flag) {
  return std::count(flags.begin(), flags.end(), flag) != 0;
}

std::vector<std::string> ops_of(const std::vector<Call>& calls) {
  std::vector<std::string> ops;
  for (const auto& made : calls) ops.push_back(made.request.at("op"));
  return ops;
}

TEST(FuzzOperation, GenerationDrawsEveryKindAndEveryOpenFlagCombination) {
  const auto operations = sample_operations(20000);
  std::set<OpKind> kinds;
  std::set<std::vector<std::string>> open_flags;
  bool large_truncate = false, interleaved = false, single_run = false;
  for (const auto& op : operations) {
    kinds.insert(op.kind);
    if (op.kind == OpKind::open) {
      open_flags.insert(op.flags);
      EXPECT_FALSE(has(op.flags, "O_TRUNC") && has(op.flags, "O_RDONLY")) << op;  // unspecified by POSIX
    }
    if (op.kind == OpKind::forget) {
      EXPECT_EQ(op.actor, 0u) << op;
    }
    large_truncate = large_truncate || (op.kind == OpKind::truncate && op.size > 65536);
    interleaved = interleaved || (op.kind == OpKind::populate && op.offset != 0);
    single_run = single_run || (op.kind == OpKind::populate && op.offset == 0);
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(OpKind::open_handle) + 1);
  // Access mode x O_APPEND x O_TRUNC (with write access) x {-, O_CREAT, O_CREAT|O_EXCL}.
  EXPECT_EQ(open_flags.size(), 3u * 2 * 3 + 2u * 2 * 3);
  EXPECT_TRUE(open_flags.count({"O_WRONLY", "O_APPEND", "O_TRUNC"}));
  EXPECT_TRUE(large_truncate);
  EXPECT_TRUE(interleaved && single_run);
}

// Each data-path operation closes what it opens, so later operations and the next case start
// clean; a write through a mapping after close and a lock seen by another actor are the
// orders that reach their bugs; flags arguments keep their own names in the scenario.
TEST(FuzzOperation, DataPathOperationsCloseWhatTheyOpenAndKeepTheirOrder) {
  Operation map;
  map.kind = OpKind::map_write;
  map.path = "a";
  map.size = 4096;
  map.data = "AB";
  map.text = "close_first";
  const auto calls = map.calls();
  EXPECT_EQ(ops_of(calls), (std::vector<std::string>{"open", "ftruncate", "mmap", "close", "map_read", "map_write",
                                                     "msync", "munmap", "lstat", "read_file"}));
  EXPECT_NE(fusecheck::fuzz::scenario_step(calls[2]).find("prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED]"),
            std::string::npos)
      << fusecheck::fuzz::scenario_step(calls[2]);
  EXPECT_TRUE(map.required_features().empty()) << "POSIX maps regular files shared";

  Operation lock;
  lock.kind = OpKind::lock_conflict;
  lock.path = "a";
  lock.text = "F_WRLCK";
  lock.slot = 1;  // the other actor
  std::vector<size_t> actors;
  for (const auto& made : lock.calls()) actors.push_back(made.actor);
  EXPECT_EQ(actors, (std::vector<size_t>{0, 0, 1, 1, 1, 1, 1, 0}));

  for (OpKind kind : {OpKind::copy_range, OpKind::seek_data, OpKind::inode_flags, OpKind::open_handle}) {
    Operation op;
    op.kind = kind;
    op.path = op.other = "a";
    op.text = kind == OpKind::inode_flags ? "FS_NODUMP_FL" : "FALLOC_FL_KEEP_SIZE";
    std::map<std::string, int> open;
    for (const auto& made : op.calls()) {
      const std::string name = made.request.at("op");
      if (name == "open" || name == "open_by_handle_at") ++open[made.request.at("fd")];
      if (name == "close") --open[made.request.at("fd")];
    }
    for (const auto& [fd, count] : open) EXPECT_EQ(count, 0) << op << ": " << fd;
  }
}

TEST(FuzzOperation, WritesAndTruncatesAreReadBackAsRoot) {
  Operation truncate;
  truncate.kind = OpKind::truncate;
  truncate.path = "a";
  truncate.size = 5;
  truncate.actor = 2;
  const auto calls = truncate.calls();
  EXPECT_EQ(ops_of(calls), (std::vector<std::string>{"truncate", "lstat", "read_file"}));
  EXPECT_EQ(calls.back().actor, 0u);
  truncate.offset = 5000;  // then grown at once
  EXPECT_EQ(ops_of(truncate.calls()),
            (std::vector<std::string>{"truncate", "lstat", "truncate", "lstat", "read_file"}));
  truncate.offset = 0;

  Operation write = truncate;
  write.kind = OpKind::pwrite;
  write.data = "xy";
  write.flags = {"O_RDWR", "O_TRUNC"};
  const auto write_calls = write.calls();
  EXPECT_EQ(ops_of(write_calls), (std::vector<std::string>{"open", "pwrite", "close", "lstat", "read_file"}));
  EXPECT_EQ(write_calls.front().flag_names, write.flags);
  write.flags.clear();  // an operation made by hand: a plain O_WRONLY
  EXPECT_EQ(write.calls().front().flag_names, std::vector<std::string>{"O_WRONLY"});
}

TEST(FuzzOperation, PopulateMakesRunsBetweenRunsOfShortNames) {
  Operation populate;
  populate.kind = OpKind::populate;
  populate.text = std::string(200, 'j');
  populate.flags = {"file"};
  populate.size = 10;
  populate.offset = 4;
  std::vector<std::tuple<std::string, long, long>> runs;  // prefix, start, count
  for (const auto& made : populate.calls())
    if (made.request.at("op") == "create_many")
      runs.emplace_back(made.request.at("prefix"), made.request.at("start"), made.request.at("count"));
  const std::string longer = "e/" + populate.text, shorter = "e/js";
  EXPECT_EQ(runs,
            (std::vector<std::tuple<std::string, long, long>>{
                {longer, 0, 4}, {shorter, 0, 4}, {longer, 4, 4}, {shorter, 4, 4}, {longer, 8, 2}, {shorter, 8, 2}}));
  populate.offset = 0;
  EXPECT_EQ(ops_of(populate.calls()), (std::vector<std::string>{"mkdir", "create_many", "lstat"}));
}

TEST(FuzzOperation, AnInterruptedListingChangesItsDirectoryThenResumesFromTelldirOrReadsOn) {
  Operation listing;
  listing.kind = OpKind::interrupted_listing;
  listing.size = 20;
  listing.offset = 3;
  listing.change = "unlink";
  listing.text = "fffffffff";
  listing.flags = {"dir"};
  listing.first = 2;
  listing.count = 5;
  listing.seekdir = true;
  const auto calls = listing.calls();
  EXPECT_EQ(ops_of(calls), (std::vector<std::string>{"opendir", "readdir_many", "telldir", "readdir_many",
                                                     "unlink_many", "lstat", "seekdir", "readdir_many", "closedir"}));
  EXPECT_EQ(calls[4].request.at("prefix"), "e/fffffffff");
  EXPECT_EQ(calls[4].request.at("kind"), "dir");
  EXPECT_FALSE(calls[6].request.contains("pos")) << "back to the stream's last telldir, on each side";
  EXPECT_FALSE(calls[7].request.contains("count")) << "to the end";
  listing.seekdir = false;
  listing.offset = 0;
  listing.change = "create";
  EXPECT_EQ(ops_of(listing.calls()),
            (std::vector<std::string>{"opendir", "readdir_many", "create_many", "lstat", "readdir_many", "closedir"}));
  listing.change = "none";
  EXPECT_EQ(ops_of(listing.calls()), (std::vector<std::string>{"opendir", "readdir_many", "readdir_many", "closedir"}));
}

TEST(FuzzOperation, ForgettingIsAnEngineStepThatReplaysOnAnyFilesystem) {
  Operation forget;
  forget.kind = OpKind::forget;
  const auto calls = forget.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(fusecheck::fuzz::runs_in_fuzzer(calls[0]));
  EXPECT_EQ(fusecheck::fuzz::scenario_step(calls[0]), "op: drop_caches, what: \"dentries\"");
  Operation stat;
  stat.kind = OpKind::stat;
  stat.path = "a";
  EXPECT_FALSE(fusecheck::fuzz::runs_in_fuzzer(stat.calls().at(0)));

  // As a counterexample's step it has no expect, and needs root but not FUSE.
  fusecheck::fuzz::RecordedCase recorded;
  recorded.operations = {forget, stat};
  const fusecheck::fuzz::Observed ok{{{"ok", json::object()}}, {}};
  const fusecheck::fuzz::Observed missing{{{"errno", "ENOENT"}}, {}};
  recorded.steps = {{calls[0], ok, ok, true}, {stat.calls().at(0), missing, missing, true}};
  const std::string yaml = fusecheck::fuzz::scenario_text(recorded, "target", 1);
  EXPECT_NE(yaml.find("  - {op: drop_caches, what: \"dentries\"}\n"), std::string::npos) << yaml;
  const auto scenarios = fusecheck::parse_scenario_text(yaml, "forget.yaml", "fuzz/forget");
  ASSERT_EQ(scenarios.size(), 1u);
  EXPECT_TRUE(scenarios[0].requires_features.count("root"));
  EXPECT_FALSE(scenarios[0].requires_features.count("fuse")) << yaml;
}

}  // namespace
