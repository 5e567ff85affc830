// Tests of the op table (ops.hpp): docs/scenario-format.md section 5.2 lists exactly the
// table's ops, arguments and result fields; the actor executes every op of the table; requests
// built in code are checked against it; the parser takes list-entry keys from it; the mapping
// ops follow map names like fds and answer an access past end of file with SIGBUS.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/errors.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/scenario.hpp"

using namespace fusecheck;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct DocRow {
  std::set<std::string> ops, arg_tokens, result_fields;
  std::map<std::string, std::set<std::string>> entry_keys;  // field -> keys of its {..} elements
  std::string args_text;
};

std::set<std::string> backticked(const std::string& text) {
  std::set<std::string> out;
  static const std::regex token("`([a-z_0-9]+)`");
  for (std::sregex_iterator it(text.begin(), text.end(), token), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

std::set<std::string> comma_list(const std::string& text) {
  std::set<std::string> out;
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    out.insert(part);
  }
  return out;
}

// Backticked names of a result cell or paragraph, outside parentheses; "stat result" and
// "statvfs result" stand for the fields of those paragraphs.
std::set<std::string> result_names(std::string text, const std::map<std::string, std::set<std::string>>& shared) {
  std::set<std::string> out;
  for (const auto& [name, fields] : shared)
    if (text.find("**" + name + "**") == std::string::npos && text.find(name) != std::string::npos &&
        !(name == "stat result" && text.find("statvfs result") != std::string::npos))
      out.insert(fields.begin(), fields.end());
  text = std::regex_replace(text, std::regex("\\([^()]*\\)"), "");
  auto names = backticked(text);
  out.insert(names.begin(), names.end());
  return out;
}

struct Doc {
  std::map<std::string, std::set<std::string>> shared;  // "stat result" -> fields
  std::vector<DocRow> rows;
};

Doc read_doc() {
  std::ifstream in(std::string(FUSECHECK_SOURCE_DIR) + "/docs/scenario-format.md");
  std::string line;
  bool inside = false;
  Doc doc;
  static const std::regex shared_para("^\\*\\*(stat result|statvfs result)\\*\\* \\([^)]*\\):(.*)");
  std::string paragraph_name, paragraph;
  while (std::getline(in, line)) {
    if (line.rfind("### 5.2", 0) == 0)
      inside = true;
    else if (inside && line.rfind("#", 0) == 0)
      break;
    if (!inside) continue;
    std::smatch m;
    if (std::regex_match(line, m, shared_para)) {
      paragraph_name = m[1];
      paragraph = m[2];
      continue;
    }
    if (!paragraph_name.empty()) {
      if (line.empty()) {
        doc.shared[paragraph_name] = result_names(paragraph, {});
        paragraph_name.clear();
      } else {
        paragraph += " " + line;
      }
      continue;
    }
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    if (cells.size() != 3) continue;
    DocRow row;
    row.ops = backticked(cells[0]);
    row.arg_tokens = backticked(cells[1]);
    row.args_text = cells[1];
    static const std::regex entry_spec("`([a-z_]+)` \\([^()]*`\\{([^}]*)\\}`");
    std::smatch entry;
    if (std::regex_search(cells[2], entry, entry_spec)) row.entry_keys[entry[1]] = comma_list(entry[2]);
    row.result_fields = result_names(cells[2], doc.shared);
    doc.rows.push_back(row);
  }
  return doc;
}

TEST(OpTable, TheScenarioFormatDocumentListsExactlyTheTablesOps) {
  Doc doc = read_doc();
  ASSERT_EQ(doc.shared.size(), 2u) << "the stat/statvfs result paragraphs were not found";
  std::set<std::string> documented;
  for (const auto& row : doc.rows) {
    for (const auto& name : row.ops) {
      documented.insert(name);
      const OpSpec* op = find_op(name);
      ASSERT_NE(op, nullptr) << "docs list an op the table lacks: " << name;
      if (op->name == "parallel") continue;
      for (const auto& arg : op->args)
        EXPECT_TRUE(row.arg_tokens.count(arg.name)) << name << ": argument `" << arg.name << "` is not documented";
      EXPECT_EQ(op->data != DataArg::none, std::regex_search(row.args_text, std::regex("(^|[^`])\\bdata\\b")))
          << name << ": the doc and the table disagree on its data argument";
      std::set<std::string> fields;
      for (const auto& field : op->results) {
        fields.insert(field.name);
        if (field.kind == FieldKind::entries) {
          std::set<std::string> keys(field.entry_keys.begin(), field.entry_keys.end());
          EXPECT_EQ(row.entry_keys.count(field.name) ? row.entry_keys.at(field.name) : std::set<std::string>{}, keys)
              << name << ": the keys of `" << field.name << "` elements differ";
        }
      }
      EXPECT_EQ(row.result_fields, fields) << name << ": result fields differ between the doc and the table";
    }
  }
  for (const auto& op : op_table()) EXPECT_TRUE(documented.count(op.name)) << "op not documented: " << op.name;
}

TEST(OpTable, TheActorExecutesEveryActorOp) {
  auto actor = ActorProcess::start(helper_executable("fusecheck-actor"), Identity{});
  for (const auto& op : op_table()) {
    if (op.family == OpFamily::engine) continue;
    // No arguments: the executor fails (EBADF, a missing key), but it is found.
    auto reply = actor->call(json{{"op", op.name}}, Clock::now() + 5s);
    ASSERT_NE(reply.status, ActorProcess::Reply::Status::timeout) << op.name;
    EXPECT_EQ(reply.body.value("protocol_error", "").find("unknown op"), std::string::npos) << op.name;
  }
}

TEST(OpTable, RequestsBuiltInCodeAreCheckedAgainstTheTable) {
  EXPECT_EQ(make_request("stat", {{"path", "f"}}), (json{{"op", "stat"}, {"path", "f"}}));
  EXPECT_THROW(make_request("statt", {{"path", "f"}}), std::logic_error);
  EXPECT_THROW(make_request("stat", {{"pth", "f"}}), std::logic_error);
  EXPECT_THROW(make_request("open", {{"path", "f"}}), std::logic_error);  // flags and fd are required
  EXPECT_THROW(make_request("stat", {{"path", "f"}, {"data", "31"}}), std::logic_error);
  EXPECT_THROW(make_request("sleep", {{"seconds", 1}}), std::logic_error);  // made by the engine
}

std::string parse_error(const std::string& steps) {
  try {
    parse_scenario_text("format: 1\ntitle: t\nrefs: [r]\n" + steps, "s.yaml", "s");
  } catch (const FileError& error) {
    return error.what();
  }
  return "";
}

TEST(OpTable, ListEntryKeysComeFromTheTable) {
  // getdents entries carry d_off, so `off` may be matched; listdir entries have no offset.
  EXPECT_EQ(parse_error("steps:\n  - {op: open, path: ., flags: [O_DIRECTORY], fd: d}\n"
                        "  - {op: getdents, fd: d, expect: {entries: {contains: [{name: a, off: 1}]}}}\n"),
            "");
  EXPECT_NE(parse_error("steps:\n  - {op: listdir, path: ., expect: {entries: {contains: [{name: a, off: 1}]}}}\n")
                .find("s.yaml:5:68: unknown key 'off' in entries item (allowed: name, ino, type)"),
            std::string::npos);
}

}  // namespace

