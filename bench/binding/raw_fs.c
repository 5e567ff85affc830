/* Benchmark baseline: a minimal raw libfuse 3 low-level filesystem in C (one file "file" in the
 * root, no caching), served by libfuse's own single-threaded fuse_session_loop. The fusepp
 * filesystem in fusepp_fs.cpp answers exactly the same requests. Usage: bench_raw_fs MOUNTPOINT */
#include <stdio.h>
#include <string.h>

#include "raw_fs_common.h"

static void raw_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  bench_reply_one_file_entry(req, parent, name, 4096);
}

static void raw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  bench_fill_one_file(ino, &st, 4096);
  fuse_reply_attr(req, &st, 0);
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
  ops.open = bench_reply_open;
  ops.release = bench_reply_ok;
  return bench_serve(argv[0], argv[1], NULL, &ops, -1);
}
