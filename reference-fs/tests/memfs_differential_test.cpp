// Differential test: every sequence runs on a fresh tmpfs and on memfs (mounted with and
// without default_permissions), and the transcripts must match step by step. Where FUSE
// itself makes memfs differ, the entry says why and pins down what FUSE gives instead.
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>

#include "support.hpp"
#include "syscall_script.hpp"

namespace memfs::test {
namespace {

constexpr uid_t kUser = 1000;   // owns the files of permission sequences
constexpr uid_t kOther = 1001;  // a stranger to them

#define STEP(expr, ...)               \
  Step {                              \
#expr, SYS(expr), { __VA_ARGS__ } \
  }
#define AS(uid, expr, ...) \
  Step { "as " #uid ": " #expr, SYS(expr), {__VA_ARGS__}, uid }
#define DATA(expr, ...)                                       \
  Step {                                                      \
#expr, [](Script & s) -> Outcome { (void)s; return expr; }, { \
      __VA_ARGS__                                             \
    }                                                         \
  }
#define DATA_AS(uid, expr, ...)    \
  Step {                           \
    "as " #uid ": " #expr,         \
        [](Script& s) -> Outcome { \
          (void)s;                 \
          return expr;             \
        },                         \
        {__VA_ARGS__}, uid         \
  }

// A way FUSE makes memfs's transcript differ from tmpfs's at one step.
struct FuseDifference {
  size_t step;                          // index into steps
  std::string why;                      // what in FUSE forces it
  std::string on_fuse;                  // the exact transcript line memfs must produce there
  bool only_when_memfs_checks = false;  // only without default_permissions
};

struct Sequence {
  std::string name;
  std::vector<Step> steps;
  std::string size_options = "size=1m,nr_inodes=100";  // tmpfs and memfs alike
  std::vector<FuseDifference> fuse_differences = {};
  // An atime mount flag for both: "noatime", "strictatime" or "nodiratime" (tmpfs gets the
  // MS_ flag; memfs, which FUSE never tells about mount flags, gets it in its Options).
  std::string atime_flag = "";
};

constexpr timespec kNow{0, UTIME_NOW};
constexpr timespec kOmit{0, UTIME_OMIT};
constexpr timespec kPast{1'000'000'000, 123'456'789};

// Lists a directory through a descriptor opened with extra flags; returns getdents64's byte
// count (or -1), closing the descriptor.
long list_dir_with_flags(const char* path, int flags) {
  int fd = ::open(path, O_RDONLY | O_DIRECTORY | flags);
  if (fd < 0) return -1;
  char buf[4096];
  long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
  int err = errno;
  ::close(fd);
  errno = err;
  return n;
}

int make_socket(const char* path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
  return rc;
}

const std::string kName255 = long_name(255);
const std::string kName256 = long_name(256);
const std::string kLongTarget = long_name(200, 't');

// The table is split by topic: one function holding every sequence makes GCC take minutes
// (and gigabytes) to compile it, under ASan most of all.
// Creation and basic data.
std::vector<Sequence> sequences_creation_and_basic_data() {
  return {
      {"create_file",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_WRONLY, 0644)), "f", "."), STEP(::close(s.fd("f")), "f")}},
      {"create_exclusive_existing",
       {STEP(::close(::creat("f", 0600)), "f"), STEP(::open("f", O_CREAT | O_EXCL | O_RDWR, 0644), "f", ".")}},
      {"create_mode_and_umask",
       {STEP(::close(::open("f", O_CREAT | O_RDWR, 0777)), "f"), STEP(::mkdir("d", 0777), "d"),
        STEP(::mknod("p", S_IFIFO | 0666, 0), "p")}},
      {"write_then_read",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "hello", 5, 0), "f"),
        DATA(read_at(s, "f", 0, 100), "f"), DATA(read_at(s, "f", 0, 100), "f"),
        STEP(::pwrite(s.fd("f"), "HE", 2, 0), "f"), DATA(read_at(s, "f", 0, 100), "f")}},
      {"zero_length_write",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::write(s.fd("f"), "", 0), "f")}},
      {"sparse_write_far",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "x", 1, 1 << 20), "f"),
        DATA(read_at(s, "f", (1 << 20) - 4, 8), "f"), DATA(read_at(s, "f", 4096, 4), "f")}},
      {"sparse_one_tebibyte",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"),
        STEP(::pwrite(s.fd("f"), "end", 3, off_t{1} << 40), "f"), DATA(seek(s, "f", 0, SEEK_DATA)),
        DATA(seek(s, "f", 0, SEEK_HOLE)), DATA(seek(s, "f", (off_t{1} << 40) + 3, SEEK_DATA)),
        DATA(read_at(s, "f", (off_t{1} << 40) - 2, 8), "f"), DATA(stat_fs("."))}},
      {"page_boundary_write",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abcdef", 6, 4093), "f"),
        DATA(read_at(s, "f", 4090, 12), "f")}},
      {"o_append",
       {STEP(::close(::open("f", O_CREAT | O_WRONLY, 0644)), "f"),
        STEP(s.keep("a", ::open("f", O_WRONLY | O_APPEND)), "f"), STEP(s.keep("w", ::open("f", O_RDWR)), "f"),
        STEP(::pwrite(s.fd("w"), "0123456789", 10, 0), "f"), STEP(::write(s.fd("a"), "ab", 2), "f"),
        STEP(::lseek(s.fd("a"), 0, SEEK_CUR)), DATA(read_at(s, "w", 0, 64), "f")}},
  };
}

