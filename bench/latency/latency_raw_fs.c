/* Latency-bound benchmark baseline: the same filesystem as latency_fusepp_fs.cpp in raw libfuse
 * C, where a handler waiting on its backend blocks its thread (nanosleep), served by libfuse's
 * fuse_session_loop_mt. MAX_THREADS 0 keeps libfuse's default (10 in 3.14). Prints
 * "peak_in_flight N" at exit. Usage: bench_latency_raw MOUNTPOINT MAX_THREADS DELAY_US [COMPUTE_US] */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

static void fill(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st->st_nlink = ino == FUSE_ROOT_ID ? 2 : 1;
  st->st_size = ino == FUSE_ROOT_ID ? 0 : (off_t)sizeof data;
  st->st_blksize = 4096;
}

static void slow_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  backend();
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

static void slow_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  backend();
  struct stat st;
  fill(ino, &st);
  fuse_reply_attr(req, &st, 0);
}

static void slow_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  fi->direct_io = 1;
  fuse_reply_open(req, fi);
}

static void slow_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  backend();
  size_t n = off < (off_t)sizeof data ? sizeof data - (size_t)off : 0;
  fuse_reply_buf(req, data, n < size ? n : size);
}

static void slow_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s MOUNTPOINT MAX_THREADS DELAY_US [COMPUTE_US]\n", argv[0]);
    return 2;
  }
  delay_us = atol(argv[3]);
  compute_us = argc == 5 ? atol(argv[4]) : 0;
  memset(data, 'x', sizeof data);
  struct fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof ops);
  ops.lookup = slow_lookup;
  ops.getattr = slow_getattr;
  ops.open = slow_open;
  ops.read = slow_read;
  ops.release = slow_release;
  char *args_v[] = {argv[0], "-o", "default_permissions,fsname=latency,subtype=latency"};
  struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_session_mount(se, argv[1]) != 0) return 1;
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  if (atoi(argv[2]) > 0) fuse_loop_cfg_set_max_threads(cfg, (unsigned)atoi(argv[2]));
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  printf("peak_in_flight %u\n", atomic_load(&peak));
  return rc < 0 ? 1 : 0;
}
