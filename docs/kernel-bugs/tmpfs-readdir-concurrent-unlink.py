#!/usr/bin/env python3
# Reproducer kept with fusecheck (docs/kernel-bugs/README.md): why two readdir scenarios are skipped on tmpfs.
# Linux 6.18 tmpfs: getdents64 while another process unlinks entries of the same directory
# returns entries that were never touched (s0..s299) two or three times (the listing restarts).
# usage: mount -t tmpfs none /mnt/t && cd /mnt/t && python3 rnx-tmpfs-readdir-race.py
import os, ctypes, collections, multiprocessing as mp
libc = ctypes.CDLL(None, use_errno=True)
def getdents(fd, size=1024):
    buf = ctypes.create_string_buffer(size); n = libc.syscall(217, fd, buf, size)
    if n < 0: raise OSError(ctypes.get_errno(), "getdents64")
    out, at, raw = [], 0, buf.raw
    while at < n:
        reclen = int.from_bytes(raw[at+16:at+18], "little")
        out.append(raw[at+19:at+reclen].split(b"\0")[0].decode()); at += reclen
    return out
def remover(ev):
    ev.wait()
    for i in range(800): os.unlink("d/old%d" % i)
bad = 0
for rnd in range(20):
    os.system("rm -rf d"); os.mkdir("d")
    for i in range(800): os.close(os.open("d/old%d" % i, os.O_CREAT | os.O_WRONLY))
    for i in range(300): os.close(os.open("d/s%d" % i, os.O_CREAT | os.O_WRONLY))
    ev = mp.Event(); p = mp.Process(target=remover, args=(ev,)); p.start()
    fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY); names = []; ev.set()
    while True:
        batch = getdents(fd)
        if not batch: break
        names += batch
    os.close(fd); p.join()
    c = collections.Counter(names)
    dup = sorted({c["s%d" % i] for i in range(300)} - {1})
    if dup: bad += 1; print("round %d: untouched entries s0..s299 listed %s times" % (rnd, dup))
print("%d of 20 rounds listed untouched entries more than once" % bad)