// Truncation.
std::vector<Sequence> sequences_truncation() {
  return {
      {"truncate_both_ways",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"),
        STEP(::pwrite(s.fd("f"), "0123456789", 10, 0), "f"), STEP(::truncate("f", 5000), "f"),
        DATA(read_at(s, "f", 0, 12), "f"), STEP(::truncate("f", 3), "f"), STEP(::truncate("f", 8), "f"),
        DATA(read_at(s, "f", 0, 12), "f")}},
      {"truncate_same_size",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abc", 3, 0), "f"),
        STEP(::truncate("f", 3), "f"), STEP(::ftruncate(s.fd("f"), 3), "f")}},
      {"truncate_errors",
       {STEP(::mkdir("d", 0755), "d"), STEP(::truncate("d", 0), "d"), STEP(::truncate("missing", 0)),
        STEP(::symlink("missing", "l"), "l"), STEP(::truncate("l", 0), "l")}},
      {"open_trunc",
       {STEP(::close(::open("f", O_CREAT | O_WRONLY, 0644)), "f"), STEP(::close(::open("f", O_WRONLY | O_TRUNC)), "f"),
        STEP(s.keep("f", ::open("f", O_RDWR)), "f"), STEP(::pwrite(s.fd("f"), "data", 4, 0), "f"),
        STEP(::close(::open("f", O_RDWR | O_TRUNC)), "f"), DATA(read_at(s, "f", 0, 8), "f")},
       "size=1m,nr_inodes=100",
       {{5,
         "a read at or past end of file never reaches a FUSE filesystem (the kernel answers 0 "
         "from its cached size), so memfs cannot apply the relatime update tmpfs makes there",
         "read_at(s, \"f\", 0, 8) -> 0 0 | f: mode=100644 nlink=1 size=0 blocks=0 uid=0 gid=0 "
         "amc===="}}},
      {"ftruncate_readonly_fd",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDONLY, 0644)), "f"), STEP(::ftruncate(s.fd("f"), 10), "f")}},
  };
}

// Unlinked but open.
std::vector<Sequence> sequences_unlinked_but_open() {
  return {
      {"unlinked_open_file",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::write(s.fd("f"), "kept", 4), "#f"),
        STEP(::unlink("f"), "#f", "f", "."), STEP(::pwrite(s.fd("f"), "more", 4, 4), "#f"),
        DATA(read_at(s, "f", 0, 16), "#f"), STEP(::fchmod(s.fd("f"), 0600), "#f"),
        STEP(::ftruncate(s.fd("f"), 2), "#f")}},
      {"removed_directory_still_open",
       {STEP(::mkdir("d", 0755), "d"), STEP(s.keep("d", ::open("d", O_RDONLY | O_DIRECTORY)), "d"),
        STEP(::rmdir("d"), "#d", "."), STEP(::openat(s.fd("d"), "x", O_CREAT | O_RDWR, 0644), "#d"),
        STEP(::mkdirat(s.fd("d"), "y", 0755), "#d")}},
  };
}

// Directories.
std::vector<Sequence> sequences_directories() {
  return {
      {"directory_nlink",
       {STEP(::mkdir("d", 0755), "d", "."), STEP(::mkdir("d/e", 0755), "d", "d/e"), STEP(::mkdir("d/f", 0755), "d"),
        STEP(::close(::creat("d/file", 0644)), "d"), STEP(::rmdir("d/e"), "d", "d/e"), DATA(list_dir("d"), "d")}},
      {"rmdir_errors",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("d/f", 0644)), "d"), STEP(::rmdir("d"), "d"),
        STEP(::rmdir("d/f"), "d/f"), STEP(::unlink("d"), "d"), STEP(::rmdir("d/."), "d"), STEP(::rmdir("d/.."), "d"),
        STEP(::rmdir("missing"))}},
      {"mkdir_errors",
       {STEP(::mkdir("d", 0755), "d"), STEP(::mkdir("d", 0755), "d"), STEP(::mkdir("missing/d", 0755)),
        STEP(::close(::creat("f", 0644)), "f"), STEP(::mkdir("f/d", 0755), "f")}},
      {"directory_size_per_entry",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("d/a", 0644)), "d"), STEP(::mkdir("d/b", 0755), "d"),
        STEP(::symlink("a", "d/c"), "d"), STEP(::unlink("d/a"), "d"), STEP(::rename("d/c", "d/renamed"), "d")}},
      {"readdir_contents_and_order",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("d/a", 0644)), "d"), STEP(::mkdir("d/b", 0755), "d"),
        STEP(::symlink("a", "d/c"), "d"), STEP(::mknod("d/p", S_IFIFO | 0644, 0), "d"), DATA(list_dir("d"), "d"),
        STEP(::rename("d/a", "d/a2"), "d"), STEP(::unlink("d/c"), "d"), STEP(::close(::creat("d/e", 0644)), "d"),
        DATA(list_dir("d"), "d")}},
      {"readdir_updates_atime",
       {STEP(::mkdir("d", 0755), "d"), DATA(list_dir("d"), "d"), DATA(list_dir("d"), "d"),
        STEP(::close(::creat("d/x", 0644)), "d"), DATA(list_dir("d"), "d")}},
      {"open_directory_flags",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("f", 0644)), "f"),
        STEP(::open("f", O_RDONLY | O_DIRECTORY), "f"), STEP(::open("d", O_WRONLY), "d"),
        STEP(::open("d", O_RDWR), "d"), STEP(::close(::open("d", O_RDONLY)), "d")}},
  };
}

