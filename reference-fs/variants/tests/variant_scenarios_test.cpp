// "A check must be able to fail", end to end: for a handful of variants whose bug one
// conformance scenario sees cheaply and deterministically, `fusecheck run` on the variant
// reports exactly that scenario as FAIL (exit 1), and the same scenarios PASS on memfs.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

const std::string kFusecheck = FUSECHECK_BINARY;
const std::string kVariant = FUSECHECK_MEMFS_VARIANT_BINARY;

struct RunOutcome {
  int exit_code = -1;
  std::string output;
};

// Runs `fusecheck run` on a target and a test-name filter, results in a scratch directory.
RunOutcome fusecheck_run(const std::string& fs, const std::string& filter_arguments) {
  auto results = std::filesystem::temp_directory_path() / ("variant-scenarios-" + std::to_string(::getpid()));
  std::string command =
      kFusecheck + " run -q --fs '" + fs + "' " + filter_arguments + " --results " + results.string() + " 2>&1";
  RunOutcome run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  std::array<char, 4096> chunk;
  for (size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0;) run.output.append(chunk.data(), n);
  int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::filesystem::remove_all(results);
  return run;
}

struct Case {
  const char* variant;
  const char* test;  // the conformance test that must FAIL on it
};

const Case kCases[] = {
    {"chmod-keeps-ctime", "attributes/chmod-updates-ctime-only@kind=file"},
    {"chown-clobbers-gid", "setattr/chown-minus-one-keeps-that-id@uid=1000,gid=-1,ruid=1000,rgid=3000"},
    {"mknod-drops-rdev", "attributes/rdev-of-char-device@major=0,minor=3"},
    {"statfs-ffree-constant", "statfs/files-accounting"},
    {"removed-dir-freed-at-once", "statfs/removed-directory-keeps-its-inode-while-a-file-inside-is-open"},
    {"removed-dir-freed-at-once", "statfs/removed-directory-keeps-its-inode-while-a-removed-subdirectory-is-open"},
    {"rename-keeps-old-name", "readdir/listing-shows-only-the-new-name-after-rename"},
    {"otrunc-ignored", "setattr/open-trunc-discards-data"},
    {"rmdir-nonempty", "namespace/rmdir-of-a-non-empty-directory-fails-with-enotempty@kind=file"},
    {"removexattr-missing-ok", "xattr/removexattr-of-a-missing-attribute-fails-with-enodata"},
    // mmap, open flags, SEEK_DATA/SEEK_HOLE, sendfile and splice (issue 13): one per step kind.
    {"direct-io-everywhere",
     "mmap/shared-and-private-mappings-of-a-regular-file-are-supported@flags=MAP_SHARED,prot=PROT_READ|PROT_WRITE"},
    {"write-after-flush-lost", "mmap/write-through-a-shared-mapping-is-read-by-another-process@at=4085"},
    {"write-after-flush-lost", "data/fsx-mix-1"},
    {"otrunc-keeps-setuid", "setattr/open-trunc-by-non-root-clears-set-id-bits@who=bob,mode=06777,result=0777"},
    {"direct-reads-stale", "data/o-direct-aligned-io-is-coherent-with-buffered-io-of-other-processes@block=4096"},
    {"append-at-handle-position", "data/o-append-writes-from-two-processes-in-parallel-never-overlap"},
    {"seek-data-counts-preallocated",
     "data/seek-data-and-seek-hole-across-data-preallocated-and-hole-pages@whence=SEEK_HOLE,from=0,result=4096"},
    {"large-read-repeats", "data/sendfile-copies-bytes-from-an-offset-to-another-file@from=0,count=300000,sent=300000"},
    {"large-read-repeats", "data/splice-from-a-file-into-a-pipe-moves-the-files-bytes@from=0,size=200000,moved=200000"},
    // One per step kind of the locks, copies and file handles (flock, fcntl_lock with F_SETLK
    // and the OFD forms, copy_file_range, memfd_create, name_to_handle_at/open_by_handle_at,
    // ioctl_getflags/ioctl_setflags).
    {"locks-never-conflict",
     "locks/flock-locks-of-two-users-conflict-by-mode@held=LOCK_SH,wanted=LOCK_EX,result=EAGAIN"},
    {"locks-never-conflict", "locks/fcntl-getlk-reports-the-conflicting-lock@held=F_WRLCK,asked=F_RDLCK"},
    {"locks-never-conflict", "locks/ofd-getlk-reports-pid-minus-one@cmd=F_OFD_GETLK"},
    {"copy-range-keeps-mtime", "copy/copy-file-range-updates-the-destination-times-not-the-source@off_out=0,size=100"},
    {"copy-range-ignores-off-in", "copy/copy-file-range-across-the-mount-boundary-fails-with-exdev"},
    {"copy-range-ignores-off-in", "data/fsx-mix-5"},
    {"inode-reused-same-generation", "handles/handle-of-a-removed-file-is-stale"},
    {"setflags-ignored", "ioctl/setflags-reads-back-and-updates-ctime@kind=file,flags=FS_NODUMP_FL,value=0x40"},
    {"readdir-ignores-buffer-full", "readdir/names-of-varied-lengths-listed-with-a-small-buffer-appear-once"},
};

class VariantIsCaught : public ::testing::TestWithParam<Case> {};

TEST_P(VariantIsCaught, ByItsScenario) {
  const Case& c = GetParam();
  RunOutcome run =
      fusecheck_run("exec:" + kVariant + " --bug " + c.variant + " {mnt}", std::string("--filter '") + c.test + "'");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find(std::string("FAIL   ") + c.test + " ("), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("0 passed, 1 failed"), std::string::npos) << run.output;
}

INSTANTIATE_TEST_SUITE_P(Variants, VariantIsCaught, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.variant;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           // A variant caught by several scenarios: its later cases get _2, _3...
                           auto same = std::count_if(
                               std::begin(kCases), std::begin(kCases) + info.index,
                               [&](const Case& c) { return std::string_view(c.variant) == info.param.variant; });
                           return same == 0 ? name : name + "_" + std::to_string(same + 1);
                         });

TEST(VariantScenarios, TheSameScenariosPassOnMemfs) {
  std::string filters;
  for (const Case& c : kCases) filters += std::string(" --filter '") + c.test + "'";
  RunOutcome run = fusecheck_run("memfs", filters);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  std::string expected = std::to_string(std::size(kCases)) + " passed, 0 failed";
  EXPECT_NE(run.output.find(expected), std::string::npos) << run.output;
}

}  // namespace
