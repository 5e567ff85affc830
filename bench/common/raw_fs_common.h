/* Shared pieces of bench/'s raw libfuse 3 low-level C baselines: the one-file tree ("file" in
 * the root), the trivial replies, and the session setup/loop/teardown every baseline's main()
 * runs. One home, so the baselines differ only in what they measure. */
#ifndef BENCH_RAW_FS_COMMON_H
#define BENCH_RAW_FS_COMMON_H
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>

/* Attributes of the one-file tree: the root directory, or "file" (inode 2) of file_size bytes. */
void bench_fill_one_file(fuse_ino_t ino, struct stat* st, off_t file_size);
/* Answers LOOKUP in the one-file tree: "file" in the root, ENOENT for anything else. */
void bench_reply_one_file_entry(fuse_req_t req, fuse_ino_t parent, const char* name, off_t file_size);
/* OPEN/OPENDIR keeping the kernel's file info as it is. */
void bench_reply_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
/* RELEASE/FLUSH/RELEASEDIR: nothing to do, success. */
void bench_reply_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);

/* False, after printing "usage: PROGRAM ARGS", unless argc - 1 is within [min_args, max_args]. */
int bench_usage_ok(int argc, char** argv, int min_args, int max_args, const char* args);

/* Mounts ops on mountpoint with "-o options" (NULL: none) and serves until unmounted:
 * fuse_session_loop when max_threads < 0, else fuse_session_loop_mt (0 keeps libfuse's default
 * thread limit), each worker on its own FUSE_DEV_IOC_CLONE'd device fd when clone_fd is 1.
 * Returns main()'s exit status: 0 on a clean end, 1 otherwise. */
int bench_serve(const char* argv0, const char* mountpoint, const char* options, const struct fuse_lowlevel_ops* ops,
                int max_threads, int clone_fd);

#endif