// Rename.
std::vector<Sequence> sequences_rename() {
  return {
      {"rename_file_over_file",
       {STEP(::close(::creat("a", 0644)), "a"), STEP(::close(::creat("b", 0600)), "b"),
        STEP(::rename("a", "b"), "a", "b", "."), DATA(list_dir("."))}},
      {"rename_across_directories",
       {STEP(::mkdir("d1", 0755), "d1"), STEP(::mkdir("d2", 0755), "d2"), STEP(::mkdir("d1/sub", 0755), "d1/sub"),
        STEP(::close(::creat("d1/f", 0644)), "d1/f"), STEP(::rename("d1/sub", "d2/sub"), "d1", "d2", "d2/sub"),
        STEP(::rename("d1/f", "d2/f"), "d1", "d2", "d2/f"), STEP(::access("d2/sub/..", F_OK))}},
      {"rename_dir_over_empty_dir",
       {STEP(::mkdir("a", 0755), "a"), STEP(::mkdir("a/child", 0755), "a"), STEP(::mkdir("b", 0700), "b"),
        STEP(::rename("a", "b"), "a", "b", "b/child", ".")}},
      {"rename_dir_over_nonempty_dir",
       {STEP(::mkdir("a", 0755), "a"), STEP(::mkdir("b", 0755), "b"), STEP(::close(::creat("b/f", 0644)), "b"),
        STEP(::rename("a", "b"), "a", "b")}},
      {"rename_type_mismatch",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("f", 0644)), "f"), STEP(::rename("f", "d"), "f", "d"),
        STEP(::rename("d", "f"), "f", "d")}},
      {"rename_into_own_subtree",
       {STEP(::mkdir("a", 0755), "a"), STEP(::mkdir("a/b", 0755), "a/b"), STEP(::rename("a", "a/b/c"), "a"),
        STEP(::rename("a", "a/c"), "a"), STEP(::rename("a/b", "a"), "a"), STEP(::rename("a/b/.", "x"), "a/b")}},
      {"rename_hard_links_of_one_inode",
       {STEP(::close(::creat("a", 0644)), "a"), STEP(::link("a", "b"), "a"), STEP(::rename("a", "b"), "a", "b", "."),
        DATA(list_dir("."))}},
      {"rename_to_itself", {STEP(::close(::creat("a", 0644)), "a"), STEP(::rename("a", "a"), "a", ".")}},
      {"rename_noreplace",
       {STEP(::close(::creat("a", 0644)), "a"), STEP(::close(::creat("b", 0644)), "b"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE), "a", "b"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE), "a", "c", ".")}},
      {"rename_exchange_files",
       {STEP(::close(::creat("a", 0644)), "a"), STEP(::mknod("b", S_IFIFO | 0600, 0), "b"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE), "a", "b", "."), DATA(list_dir("."))}},
      {"rename_exchange_dir_and_file_across",
       {STEP(::mkdir("d1", 0755), "d1"), STEP(::mkdir("d2", 0755), "d2"), STEP(::mkdir("d1/sub", 0755), "d1/sub"),
        STEP(::close(::creat("d2/f", 0644)), "d2/f"),
        STEP(::renameat2(AT_FDCWD, "d1/sub", AT_FDCWD, "d2/f", RENAME_EXCHANGE), "d1", "d2", "d1/sub", "d2/f"),
        STEP(::rmdir("d2/f"), "d2")}},
      {"rename_exchange_errors",
       {STEP(::mkdir("a", 0755), "a"), STEP(::mkdir("a/b", 0755), "a/b"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "missing", RENAME_EXCHANGE), "a"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "a/b", RENAME_EXCHANGE), "a"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "a/b", RENAME_EXCHANGE | RENAME_NOREPLACE), "a")}},
      {"rename_whiteout",
       {STEP(::close(::creat("a", 0644)), "a"),
        STEP(::renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_WHITEOUT), "a", "b", "."), DATA(stat_fs("."))}},
  };
}

// Links.
std::vector<Sequence> sequences_links() {
  return {
      {"hard_links",
       {STEP(::close(::creat("a", 0644)), "a"), STEP(::link("a", "b"), "a", "b", "."), STEP(::link("a", "c"), "a"),
        STEP(::unlink("b"), "a", "b", "."), STEP(::unlink("a"), "c"), DATA(stat_fs("."))}},
      {"hard_link_errors",
       {STEP(::mkdir("d", 0755), "d"), STEP(::link("d", "d2"), "d"), STEP(::link("missing", "x")),
        STEP(::close(::creat("a", 0644)), "a"), STEP(::link("a", "a"), "a"), STEP(::link("a", "d/a"), "a", "d")}},
      {"symlinks",
       {STEP(::symlink("target", "l"), "l", "."), DATA(read_link("l"), "l"), DATA(read_link("l"), "l"),
        STEP(::symlink("x", "l"), "l"), STEP(::open("l", O_RDONLY)),
        STEP(::close(::creat("target", 0644)), "l", "target"), STEP(stat_path("l")),
        DATA(read_link("target"), "target")}},
      {"symlink_long_target",
       {STEP(::symlink(kLongTarget.c_str(), "l"), "l"), DATA(read_link("l"), "l"), DATA(stat_fs(".")),
        STEP(::unlink("l"), "l"), DATA(stat_fs("."))}},
  };
}

// Special files.
std::vector<Sequence> sequences_special_files() {
  return {
      {"mknod_types",
       {STEP(::mknod("fifo", S_IFIFO | 0640, 0), "fifo"), STEP(::mknod("chr", S_IFCHR | 0600, makedev(1, 3)), "chr"),
        STEP(::mknod("blk", S_IFBLK | 0600, makedev(7, 0)), "blk"), STEP(::mknod("reg", S_IFREG | 0600, 0), "reg"),
        STEP(::mknod("plain", 0600, 0), "plain"), STEP(make_socket("sock"), "sock"), DATA(list_dir("."))}},
      {"fifo_io",
       {STEP(::mknod("fifo", S_IFIFO | 0644, 0), "fifo"),
        STEP(s.keep("r", ::open("fifo", O_RDONLY | O_NONBLOCK)), "fifo"),
        STEP(s.keep("w", ::open("fifo", O_WRONLY | O_NONBLOCK)), "fifo"), STEP(::write(s.fd("w"), "pipe", 4), "fifo"),
        STEP(::read(s.fd("r"), nullptr, 0), "fifo")},
       "size=1m,nr_inodes=100",
       {{3,
         "fifo data never reaches a FUSE filesystem: the kernel's pipe code serves it, and its "
         "file_update_time() does nothing on FUSE inodes (S_NOCMTIME without writeback cache), "
         "so no SETATTR tells memfs that tmpfs would have stamped mtime and ctime",
         "::write(s.fd(\"w\"), \"pipe\", 4) -> 4 0 | fifo: mode=10644 nlink=1 size=0 blocks=0 "
         "uid=0 gid=0 amc===="}}},
  };
}

