// Mounted readdir tests: a directory of 10,000 entries listed through readdir_reply (which
// reports a full kernel buffer), every entry exactly once; and the same while another process
// unlinks entries mid-listing, which stable cookies (next_id = the entry's own id) survive.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using namespace testing;  // run_in_child, start_child, finish_child, errno_name

constexpr int kEntries = 10'000;

std::string name_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "f%05d", i);
  return buf;
}

// A flat directory; entry i has inode 100 + i, and that inode number is also its cookie, so
// a listing resumes after the last entry it returned no matter what was removed meanwhile.
class BigDirFs : public Operations {
 public:
  BigDirFs() {
    for (int i = 0; i < kEntries; ++i) entries_.emplace(100 + i, name_of(i));
  }
  std::atomic<int> readdir_calls{0};
  std::atomic<int> buffer_full{0};

  EntryAttributes attrs(uint64_t ino) const {
    EntryAttributes a{.st_ino = InodeT{ino}, .entry_timeout = 0, .attr_timeout = 0};
    if (ino == ROOT_INODE) a.st_mode = ModeT{S_IFDIR | 0755};
    return a;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    std::lock_guard lock(mutex_);
    if (parent != ROOT_INODE) co_return FUSEError(ENOENT);
    for (const auto& [ino, n] : entries_)
      if (n == name) co_return attrs(ino);
    co_return FUSEError(ENOENT);
  }
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext&) override { co_return attrs(inode); }
  Reply<FileHandleT> opendir(InodeT, const RequestContext&) override { co_return FileHandleT{1}; }
  Reply<void> releasedir(FileHandleT) override { co_return ok; }
  Reply<void> readdir(FileHandleT, off_t start_id, ReaddirToken& token) override {
    readdir_calls.fetch_add(1);
    std::lock_guard lock(mutex_);
    for (auto it = entries_.upper_bound(static_cast<uint64_t>(start_id)); it != entries_.end(); ++it) {
      if (!readdir_reply(token, it->second, attrs(it->first), static_cast<off_t>(it->first))) {
        buffer_full.fetch_add(1);
        break;
      }
    }
    co_return ok;
  }
  Reply<void> unlink(InodeT parent, std::string_view name, const RequestContext&) override {
    std::lock_guard lock(mutex_);
    if (parent != ROOT_INODE) co_return FUSEError(ENOENT);
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second == name) {
        entries_.erase(it);
        co_return ok;
      }
    co_return FUSEError(ENOENT);
  }

 private:
  std::mutex mutex_;  // the listing and unlinking children are served on one thread, but tests may look
  std::map<uint64_t, std::string> entries_;
};

// Lists dir in the calling process; after `pause_after` entries runs `mid_listing` once.
std::string list_names(const std::filesystem::path& dir, int pause_after, const std::function<void()>& mid_listing) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return "opendir failed";
  std::ostringstream out;
  int seen = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == "..") continue;
    out << n << '\n';
    if (++seen == pause_after && mid_listing) mid_listing();
  }
  ::closedir(d);
  return out.str();
}

std::map<std::string, int> count_names(const std::string& listing) {
  std::map<std::string, int> counts;
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) ++counts[line];
  return counts;
}

TEST(MountReaddir, TenThousandEntriesEachExactlyOnce) {
  BigDirFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] { return list_names(mnt.path(), -1, nullptr); });
  ASSERT_TRUE(r.ok()) << r.output.substr(0, 200);
  auto counts = count_names(r.output);
  EXPECT_EQ(counts.size(), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) EXPECT_EQ(counts[name_of(i)], 1) << name_of(i);
  EXPECT_GT(fs.buffer_full.load(), 10);  // the listing really spanned many kernel buffers
}

TEST(MountReaddir, ConcurrentUnlinkMidListingKeepsCookiesStable) {
  BigDirFs fs;
  testing::ScopedMount mnt(fs);
  auto dir = mnt.path();
  // Removed by another process once 3,000 entries were read: every third entry, both in the
  // part already listed and in the part still to come.
  std::set<std::string> removed;
  for (int i = 0; i < kEntries; i += 3) removed.insert(name_of(i));
  auto r = run_in_child([&] {
    return list_names(dir, 3000, [&] {
      pid_t pid = ::fork();
      if (pid == 0) {
        int failures = 0;
        for (const auto& n : removed) failures += ::unlink((dir / n).c_str()) != 0;
        ::_exit(failures == 0 ? 0 : 1);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("unlinking child failed");
    });
  });
  ASSERT_TRUE(r.ok()) << r.output.substr(0, 200);
  auto counts = count_names(r.output);
  int removed_seen = 0;
  for (int i = 0; i < kEntries; ++i) {
    const std::string n = name_of(i);
    if (removed.count(n)) {
      EXPECT_LE(counts[n], 1) << n << " listed twice";
      removed_seen += counts[n];
    } else {
      EXPECT_EQ(counts[n], 1) << n;
    }
  }
  for (const auto& [n, c] : counts) EXPECT_TRUE(n.size() == 6 && n[0] == 'f') << "unexpected entry " << n;
  // Entries listed before the unlinks were seen; most later removed ones were not.
  EXPECT_GE(removed_seen, 1000);
  EXPECT_LT(removed_seen, static_cast<int>(removed.size()));
  auto after = run_in_child([&] { return list_names(dir, -1, nullptr); });
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(count_names(after.output).size(), static_cast<size_t>(kEntries) - removed.size());
}

}  // namespace
}  // namespace fusepp::test