namespace {

// The op added to show what a new op costs: a row, an executor, this test and a doc line.
TEST(OpTable, StatxAsksForTheMaskAndReportsWhatTheKernelFilled) {
  auto tests = parse_scenario_text(
      "format: 1\ntitle: t\nrefs: [r]\nsteps:\n"
      "  - {op: statx, path: f, mask: 0x7ff, flags: [AT_SYMLINK_NOFOLLOW], expect: {btime: 0}}\n",
      "s.yaml", "s");
  EXPECT_EQ(tests[0].steps[0].request["mask"], 0x7ff);
  EXPECT_NE(parse_error("steps:\n  - {op: statx, path: f, mask: 0x100000000}\n")
                .find("s.yaml:5:32: statx mask 4294967296 is out of range"),
            std::string::npos);
  auto actor = ActorProcess::start(helper_executable("fusecheck-actor"), Identity{});
  auto basic = actor->call(make_request("statx", {{"path", "/"}, {"mask", 0x7ff}}), Clock::now() + 5s);
  ASSERT_TRUE(basic.body.value("ok", false)) << basic.body.dump();
  EXPECT_EQ(basic.body["r"]["type"], "dir");
  EXPECT_EQ(basic.body["r"]["mask"].get<unsigned>() & 0x7ffu, 0x7ffu);
  EXPECT_EQ(basic.body["r"]["btime"], 0);  // not asked for
  auto only_size = actor->call(make_request("statx", {{"path", "/"}, {"mask", 0x200}}), Clock::now() + 5s);
  EXPECT_TRUE(only_size.body["r"]["mask"].get<unsigned>() & 0x200u);
  auto missing = actor->call(make_request("statx", {{"path", "/does/not/exist"}}), Clock::now() + 5s);
  EXPECT_EQ(missing.body["errno"], ENOENT);
}

// The mapping ops: map names are followed like fds, signals are results.
const std::string kMapped =
    "steps:\n"
    "  - {op: open, path: f, flags: [O_RDWR], fd: h}\n"
    "  - {op: mmap, fd: h, map: m, length: 8192, prot: \"PROT_READ|PROT_WRITE\", flags: MAP_SHARED}\n";

TEST(MappingSteps, MapNamesAreFollowedLikeDescriptors) {
  EXPECT_EQ(parse_error(kMapped + "  - {op: map_read, map: m, size: 4, expect: {data: {gen: {size: 4, from: 9}}}}\n"
                                  "  - {op: map_write, map: m, offset: 4096, data: x, expect: SIGBUS}\n"
                                  "  - {op: munmap, map: m}\n"),
            "");
  EXPECT_NE(parse_error(kMapped + "  - {op: munmap, map: m}\n  - {op: map_read, map: m, size: 1}\n")
                .find("s.yaml:8:25: map 'm' is not open in actor 'root' at this step"),
            std::string::npos);
  EXPECT_NE(parse_error(kMapped + "  - {op: map_read, map: m, size: 1, expect: SIGFOO}\n")
                .find("is not ok, any, or an errno name"),
            std::string::npos);
  EXPECT_NE(parse_error(kMapped + "  - {op: msync, map: m, flags: [MS_NOW]}\n").find("unknown msync flag 'MS_NOW'"),
            std::string::npos);
}

TEST(MappingSteps, SignalResultsAreParsedAndDescribed) {
  auto tests = parse_scenario_text("format: 1\ntitle: t\nrefs: [r]\n" + kMapped +
                                       "  - {op: map_read, map: m, size: 1, expect: {signal: [SIGBUS, SIGSEGV]}}\n",
                                   "s.yaml", "s");
  const Expect& expect = tests[0].steps[2].expect;
  EXPECT_EQ(expect.kind, Expect::Kind::error);
  EXPECT_EQ(expect.signals, (std::vector<int>{SIGBUS, SIGSEGV}));
  EXPECT_EQ(expect.describe(), "SIGBUS or SIGSEGV");
}

TEST(MappingSteps, TheActorAnswersAccessesPastTheEndWithSigbusAndKeepsServing) {
  auto file = std::filesystem::temp_directory_path() / ("fusecheck-mapping-" + std::to_string(::getpid()));
  std::ofstream(file) << "mapped bytes";
  auto actor = ActorProcess::start(executable_dir() + "/fusecheck-actor", Identity{});
  auto call = [&](json request) { return actor->call(request, Clock::now() + 5s); };
  ASSERT_TRUE(call(make_request("open", {{"path", file.string()}, {"flags", O_RDWR}, {"fd", "h"}})).body["ok"]);
  ASSERT_TRUE(
      call(make_request("mmap",
                        {{"fd", "h"}, {"map", "m"}, {"length", 8192}, {"prot", PROT_READ}, {"flags", MAP_SHARED}}))
          .body["ok"]);
  EXPECT_EQ(call(make_request("map_read", {{"map", "m"}, {"size", 6}})).body["r"]["data"], "6d6170706564");
  EXPECT_EQ(call(make_request("map_read", {{"map", "m"}, {"offset", 4096}, {"size", 1}})).body["signal"], SIGBUS);
  EXPECT_EQ(call(make_request("map_write", {{"map", "m"}, {"data", "41"}})).body["signal"], SIGSEGV);
  auto outside = call(make_request("map_read", {{"map", "m"}, {"offset", 8000}, {"size", 500}}));
  EXPECT_EQ(outside.status, ActorProcess::Reply::Status::protocol) << outside.body.dump();
  auto splice = call(make_request("splice_to_pipe", {{"fd", "h"}, {"offset", 7}, {"size", 100}}));
  EXPECT_EQ(splice.body["r"]["data"], "6279746573");  // "bytes": the actor survived and still serves
  std::filesystem::remove(file);
}

}  // namespace