// Names.
std::vector<Sequence> sequences_names() {
  return {
      {"name_max",
       {STEP(::close(::creat(kName255.c_str(), 0644)), "."), STEP(::creat(kName256.c_str(), 0644), "."),
        STEP(::mkdir(kName256.c_str(), 0755)), STEP(stat_path(kName256.c_str())),
        STEP(::symlink("x", kName256.c_str())), STEP(::rename(kName255.c_str(), kName256.c_str())),
        STEP(::link(kName255.c_str(), kName256.c_str())), STEP(::unlink(kName256.c_str()))}},
  };
}

// Extended attributes.
std::vector<Sequence> sequences_extended_attributes() {
  return {
      {"xattr_roundtrip",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::setxattr("f", "user.a", "1", 1, 0), "f"),
        STEP(::setxattr("f", "user.b", "22", 2, 0), "f"), DATA(get_xattr("f", "user.a"), "f"),
        DATA(list_xattr("f"), "f"), STEP(::removexattr("f", "user.a"), "f"), STEP(::removexattr("f", "user.a"), "f"),
        DATA(list_xattr("f"), "f"), DATA(get_xattr("f", "user.missing"), "f")}},
      {"xattr_create_replace",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::setxattr("f", "user.a", "1", 1, XATTR_REPLACE), "f"),
        STEP(::setxattr("f", "user.a", "1", 1, XATTR_CREATE), "f"),
        STEP(::setxattr("f", "user.a", "2", 1, XATTR_CREATE), "f"),
        STEP(::setxattr("f", "user.a", "33", 2, XATTR_REPLACE), "f"), DATA(get_xattr("f", "user.a"), "f")}},
      {"xattr_sizes_and_erange",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::setxattr("f", "user.long", "0123456789", 10, 0), "f"),
        DATA(get_xattr("f", "user.long", 0)), DATA(get_xattr("f", "user.long", 4)), DATA(list_xattr("f", 0)),
        DATA(list_xattr("f", 3)), STEP(::setxattr("f", "user.empty", "", 0, 0), "f"),
        DATA(get_xattr("f", "user.empty")), STEP(::setxattr("f", "", "x", 1, 0), "f"),
        STEP(::setxattr("f", ("user." + long_name(251)).c_str(), "x", 1, 0), "f"),
        STEP(::setxattr("f", ("user." + long_name(250)).c_str(), "x", 1, 0), "f")}},
      {"xattr_namespaces",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::setxattr("f", "trusted.t", "1", 1, 0), "f"),
        STEP(::setxattr("f", "security.s", "1", 1, 0), "f"), STEP(::setxattr("f", "user.", "1", 1, 0), "f"),
        STEP(::setxattr("f", "unknown.x", "1", 1, 0), "f"), STEP(::setxattr("f", "trusted.", "1", 1, 0), "f"),
        DATA(list_xattr("f"), "f"), DATA(get_xattr("f", "trusted.t"), "f")}},
      {"xattr_user_only_on_files_and_dirs",
       {STEP(::mknod("p", S_IFIFO | 0666, 0), "p"), STEP(::symlink("p", "l"), "l"), STEP(::mkdir("d", 0755), "d"),
        STEP(::setxattr("p", "user.a", "1", 1, 0), "p"), STEP(::lsetxattr("l", "user.a", "1", 1, 0), "l"),
        STEP(::setxattr("d", "user.a", "1", 1, 0), "d"), DATA(get_xattr("p", "user.a"), "p"),
        STEP(::lsetxattr("l", "trusted.a", "1", 1, 0), "l"), DATA(list_xattr("l"), "l")}},
      {"xattr_inode_space",
       {STEP(::close(::creat("f", 0644)), "f"), DATA(stat_fs(".")), STEP(::setxattr("f", "user.x", "1", 1, 0), "f"),
        DATA(stat_fs(".")), STEP(::setxattr("f", "user.big", std::string(3000, 'v').c_str(), 3000, 0), "f"),
        DATA(stat_fs(".")), STEP(::setxattr("f", "user.big", "v", 1, 0), "f"), DATA(stat_fs(".")), STEP(::unlink("f")),
        DATA(stat_fs("."))}},
  };
}

// Timestamps.
std::vector<Sequence> sequences_timestamps() {
  return {
      {"chmod_updates_ctime_only",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chmod("f", 0600), "f"), STEP(::chmod("f", 0600), "f")}},
      {"chown_unchanged_updates_ctime",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chown("f", -1, -1), "f"), STEP(::chown("f", 0, 0), "f"),
        STEP(::lchown("f", kUser, kUser), "f")}},
      {"utimensat_variants",
       {STEP(::close(::creat("f", 0644)), "f"), DATA(utimens("f", kPast, kPast), "f"),
        DATA(utimens("f", kNow, kOmit), "f"), DATA(utimens("f", kOmit, kNow), "f"),
        DATA(utimens("f", kOmit, kOmit), "f"), DATA(utimens("f", kPast, kOmit), "f"),
        STEP(::utimensat(AT_FDCWD, "f", nullptr, 0), "f")}},
      {"utimensat_symlink_nofollow",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::symlink("f", "l"), "l"),
        DATA(utimens("l", kPast, kPast, AT_SYMLINK_NOFOLLOW), "l", "f")}},
      {"read_updates_atime_relatime",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abc", 3, 0), "f"),
        DATA(read_at(s, "f", 0, 3), "f"), DATA(read_at(s, "f", 0, 3), "f"), STEP(::pwrite(s.fd("f"), "d", 1, 3), "f"),
        DATA(read_at(s, "f", 0, 8), "f")}},
  };
}

