/* Shared pieces of bench/'s raw libfuse 3 low-level C baselines (see raw_fs_common.h): kept as
 * plain as the baselines themselves, so calling them costs what the inline code cost. */
#include "raw_fs_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void bench_fill_one_file(fuse_ino_t ino, struct stat* st, off_t file_size) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st->st_nlink = ino == FUSE_ROOT_ID ? 2 : 1;
  st->st_size = ino == FUSE_ROOT_ID ? 0 : file_size;
  st->st_blksize = 4096;
}

void bench_reply_one_file_entry(fuse_req_t req, fuse_ino_t parent, const char* name, off_t file_size) {
  if (parent != FUSE_ROOT_ID || strcmp(name, "file") != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.ino = 2;
  bench_fill_one_file(2, &e.attr, file_size);
  fuse_reply_entry(req, &e);
}

void bench_reply_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)ino;
  fuse_reply_open(req, fi);
}

void bench_reply_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

int bench_usage_ok(int argc, char** argv, int min_args, int max_args, const char* args) {
  if (argc - 1 >= min_args && argc - 1 <= max_args) return 1;
  fprintf(stderr, "usage: %s %s\n", argv[0], args);
  return 0;
}

static int run_loop(struct fuse_session* se, int max_threads, int clone_fd) {
  if (max_threads < 0) return fuse_session_loop(se);
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  if (max_threads > 0) fuse_loop_cfg_set_max_threads(cfg, (unsigned)max_threads);
  fuse_loop_cfg_set_clone_fd(cfg, (unsigned)clone_fd);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  return rc;
}

int bench_serve(const char* argv0, const char* mountpoint, const char* options, const struct fuse_lowlevel_ops* ops,
                int max_threads, int clone_fd) {
  char* args_v[] = {(char*)argv0, "-o", (char*)options};
  struct fuse_args args = FUSE_ARGS_INIT(options ? 3 : 1, args_v);
  struct fuse_session* se = fuse_session_new(&args, ops, sizeof *ops, NULL);
  fuse_opt_free_args(&args); /* parsing copied them: ASan's leak check (mount_relay_test) */
  if (!se || fuse_session_mount(se, mountpoint) != 0) return 1;
  int rc = run_loop(se, max_threads, clone_fd);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc < 0 ? 1 : 0;
}