namespace {

// The actor's own refusals, for requests that did not come through the parser.
TEST(ActorRefusals, DeviceNumbersOfADriverAndOutOfRangeIds) {
  auto actor = ActorProcess::start(helper_executable("fusecheck-actor"), Identity{});
  auto disk = actor->call(make_request("mknod", {{"path", "/nonexistent-dir/disk"}, {"type", "blk"}, {"major", 7}}),
                          Clock::now() + 5s);
  EXPECT_EQ(disk.status, ActorProcess::Reply::Status::protocol) << disk.body.dump();
  if (::geteuid() != 0) GTEST_SKIP() << "switching identities needs root";
  for (uid_t uid : {static_cast<uid_t>(-1)}) {
    EXPECT_THROW(ActorProcess::start(helper_executable("fusecheck-actor"), Identity{uid, 0, {}, 022}), HarnessError)
        << "an actor with uid " << uid << " started";
  }
}

}  // namespace

namespace {

// The `handles` executors without a mount: a lock's holder is reported with its pid, an OFD
// lock with -1, and copy_file_range without offsets moves the file offsets.
TEST(HandleOps, LocksReportTheirHolderAndCopiesMoveOffsets) {
  auto holder = ActorProcess::start(executable_dir() + "/fusecheck-actor", Identity{});
  auto asker = ActorProcess::start(executable_dir() + "/fusecheck-actor", Identity{});
  std::string path = ::testing::TempDir() + "handle-ops-" + std::to_string(::getpid());
  auto call = [](ActorProcess& actor, const std::string& op, json args) {
    return actor.call(make_request(op, std::move(args)), Clock::now() + 5s).body;
  };
  for (auto* actor : {holder.get(), asker.get()})
    ASSERT_TRUE(call(*actor, "open", {{"path", path}, {"flags", O_CREAT | O_RDWR}, {"fd", "f"}})["ok"]);
  auto set =
      call(*holder, "fcntl_lock", {{"fd", "f"}, {"cmd", "F_SETLK"}, {"type", "F_WRLCK"}, {"start", 5}, {"len", 10}});
  EXPECT_EQ(set["r"], (json{{"type", "F_WRLCK"}, {"pid", 0}, {"start", 5}, {"len", 10}}));
  auto got = call(*asker, "fcntl_lock", {{"fd", "f"}, {"cmd", "F_GETLK"}, {"type", "F_RDLCK"}});
  EXPECT_EQ(got["r"], (json{{"type", "F_WRLCK"}, {"pid", holder->pid()}, {"start", 5}, {"len", 10}}));
  EXPECT_EQ(call(*asker, "fcntl_lock", {{"fd", "f"}, {"cmd", "F_SETLK"}, {"type", "F_RDLCK"}, {"start", 14}})["errno"],
            EAGAIN);
  call(*holder, "fcntl_lock", {{"fd", "f"}, {"cmd", "F_OFD_SETLK"}, {"type", "F_RDLCK"}, {"start", 20}, {"len", 1}});
  auto ofd = call(*asker, "fcntl_lock", {{"fd", "f"}, {"cmd", "F_OFD_GETLK"}, {"type", "F_WRLCK"}, {"start", 20}});
  EXPECT_EQ(ofd["r"]["pid"], -1);
  EXPECT_EQ(call(*asker, "flock", {{"fd", "f"}, {"operation", LOCK_EX | LOCK_NB}})["ok"], true);
  call(*holder, "pwrite", {{"fd", "f"}, {"offset", 0}, {"data", "3031323334"}});
  ASSERT_TRUE(call(*holder, "memfd_create", {{"fd", "m"}})["ok"]);
  call(*holder, "lseek", {{"fd", "f"}, {"offset", 1}, {"whence", SEEK_SET}});
  EXPECT_EQ(call(*holder, "copy_file_range", {{"fd_in", "f"}, {"fd_out", "m"}, {"len", 3}})["errno"], EXDEV);
  EXPECT_EQ(call(*holder, "copy_file_range", {{"fd_in", "f"}, {"off_in", 0}, {"fd_out", "f"}, {"len", 3}})["errno"],
            EINVAL);  // overlaps the destination at the file offset 1
  EXPECT_EQ(call(*holder, "copy_file_range", {{"fd_in", "f"}, {"fd_out", "f"}, {"off_out", 100}, {"len", 3}})["r"],
            (json{{"size", 3}}));
  EXPECT_EQ(call(*holder, "lseek", {{"fd", "f"}, {"offset", 0}, {"whence", SEEK_CUR}})["r"]["offset"], 4);
  EXPECT_EQ(call(*holder, "pread", {{"fd", "f"}, {"offset", 100}, {"size", 10}})["r"]["data"], "313233");
  EXPECT_EQ(call(*holder, "open_by_handle_at", {{"handle", "never"}, {"flags", 0}, {"fd", "h"}})["errno"], EBADF);
  ::unlink(path.c_str());
}

}  // namespace
