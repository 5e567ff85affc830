// shortfs's property test: random operation sequences on a mounted ShortFs and on a tmpfs
// must give the same results (fusecheck::fuzz::check_against_tmpfs). ShortFs's one policy,
// names of at most 64 bytes, is declared (name_max), so the fuzzer's longest names are 64
// bytes (tmpfs would take 65); a name over 64 bytes is checked on its own below.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

#include <fusecheck/fuzz.hpp>
#include <fusepp/testing.hpp>
#include <string>

#include "shortfs.hpp"

namespace {

TEST(ShortFs, AgreesWithTmpfsOnRandomSequences) {
  shortfs::ShortFs fs;
  fusepp::testing::ScopedMount mount(fs);
  fusecheck::fuzz::Options options;
  options.runs = 60;
  options.seed = 20261206;
  options.target_name = "shortfs";
  options.name_max = 64;
  options.actor_executable = FUSECHECK_ACTOR;
  options.scenario_out = ::testing::TempDir() + "shortfs-counterexample.yaml";
  auto result = fusecheck::fuzz::check_against_tmpfs(mount.path(), options);
  EXPECT_TRUE(result.passed) << result.report << result.scenario_yaml;
  EXPECT_GT(result.calls_compared, 0u);
}

TEST(ShortFs, RefusesNamesOverSixtyFourBytes) {
  shortfs::ShortFs fs;
  fusepp::testing::ScopedMount mount(fs);
  auto child = fusepp::testing::run_in_child([&] {
    std::string ok = (mount.path() / std::string(64, 'a')).string();
    std::string too_long = (mount.path() / std::string(65, 'b')).string();
    int fd = ::open(ok.c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) return "64: " + fusepp::testing::errno_name(-1);
    ::close(fd);
    if (::open(too_long.c_str(), O_CREAT | O_WRONLY, 0644) >= 0) return std::string("65: created");
    return "65: " + fusepp::testing::errno_name(-1);
  });
  EXPECT_EQ(child.output, "65: " + std::string(std::strerror(ENAMETOOLONG)));
}

}  // namespace