// Atime policies (mount flags).
std::vector<Sequence> sequences_atime_policies() {
  return {
      {"noatime_reads_and_readdir_leave_atime",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abc", 3, 0), "f"),
        DATA(read_at(s, "f", 0, 3), "f"), DATA(read_file("f"), "f"), STEP(::mkdir("d", 0755), "d"),
        DATA(list_dir("d"), "d"), STEP(::symlink("f", "l"), "l"), DATA(read_link("l"), "l")},
       "size=1m,nr_inodes=100",
       {},
       "noatime"},
      {"strictatime_every_read_and_readdir_moves_atime",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abc", 3, 0), "f"),
        DATA(read_file("f"), "f"), DATA(read_file("f"), "f"), DATA(read_at(s, "f", 0, 3), "f"),
        STEP(::mkdir("d", 0755), "d"), DATA(list_dir("d"), "d"), DATA(list_dir("d"), "d")},
       "size=1m,nr_inodes=100",
       {{4,
         "a read through a descriptor whose pages the kernel already cached is answered from "
         "the page cache and never reaches a FUSE filesystem (memfs drops the cache only at "
         "open, and the kernel only when mtime or size change), so memfs cannot move atime there",
         "read_at(s, \"f\", 0, 3) -> 3 0 [abc] | f: mode=100644 nlink=1 size=3 blocks=8 uid=0 gid=0 "
         "amc===="}},
       "strictatime"},
      {"nodiratime_readdir_leaves_directory_atime",
       {STEP(::mkdir("d", 0755), "d"), DATA(list_dir("d"), "d"), STEP(::close(::creat("d/f", 0644)), "d"),
        DATA(list_dir("d"), "d"), STEP(s.keep("g", ::open("g", O_CREAT | O_RDWR, 0644)), "g"),
        STEP(::pwrite(s.fd("g"), "x", 1, 0), "g"), DATA(read_file("g"), "g")},
       "size=1m,nr_inodes=100",
       {},
       "nodiratime"},
      {"o_noatime_read_leaves_atime",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::truncate("f", 100), "f"),
        STEP(s.keep("r", ::open("f", O_RDONLY | O_NOATIME)), "f"), DATA(read_at(s, "r", 0, 10), "f"),
        DATA(read_file("f"), "f"), STEP(::mkdir("d", 0755), "d"), STEP(list_dir_with_flags("d", O_NOATIME), "d"),
        STEP(list_dir_with_flags("d", 0), "d")}},
      {"namespace_ops_update_parent_times",
       {STEP(::mkdir("d", 0755), "d"), STEP(::close(::creat("d/f", 0644)), "d", "d/f"),
        STEP(::link("d/f", "d/g"), "d", "d/f"), STEP(::unlink("d/g"), "d", "d/f"), STEP(::symlink("f", "d/l"), "d"),
        STEP(::rename("d/l", "d/m"), "d", "d/m"), STEP(::close(::open("d/f", O_RDONLY)), "d", "d/f")}},
  };
}

// Setuid / setgid.
std::vector<Sequence> sequences_setuid_setgid() {
  return {
      {"chown_clears_setuid_setgid",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chmod("f", 06755), "f"), STEP(::chown("f", -1, -1), "f"),
        STEP(::chmod("f", 02745), "f"), STEP(::chown("f", kUser, -1), "f"), STEP(::chmod("f", 02745), "f"),
        STEP(::chown("f", -1, kUser), "f")}},
      {"write_by_owner_clears_setuid",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chown("f", kUser, kUser), "f"), STEP(::chmod("f", 06775), "f"),
        STEP(s.keep("f", ::open("f", O_RDWR)), "f"), AS(kUser, ::pwrite(s.fd("f"), "x", 1, 0), "f"),
        STEP(::chmod("f", 06775), "f"), STEP(::pwrite(s.fd("f"), "x", 1, 0), "f")}},
      {"writes_by_non_owner_clear_setuid",
       {STEP(::close(::creat("f", 0666)), "f"), STEP(::chmod("f", 06777), "f"),
        STEP(s.keep("f", ::open("f", O_RDWR)), "f"), AS(kUser, ::pwrite(s.fd("f"), "x", 1, 0), "f"),
        STEP(::chmod("f", 04666), "f"), AS(kUser, ::ftruncate(s.fd("f"), 0), "f"), STEP(::chmod("f", 02666), "f"),
        AS(kUser, ::truncate("f", 3), "f"), STEP(::chmod("f", 02666), "f"),
        AS(kUser, ::close(::open("f", O_WRONLY | O_TRUNC)), "f"), STEP(::chmod("f", 02666), "f"),
        // Setgid without group execute, written by someone outside the group: tmpfs drops
        // it; the kernel sends FUSE no kill-priv SETATTR here, memfs drops it in write().
        AS(kUser, ::pwrite(s.fd("f"), "y", 1, 0), "f"), STEP(::chmod("f", 02666), "f"),
        STEP(::chown("f", -1, kUser), "f"), AS(kUser, ::pwrite(s.fd("f"), "z", 1, 0), "f")}},
      {"chmod_dropping_setuid_by_writer",
       {STEP(::close(::creat("f", 0666)), "f"), STEP(::chmod("f", 04666), "f"),
        STEP(s.keep("f", ::open("f", O_RDWR)), "f"), AS(kUser, ::chmod("f", 0666), "f")},
       "size=1m,nr_inodes=100",
       {{3,
         "without default_permissions the kernel forwards chmod unchecked, and its kill-priv "
         "SETATTR after a write looks exactly the same (the writer's credentials, no marker), "
         "so memfs must let a non-owner drop setuid/setgid while the file is open for writing, "
         "which tmpfs refuses to a non-owner",
         "as kUser: ::chmod(\"f\", 0666) -> 0 0 | f: mode=100666 nlink=1 size=0 blocks=0 uid=0 "
         "gid=0 amc===+",
         /*only_when_memfs_checks=*/true}}},
      {"truncate_by_owner_clears_setuid",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chown("f", kUser, kUser), "f"), STEP(::chmod("f", 04755), "f"),
        AS(kUser, ::truncate("f", 10), "f"), STEP(::chmod("f", 02755), "f"), AS(kUser, ::truncate("f", 0), "f"),
        STEP(::chmod("f", 02745), "f"), AS(kUser, ::truncate("f", 5), "f")}},
      {"open_trunc_by_owner_clears_setuid",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chown("f", kUser, kUser), "f"), STEP(::chmod("f", 06755), "f"),
        AS(kUser, ::close(::open("f", O_WRONLY | O_TRUNC)), "f")}},
      {"chmod_setgid_by_non_member",
       {STEP(::mkdir("d", 0777), "d"), STEP(::close(::creat("d/f", 0666)), "d/f"),
        STEP(::chown("d/f", kUser, 0), "d/f"), AS(kUser, ::chmod("d/f", 02755), "d/f"),
        AS(kUser, ::chmod("d/f", 04755), "d/f")}},
      {"setgid_directory_inheritance",
       {STEP(::mkdir("d", 0777), "d"), STEP(::chown("d", 0, 4242), "d"), STEP(::chmod("d", 02777), "d"),
        STEP(::mkdir("d/sub", 0755), "d/sub"), STEP(::close(::creat("d/f", 0755)), "d/f"),
        AS(kUser, ::close(::creat("d/u", 02755)), "d/u"), AS(kUser, ::mkdir("d/usub", 0700), "d/usub")}},
  };
}

