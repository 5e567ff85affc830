#!/usr/bin/env python3
# Reproducer kept with fusecheck (docs/kernel-bugs/README.md): why `fusecheck fuzz --seed 17
# --runs 3000 --max-steps 80` blames memfs. Linux 6.18 tmpfs: seekdir to the position telldir
# gave before the last entry, after that entry was unlinked, restarts the listing from the start.
# usage: mount -t tmpfs none /mnt/t && cd /mnt/t && python3 tmpfs-seekdir-to-removed-entry.py
import ctypes, os, shutil
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.c_void_p
libc.readdir.argtypes = libc.telldir.argtypes = libc.closedir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
def next_name(d):
    entry = libc.readdir(d)
    return None if not entry else ctypes.string_at(entry + 19).decode()  # glibc x86-64 d_name
shutil.rmtree("d", ignore_errors=True); os.mkdir("d")
for i in range(20): os.close(os.open("d/f%d" % i, os.O_CREAT | os.O_WRONLY))
def listing():
    d = libc.opendir(b"d"); names = []
    while (name := next_name(d)) is not None: names.append(name)
    libc.closedir(d); return names
total = len(listing())
d = libc.opendir(b"d")
listed = [next_name(d) for _ in range(total - 1)]  # all but the last entry
mark = libc.telldir(d)
at_mark = next_name(d)                             # the last entry, at the saved position
os.unlink("d/" + at_mark)
libc.seekdir(d, mark)
rest = []
while (name := next_name(d)) is not None: rest.append(name)
libc.closedir(d)
again = sorted(set(listed) & set(rest) - {".", ".."})
print("listed before the mark: %d names; after seekdir, with %s unlinked: %d names" % (len(listed), at_mark, len(rest)))
print("names listed twice (POSIX: none): %s" % (again or "none"))
