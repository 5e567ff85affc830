/* Latency-bound benchmark baseline: the same filesystem as latency_fusepp_fs.cpp in raw libfuse
 * C, where a handler waiting on its backend blocks its thread (nanosleep), served by libfuse's
 * fuse_session_loop_mt. MAX_THREADS 0 keeps libfuse's default (10 in 3.14); CLONE_FD 1 gives each
 * worker its own cloned device fd. Prints "peak_in_flight N" at exit.
 * Usage: bench_latency_raw MOUNTPOINT MAX_THREADS DELAY_US [COMPUTE_US [CLONE_FD]] */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raw_fs_common.h"

static long delay_us, compute_us;
static atomic_uint in_flight, peak;
static char data[4096];

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void backend(void) {
  unsigned now = atomic_fetch_add(&in_flight, 1) + 1;
  unsigned seen = atomic_load(&peak);
  while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now)) {
  }
  if (delay_us > 0) {
    struct timespec d = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    nanosleep(&d, NULL);
  }
  for (long long until = now_ns() + compute_us * 1000; now_ns() < until;) {
  }
  atomic_fetch_sub(&in_flight, 1);
}

static void slow_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  backend();
  bench_reply_one_file_entry(req, parent, name, (off_t)sizeof data);
}

static void slow_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  backend();
  struct stat st;
  bench_fill_one_file(ino, &st, (off_t)sizeof data);
  fuse_reply_attr(req, &st, 0);
}

static void slow_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)ino;
  fi->direct_io = 1;
  fuse_reply_open(req, fi);
}

static void slow_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  (void)ino;
  (void)fi;
  backend();
  size_t n = off < (off_t)sizeof data ? sizeof data - (size_t)off : 0;
  fuse_reply_buf(req, data, n < size ? n : size);
}

int main(int argc, char** argv) {
  if (!bench_usage_ok(argc, argv, 3, 5, "MOUNTPOINT MAX_THREADS DELAY_US [COMPUTE_US [CLONE_FD]]")) return 2;
  delay_us = atol(argv[3]);
  compute_us = argc >= 5 ? atol(argv[4]) : 0;
  int clone_fd = argc == 6 && atoi(argv[5]) == 1;
  memset(data, 'x', sizeof data);
  const struct fuse_lowlevel_ops ops = {
      .lookup = slow_lookup,
      .getattr = slow_getattr,
      .open = slow_open,
      .read = slow_read,
      .release = bench_reply_ok,
  };
  int rc = bench_serve(argv[0], argv[1], "default_permissions,fsname=latency,subtype=latency", &ops,
                       atoi(argv[2]) > 0 ? atoi(argv[2]) : 0, clone_fd);
  printf("peak_in_flight %u\n", atomic_load(&peak));
  return rc;
}
