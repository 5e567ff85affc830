/* Benchmark baseline: a minimal raw libfuse 3 low-level filesystem in C (one file "file" in the
 * root, no caching), served by libfuse's own single-threaded fuse_session_loop. The fusepp
 * filesystem in fusepp_fs.cpp answers exactly the same requests. Usage: bench_raw_fs MOUNTPOINT */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void fill(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st->st_nlink = ino == FUSE_ROOT_ID ? 2 : 1;
  st->st_size = ino == FUSE_ROOT_ID ? 0 : 4096;
  st->st_blksize = 4096;
}

static void raw_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  if (parent != FUSE_ROOT_ID || strcmp(name, "file") != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.ino = 2;
  fill(2, &e.attr);
  fuse_reply_entry(req, &e);
}

static void raw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  fill(ino, &st);
  fuse_reply_attr(req, &st, 0);
}

static void raw_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  fuse_reply_open(req, fi);
}

static void raw_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
    return 2;
  }
  struct fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof ops);
  ops.lookup = raw_lookup;
  ops.getattr = raw_getattr;
  ops.open = raw_open;
  ops.release = raw_release;
  char *args_v[] = {argv[0]};
  struct fuse_args args = FUSE_ARGS_INIT(1, args_v);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_session_mount(se, argv[1]) != 0) return 1;
  int rc = fuse_session_loop(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc < 0 ? 1 : 0;
}