// Permissions.
std::vector<Sequence> sequences_permissions() {
  return {
      {"sticky_directory",
       {STEP(::mkdir("t", 01777), "t"), STEP(::chmod("t", 01777), "t"),
        AS(kUser, ::close(::creat("t/mine", 0666)), "t/mine"), AS(kOther, ::unlink("t/mine"), "t/mine"),
        AS(kOther, ::rename("t/mine", "t/stolen"), "t/mine"), AS(kOther, ::close(::creat("t/other", 0666)), "t/other"),
        AS(kOther, ::rename("t/other", "t/mine"), "t/mine"), AS(kUser, ::rename("t/mine", "t/renamed"), "t/renamed"),
        AS(kUser, ::unlink("t/renamed"), "t"), AS(kOther, ::setxattr("t", "user.x", "1", 1, 0), "t")}},
      {"directory_write_permission",
       {STEP(::mkdir("d", 0755), "d"), AS(kUser, ::creat("d/f", 0644), "d"), AS(kUser, ::mkdir("d/e", 0755), "d"),
        STEP(::close(::creat("d/root", 0666)), "d"), AS(kUser, ::unlink("d/root"), "d/root"),
        AS(kUser, ::rename("d/root", "x"), "d/root"), AS(kUser, ::link("d/root", "x"), "d/root"),
        AS(kUser, ::symlink("x", "d/l"), "d")}},
      {"search_permission",
       {STEP(::mkdir("d", 0700), "d"), STEP(::close(::creat("d/f", 0666)), "d/f"), AS(kUser, ::access("d/f", F_OK)),
        DATA_AS(kUser, read_file("d/f")), STEP(::chmod("d", 0711), "d"), AS(kUser, ::access("d/f", F_OK)),
        DATA_AS(kUser, list_dir("d")), STEP(::chmod("d", 0744), "d"), AS(kUser, ::access("d/f", F_OK))}},
      {"file_permissions",
       {STEP(::close(::creat("f", 0640)), "f"), STEP(::chown("f", 0, kUser), "f"), DATA_AS(kOther, read_file("f")),
        DATA_AS(kUser, read_file("f")), AS(kUser, ::open("f", O_WRONLY)), AS(kUser, ::truncate("f", 0), "f"),
        AS(kUser, ::open("f", O_RDONLY | O_TRUNC), "f"), STEP(::chmod("f", 0604), "f"), DATA_AS(kUser, read_file("f")),
        DATA_AS(kOther, read_file("f"))}},
      {"access_checks",
       {STEP(::close(::creat("f", 0754)), "f"), STEP(::chown("f", kUser, kOther), "f"),
        AS(kUser, ::access("f", R_OK | W_OK | X_OK)), AS(kOther, ::access("f", R_OK | X_OK)),
        AS(kOther, ::access("f", W_OK)), AS(1002, ::access("f", R_OK)), AS(1002, ::access("f", X_OK)),
        STEP(::access("f", X_OK)), STEP(::chmod("f", 0644), "f"), STEP(::access("f", X_OK)),
        STEP(::access("f", W_OK))}},
      {"ownership_changes_by_users",
       {STEP(::close(::creat("f", 0644)), "f"), STEP(::chown("f", kUser, kUser), "f"),
        AS(kOther, ::chmod("f", 0777), "f"), AS(kUser, ::chown("f", kOther, -1), "f"),
        AS(kUser, ::chown("f", -1, kOther), "f"), AS(kUser, ::chown("f", kUser, kUser), "f"),
        AS(kUser, ::chown("f", -1, -1), "f"), AS(kOther, ::chown("f", -1, -1), "f"),
        AS(kUser, ::chmod("f", 0600), "f")}},
      {"utimes_permissions",
       {STEP(::close(::creat("f", 0666)), "f"), STEP(::chmod("f", 0666), "f"),
        DATA_AS(kUser, utimens("f", kNow, kNow), "f"), DATA_AS(kUser, utimens("f", kPast, kPast), "f"),
        STEP(::chmod("f", 0644), "f"), DATA_AS(kUser, utimens("f", kNow, kNow), "f"),
        STEP(::utimensat(AT_FDCWD, "f", nullptr, 0), "f")}},
      {"hardlink_protection",
       {STEP(::close(::creat("f", 0600)), "f"), STEP(::mkdir("d", 0777), "d"), STEP(::chmod("d", 0777), "d"),
        AS(kUser, ::link("f", "d/l"), "f"), STEP(::chmod("f", 0666), "f"), AS(kUser, ::link("f", "d/l"), "f")}},
  };
}

