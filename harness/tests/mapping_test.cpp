// Tests of the mapping ops (mmap, map_read/map_write, msync, munmap, sendfile, splice): the
// parser follows map names like fds and takes signal results, and the actor answers an access
// past end of file with SIGBUS as a result, never by dying.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fusecheck/actor.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/scenario.hpp"

using namespace fusecheck;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string parse_error(const std::string& steps) {
  try {
    parse_scenario_text("format: 1\ntitle: t\nrefs: [r]\n" + steps, "s.yaml", "s");
  } catch (const FileError& error) {
    return error.what();
  }
  return "";
}

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
  std::string error;
  auto actor = ActorProcess::spawn(executable_dir() + "/fusecheck-actor", Identity{}, error);
  ASSERT_TRUE(actor) << error;
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
