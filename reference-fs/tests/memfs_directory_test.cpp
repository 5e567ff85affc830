// memfs's Directory (src/directory.hpp) against a plain model: random inserts, removals and
// retargets over a pool of names, checking lookups, the entry count, newest-first order and
// resumption at a cookie after every step, so that the name index's probing, its removals
// that shift slots back, and the compaction of gaps are all exercised.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "../src/directory.hpp"

namespace memfs::test {
namespace {

// What a directory must hold: name -> (cookie, ino), cookies from kFirstEntryCookie up.
struct Model {
  std::map<std::string, std::pair<uint64_t, uint64_t>> names;
  uint64_t next_cookie = kFirstEntryCookie;
};

// The entries below `before`, newest first, as the directory lists them.
std::vector<std::pair<uint64_t, std::string>> listed(const Directory& dir, uint64_t before) {
  std::vector<std::pair<uint64_t, std::string>> out;
  dir.visit_newest_first(before, [&](uint64_t cookie, const DirEntry& e) {
    out.emplace_back(cookie, e.name);
    return true;
  });
  return out;
}

std::vector<std::pair<uint64_t, std::string>> expected(const Model& model, uint64_t before) {
  std::map<uint64_t, std::string, std::greater<>> by_cookie;
  for (const auto& [name, entry] : model.names)
    if (entry.first < before) by_cookie.emplace(entry.first, name);
  return {by_cookie.begin(), by_cookie.end()};
}

void expect_same(const Directory& dir, const Model& model, const std::vector<std::string>& pool, int step) {
  ASSERT_EQ(dir.size(), model.names.size()) << "step " << step;
  ASSERT_EQ(dir.empty(), model.names.empty()) << "step " << step;
  for (const std::string& name : pool) {
    const DirEntry* found = dir.find(name);
    auto it = model.names.find(name);
    ASSERT_EQ(found != nullptr, it != model.names.end()) << "step " << step << ", name " << name;
    if (found) {
      ASSERT_EQ(found->name, name) << "step " << step;
      ASSERT_EQ(found->ino, it->second.second) << "step " << step << ", name " << name;
    }
  }
  ASSERT_EQ(listed(dir, UINT64_MAX), expected(model, UINT64_MAX)) << "step " << step;
  uint64_t middle = kFirstEntryCookie + (model.next_cookie - kFirstEntryCookie) / 2;
  ASSERT_EQ(listed(dir, middle), expected(model, middle)) << "step " << step;
}

// Grows to a few hundred names and shrinks back to none, twice, with removals in random
// order (gaps, compaction) and of the newest name (no gap), over a small hash table at first
// (collisions and probe runs that wrap around the end).
TEST(MemfsDirectory, MatchesAModelThroughGrowthRemovalAndCompaction) {
  std::vector<std::string> pool;
  for (int i = 0; i < 400; ++i)
    pool.push_back(i % 7 == 0 ? std::string(40, 'x') + std::to_string(i) : "n" + std::to_string(i));
  std::mt19937 random(12);
  Directory dir(1);
  Model model;
  uint64_t next_ino = 2;
  for (int step = 0; step < 6000; ++step) {
    bool growing = (step / 1500) % 2 == 0;
    const std::string& name = pool[random() % pool.size()];
    bool present = model.names.count(name) != 0;
    int action = static_cast<int>(random() % 10);
    if (!present && (growing ? action < 7 : action < 2)) {
      dir.insert(name, next_ino);
      model.names[name] = {model.next_cookie++, next_ino++};
    } else if (present && action == 9) {
      dir.retarget(name, next_ino);
      model.names[name].second = next_ino++;
    } else if (present) {
      dir.erase(name);
      model.names.erase(name);
    } else if (!model.names.empty() && action % 2 == 0) {  // the newest name
      auto newest = expected(model, UINT64_MAX).front().second;
      dir.erase(newest);
      model.names.erase(newest);
    }
    expect_same(dir, model, pool, step);
    if (HasFatalFailure()) return;
  }
  while (!model.names.empty()) {
    std::string name = model.names.begin()->first;
    dir.erase(name);
    model.names.erase(name);
  }
  expect_same(dir, model, pool, -1);
}

// A name removed and created again is newer than everything: it gets a new cookie.
TEST(MemfsDirectory, ANameCreatedAgainGetsANewCookie) {
  Directory dir(1);
  dir.insert("a", 2);
  dir.insert("b", 3);
  dir.erase("a");
  dir.insert("a", 4);
  auto list = listed(dir, UINT64_MAX);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].second, "a");
  EXPECT_EQ(list[0].first, kFirstEntryCookie + 2);
  EXPECT_EQ(list[1].second, "b");
  EXPECT_EQ(list[1].first, kFirstEntryCookie + 1);
}

}  // namespace
}  // namespace memfs::test
