#!/usr/bin/python3
# Latency-bound benchmark comparison: latency_fusepp_fs.cpp's filesystem on pyfuse3 (trio),
# awaiting trio.sleep(DELAY_US) as the backend; prints "peak_in_flight N" at exit. Run by
# bench_latency --pyfuse3; needs python3-pyfuse3 (apt-get install python3-pyfuse3).
# Usage: latency_pyfuse3.py MOUNTPOINT DELAY_US
import errno
import os
import stat
import sys

import pyfuse3
import trio


class SlowBackendFs(pyfuse3.Operations):
    SIZE = 4096

    def __init__(self, delay_s):
        super().__init__()
        self.delay_s = delay_s
        self.in_flight = 0
        self.peak = 0

    async def backend(self):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay_s > 0:
                await trio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1

    def attrs(self, ino):
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.entry_timeout = 0
        a.attr_timeout = 0
        if ino == pyfuse3.ROOT_INODE:
            a.st_mode = stat.S_IFDIR | 0o755
            a.st_nlink = 2
        else:
            a.st_mode = stat.S_IFREG | 0o644
            a.st_nlink = 1
            a.st_size = self.SIZE
        return a

    async def lookup(self, parent_inode, name, ctx=None):
        await self.backend()
        if parent_inode != pyfuse3.ROOT_INODE or name != b"file":
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self.attrs(2)

    async def getattr(self, inode, ctx=None):
        await self.backend()
        return self.attrs(inode)

    async def open(self, inode, flags, ctx):
        return pyfuse3.FileInfo(fh=inode, direct_io=True)

    async def read(self, fh, off, size):
        await self.backend()
        return b"x" * max(0, min(size, self.SIZE - off))

    async def release(self, fh):
        pass


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} MOUNTPOINT DELAY_US", file=sys.stderr)
        return 2
    fs = SlowBackendFs(int(sys.argv[2]) / 1e6)
    options = set(pyfuse3.default_options) | {"fsname=latency", "subtype=latency"}
    pyfuse3.init(fs, sys.argv[1], options)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
    print(f"peak_in_flight {fs.peak}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