// Fallocate and seeking.
std::vector<Sequence> sequences_fallocate_and_seeking() {
  return {
      {"fallocate_allocate",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::fallocate(s.fd("f"), 0, 0, 10000), "f"),
        DATA(read_at(s, "f", 9990, 20), "f"), DATA(seek(s, "f", 0, SEEK_DATA)),
        STEP(::fallocate(s.fd("f"), 0, 100, 10), "f")}},
      {"fallocate_keep_size",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "abc", 3, 0), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_KEEP_SIZE, 0, 20000), "f"), DATA(read_at(s, "f", 0, 100), "f"),
        STEP(::ftruncate(s.fd("f"), 3), "f"), STEP(::fallocate(s.fd("f"), FALLOC_FL_KEEP_SIZE, 8192, 100), "f"),
        STEP(::ftruncate(s.fd("f"), 9000), "f")}},
      {"fallocate_punch_hole",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"),
        STEP(::pwrite(s.fd("f"), std::string(16384, 'z').data(), 16384, 0), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10000, 100), "f"),
        DATA(read_at(s, "f", 4090, 12), "f"), DATA(read_at(s, "f", 9998, 4), "f"), DATA(seek(s, "f", 0, SEEK_HOLE)),
        DATA(seek(s, "f", 4096, SEEK_DATA)),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20), "f")}},
      {"fallocate_unsupported_modes",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_PUNCH_HOLE, 0, 4096), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_ZERO_RANGE, 0, 4096), "f"),
        STEP(::fallocate(s.fd("f"), FALLOC_FL_COLLAPSE_RANGE, 0, 4096), "f"),
        STEP(::fallocate(s.fd("f"), 0, -1, 4096), "f"), STEP(::fallocate(s.fd("f"), 0, 0, 0), "f")}},
      {"seek_data_hole",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::pwrite(s.fd("f"), "a", 1, 8192), "f"),
        STEP(::pwrite(s.fd("f"), "b", 1, 20000), "f"), DATA(seek(s, "f", 0, SEEK_DATA)),
        DATA(seek(s, "f", 8193, SEEK_DATA)), DATA(seek(s, "f", 8192, SEEK_HOLE)), DATA(seek(s, "f", 12289, SEEK_DATA)),
        DATA(seek(s, "f", 20000, SEEK_HOLE)), DATA(seek(s, "f", 20001, SEEK_DATA)), DATA(seek(s, "f", -1, SEEK_DATA)),
        STEP(::ftruncate(s.fd("f"), 30000), "f"), DATA(seek(s, "f", 20001, SEEK_HOLE)),
        DATA(seek(s, "f", 20001, SEEK_DATA))}},
      {"copy_file_range",
       {STEP(s.keep("a", ::open("a", O_CREAT | O_RDWR, 0644)), "a"),
        STEP(s.keep("b", ::open("b", O_CREAT | O_RDWR, 0644)), "b"), STEP(::pwrite(s.fd("a"), "copy me", 7, 5000), "a"),
        STEP(::copy_file_range(s.fd("a"), nullptr, s.fd("b"), nullptr, 100000, 0), "a", "b"),
        DATA(read_at(s, "b", 4998, 12), "b"), DATA(seek(s, "b", 0, SEEK_DATA))}},
  };
}

// Statfs and limits.
std::vector<Sequence> sequences_statfs_and_limits() {
  return {
      {"statfs_accounting",
       {DATA(stat_fs(".")), STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), DATA(stat_fs(".")),
        STEP(::pwrite(s.fd("f"), "x", 1, 100000), "f"), DATA(stat_fs(".")), STEP(::mkdir("d", 0755), "d"),
        STEP(::unlink("f")), DATA(stat_fs(".")), STEP(::close(s.fd("f"))), DATA(stat_fs("."))}},
      {"enospc_size_limit",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"),
        STEP(::pwrite(s.fd("f"), std::string(300000, 'a').data(), 300000, 0), "f"),
        STEP(::pwrite(s.fd("f"), std::string(300000, 'b').data(), 300000, 300000), "f"), DATA(stat_fs(".")),
        STEP(::pwrite(s.fd("f"), "c", 1, 900000), "f"), STEP(::fallocate(s.fd("f"), 0, 0, 1 << 20), "f"),
        STEP(::ftruncate(s.fd("f"), 0), "f"), DATA(stat_fs("."))},
       "size=512k,nr_inodes=100"},
      {"enospc_inode_limit",
       {STEP(::close(::creat("a", 0644)), "."), STEP(::close(::creat("b", 0644)), "."), STEP(::creat("c", 0644), "."),
        STEP(::mkdir("d", 0755)), STEP(::symlink("x", "e")), STEP(::link("a", "f")),
        STEP(::setxattr("a", "user.x", "1", 1, 0), "a"), STEP(::unlink("b")), STEP(::link("a", "f"), "a"),
        DATA(stat_fs("."))},
       "size=1m,nr_inodes=3"},
  };
}

// Locks (the kernel keeps them locally for memfs).
std::vector<Sequence> sequences_locks() {
  return {
      {"locks",
       {STEP(s.keep("f", ::open("f", O_CREAT | O_RDWR, 0644)), "f"), STEP(::flock(s.fd("f"), LOCK_EX | LOCK_NB)),
        STEP(s.keep("g", ::open("f", O_RDWR))), STEP(::flock(s.fd("g"), LOCK_EX | LOCK_NB)),
        STEP(::lockf(s.fd("f"), F_TLOCK, 0)), STEP(::flock(s.fd("f"), LOCK_UN))}},
  };
}

