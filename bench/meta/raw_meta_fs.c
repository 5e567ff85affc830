/* Per-request baseline for memfs: raw libfuse low-level C with memfs's mount flags
 * (default_permissions, timeouts 0, READDIRPLUS without AUTO), fuse_session_loop. The root
 * holds files and empty directories in a hash table: enough for stat, create/unlink,
 * mkdir/rmdir and listing. Usage: bench_raw_meta_fs MOUNTPOINT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_fs_common.h"

#define MAX_ENTRIES (1u << 16) /* open addressing: at most half full */
#define MAX_INODES (1u << 22)  /* never reused, so the kernel never sees a number twice */

struct entry {
  char* name; /* NULL: free slot; "" : deleted */
  mode_t mode;
  fuse_ino_t ino;
};

static struct entry table[MAX_ENTRIES];
static struct entry* by_ino[MAX_INODES];
static unsigned live;
static fuse_ino_t next_ino = 2;

static unsigned hash(const char* s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static struct entry* find(const char* name) {
  for (unsigned i = hash(name) & (MAX_ENTRIES - 1);; i = (i + 1) & (MAX_ENTRIES - 1)) {
    if (!table[i].name) return NULL;
    if (strcmp(table[i].name, name) == 0) return &table[i];
  }
}

static struct entry* insert(const char* name, mode_t mode) {
  if (live >= MAX_ENTRIES / 2 || next_ino >= MAX_INODES) return NULL;
  unsigned i = hash(name) & (MAX_ENTRIES - 1);
  while (table[i].name && table[i].name[0]) i = (i + 1) & (MAX_ENTRIES - 1);
  free(table[i].name);
  table[i].name = strdup(name);
  table[i].mode = mode;
  table[i].ino = next_ino++;
  by_ino[table[i].ino] = &table[i];
  live++;
  return &table[i];
}

static void erase(struct entry* e) {
  by_ino[e->ino] = NULL;
  e->name[0] = '\0'; /* a tombstone keeps probe chains intact */
  live--;
}

static int fill(fuse_ino_t ino, struct stat* st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_blksize = 4096;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0777;
    st->st_nlink = 2;
    return 0;
  }
  if (ino >= MAX_INODES || !by_ino[ino]) return ENOENT;
  st->st_mode = by_ino[ino]->mode;
  st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
  return 0;
}

static void reply_entry(fuse_req_t req, struct entry* e) {
  struct fuse_entry_param p;
  memset(&p, 0, sizeof p);
  p.ino = e->ino;
  fill(e->ino, &p.attr);
  fuse_reply_entry(req, &p);
}

static void raw_init(void* userdata, struct fuse_conn_info* conn) {
  (void)userdata;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void raw_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  struct entry* e = parent == FUSE_ROOT_ID ? find(name) : NULL;
  if (!e)
    fuse_reply_err(req, ENOENT);
  else
    reply_entry(req, e);
}

static void raw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  struct stat st;
  int err = fill(ino, &st);
  if (err)
    fuse_reply_err(req, err);
  else
    fuse_reply_attr(req, &st, 0);
}

static void make(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, struct fuse_file_info* fi) {
  if (parent != FUSE_ROOT_ID) return (void)fuse_reply_err(req, EPERM);
  if (find(name)) return (void)fuse_reply_err(req, EEXIST);
  struct entry* e = insert(name, mode);
  if (!e) return (void)fuse_reply_err(req, ENOSPC);
  if (!fi) return reply_entry(req, e);
  struct fuse_entry_param p;
  memset(&p, 0, sizeof p);
  p.ino = e->ino;
  fill(e->ino, &p.attr);
  fuse_reply_create(req, &p, fi);
}

static void raw_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, struct fuse_file_info* fi) {
  make(req, parent, name, S_IFREG | (mode & 07777), fi);
}

static void raw_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  make(req, parent, name, S_IFDIR | (mode & 07777), NULL);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char* name, int dir) {
  struct entry* e = parent == FUSE_ROOT_ID ? find(name) : NULL;
  if (!e) return (void)fuse_reply_err(req, ENOENT);
  if ((S_ISDIR(e->mode) ? 1 : 0) != dir) return (void)fuse_reply_err(req, dir ? ENOTDIR : EISDIR);
  erase(e);
  fuse_reply_err(req, 0);
}

static void raw_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) { remove_entry(req, parent, name, 0); }
static void raw_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) { remove_entry(req, parent, name, 1); }

/* Cookies are table slots + 1; the root lists its live entries in slot order. */
static void raw_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  (void)fi;
  if (ino != FUSE_ROOT_ID) return (void)fuse_reply_buf(req, NULL, 0);
  char* buf = malloc(size);
  size_t used = 0;
  for (unsigned i = (unsigned)off; i < MAX_ENTRIES; ++i) {
    if (!table[i].name || !table[i].name[0]) continue;
    struct fuse_entry_param p;
    memset(&p, 0, sizeof p);
    p.ino = table[i].ino;
    fill(p.ino, &p.attr);
    size_t n = fuse_add_direntry_plus(req, buf + used, size - used, table[i].name, &p, i + 1);
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

int main(int argc, char** argv) {
  if (!bench_usage_ok(argc, argv, 1, 1, "MOUNTPOINT")) return 2;
  struct fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof ops);
  ops.init = raw_init;
  ops.lookup = raw_lookup;
  ops.getattr = raw_getattr;
  ops.create = raw_create;
  ops.mkdir = raw_mkdir;
  ops.unlink = raw_unlink;
  ops.rmdir = raw_rmdir;
  ops.open = bench_reply_open;
  ops.release = bench_reply_ok;
  ops.flush = bench_reply_ok;
  ops.opendir = bench_reply_open;
  ops.releasedir = bench_reply_ok;
  ops.readdirplus = raw_readdirplus;
  return bench_serve(argv[0], argv[1], "default_permissions,fsname=rawmeta,subtype=rawmeta", &ops, -1, 0);
}
