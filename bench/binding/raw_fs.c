/* Benchmark baseline: a minimal raw libfuse 3 low-level filesystem in C (one file "file" in the
 * root, no caching), served by libfuse's own single-threaded fuse_session_loop. The fusepp
 * filesystem in fusepp_fs.cpp answers exactly the same requests. Usage: bench_raw_fs MOUNTPOINT */
#include <stddef.h>

#include "raw_fs_common.h"

static void raw_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  bench_reply_one_file_entry(req, parent, name, 4096);
}

static void raw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  struct stat st;
  bench_fill_one_file(ino, &st, 4096);
  fuse_reply_attr(req, &st, 0);
}

int main(int argc, char** argv) {
  if (!bench_usage_ok(argc, argv, 1, 1, "MOUNTPOINT")) return 2;
  const struct fuse_lowlevel_ops ops = {
      .lookup = raw_lookup,
      .getattr = raw_getattr,
      .open = bench_reply_open,
      .release = bench_reply_ok,
  };
  return bench_serve(argv[0], argv[1], NULL, &ops, -1, 0);
}
