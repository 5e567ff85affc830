#!/bin/sh
# Runs `FUSECHECK ARGS... --fs dir:T --exclusive` on a fresh tmpfs T, which is unmounted
# and removed afterwards whatever happens. Exit code: fusecheck's, or 77 when tmpfs cannot
# be mounted here (not root).
set -u
fusecheck=$1
shift
if [ "$(id -u)" != 0 ]; then
  echo "run-on-tmpfs: needs root to mount a tmpfs" >&2
  exit 77
fi
dir=$(mktemp -d /tmp/fusecheck-conformance-tmpfs-XXXXXX) || exit 3
cleanup() {
  umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
  rmdir "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! mount -t tmpfs -o size=256m,mode=0755 fusecheck-tmpfs "$dir"; then
  echo "run-on-tmpfs: cannot mount a tmpfs on $dir" >&2
  exit 77
fi
"$fusecheck" "$@" --fs "dir:$dir" --exclusive