// FUSE-forced differences.
std::vector<Sequence> sequences_fuse_forced_differences() {
  return {
      {"posix_acl_xattr",
       {STEP(::close(::creat("f", 0644)), "f"),
        STEP(::setxattr("f", "system.posix_acl_access", "\x02\0\0\0", 4, 0), "f"),
        DATA(get_xattr("f", "system.posix_acl_access"))},
       "size=1m,nr_inodes=100",
       {{1,
         "tmpfs parses POSIX ACLs itself; a FUSE mount without FUSE_CAP_POSIX_ACL (memfs keeps "
         "enable_acl off: it does not implement ACL semantics) has no system.* handler, so the "
         "kernel answers EOPNOTSUPP before the request reaches memfs",
         "::setxattr(\"f\", \"system.posix_acl_access\", \"\\x02\\0\\0\\0\", 4, 0) -> -1 "
         "EOPNOTSUPP | f: mode=100644 nlink=1 size=0 blocks=0 uid=0 gid=0 amc===="},
        {2, "same: without FUSE_CAP_POSIX_ACL the kernel answers system.posix_acl_* itself",
         "get_xattr(\"f\", \"system.posix_acl_access\") -> -1 EOPNOTSUPP"}}},
  };
}

std::vector<Sequence> sequences() {
  std::vector<Sequence> all;
  for (auto part : {&sequences_creation_and_basic_data, &sequences_truncation, &sequences_unlinked_but_open,
                    &sequences_directories, &sequences_rename, &sequences_links, &sequences_special_files,
                    &sequences_names, &sequences_extended_attributes, &sequences_timestamps, &sequences_atime_policies,
                    &sequences_setuid_setgid, &sequences_permissions, &sequences_fallocate_and_seeking,
                    &sequences_statfs_and_limits, &sequences_locks, &sequences_fuse_forced_differences}) {
    for (auto& sequence : part()) all.push_back(std::move(sequence));
  }
  return all;
}

std::vector<std::string> run_on(const std::filesystem::path& root, const Sequence& sequence) {
  auto result = run_in_child([&] {
    if (::chdir(root.c_str()) != 0) throw std::runtime_error("chdir failed");
    std::string text;
    for (const auto& line : run_steps(sequence.steps)) text += line + "\n";
    return text;
  });
  if (!result.ok()) {
    return {"child failed (exit " + std::to_string(result.exit_code) + (result.timed_out ? ", timed out" : "") +
            "): " + result.output};
  }
  std::vector<std::string> lines;
  std::istringstream in(result.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Options memfs_options_for(const Sequence& sequence) {
  Options options = uncached();
  std::istringstream in(sequence.size_options);
  for (std::string option; std::getline(in, option, ',');) {
    auto eq = option.find('=');
    auto value = parse_size(option.substr(eq + 1));
    if (option.starts_with("size=")) options.size_bytes = *value;
    if (option.starts_with("nr_inodes=")) options.max_inodes = *value;
  }
  if (sequence.atime_flag == "noatime") options.atime = AtimePolicy::noatime;
  if (sequence.atime_flag == "strictatime") options.atime = AtimePolicy::strictatime;
  options.nodiratime = sequence.atime_flag == "nodiratime";
  return options;
}

unsigned long tmpfs_flags_for(const Sequence& sequence) {
  if (sequence.atime_flag == "noatime") return MS_NOATIME;
  if (sequence.atime_flag == "strictatime") return MS_STRICTATIME;
  if (sequence.atime_flag == "nodiratime") return MS_NODIRATIME;
  return 0;
}

void PrintTo(const Sequence& sequence, std::ostream* os) { *os << sequence.name; }

class Differential : public ::testing::TestWithParam<Sequence> {};

void expect_same_as_tmpfs(const Sequence& sequence, const std::vector<std::string>& tmpfs,
                          const std::vector<std::string>& memfs, bool default_permissions, const std::string& variant) {
  ASSERT_EQ(tmpfs.size(), memfs.size()) << variant << "\ntmpfs:\n"
                                        << ::testing::PrintToString(tmpfs) << "\nmemfs:\n"
                                        << ::testing::PrintToString(memfs);
  for (size_t i = 0; i < tmpfs.size(); ++i) {
    auto difference = std::find_if(
        sequence.fuse_differences.begin(), sequence.fuse_differences.end(),
        [&](const FuseDifference& d) { return d.step == i && !(d.only_when_memfs_checks && default_permissions); });
    if (difference == sequence.fuse_differences.end()) {
      EXPECT_EQ(tmpfs[i], memfs[i]) << variant << ", step " << i;
    } else {
      EXPECT_NE(tmpfs[i], memfs[i]) << variant << ", step " << i << ": documented FUSE difference no longer happens";
      EXPECT_EQ(difference->on_fuse, memfs[i]) << variant << ", step " << i << ": " << difference->why;
    }
  }
}

TEST_P(Differential, MatchesTmpfs) {
  const Sequence& sequence = GetParam();
  std::vector<std::string> tmpfs;
  {
    TmpfsMount oracle(sequence.size_options + ",mode=1777", tmpfs_flags_for(sequence));
    tmpfs = run_on(oracle.path(), sequence);
  }
  for (bool default_permissions : {true, false}) {
    std::string variant = default_permissions ? "memfs (default_permissions)" : "memfs (permissions checked by memfs)";
    MemfsMount mount(memfs_options_for(sequence), default_permissions);
    auto memfs = run_on(mount.path(), sequence);
    expect_same_as_tmpfs(sequence, tmpfs, memfs, default_permissions, variant);
    EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{}) << variant;
    // With every name removed and nothing open, the kernel's FORGETs must free every inode
    // but the root: lookup counting is exact.
    auto emptied = run_in_child([&] { return remove_contents(mount.path()); });
    EXPECT_TRUE(emptied.ok()) << emptied.output;
    drop_kernel_caches();
    EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u) << variant;
    mount.unmount();
    EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{}) << variant;
  }
}

INSTANTIATE_TEST_SUITE_P(Sequences, Differential, ::testing::ValuesIn(sequences()),
                         [](const auto& info) { return info.param.name; });

TEST(DifferentialTable, HasEnoughSequences) { EXPECT_GE(sequences().size(), 60u); }

}  // namespace
}  // namespace memfs::test
