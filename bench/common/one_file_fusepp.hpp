// The one-file tree of bench/'s fusepp subjects ("file", inode 2, in the root), with the same
// attributes as raw_fs_common.h's C baselines and no caching, so both sides answer alike.
#pragma once

#include <sys/stat.h>

#include "fusepp/fusepp.hpp"

namespace bench {

inline constexpr fusepp::InodeT kOneFileInode{2};

// Attributes of the root directory or of "file" (file_size bytes), entry and attr timeouts 0.
inline fusepp::EntryAttributes one_file_attrs(fusepp::InodeT ino, off_t file_size) {
  fusepp::EntryAttributes a{.st_ino = ino, .entry_timeout = 0, .attr_timeout = 0};
  if (ino == fusepp::ROOT_INODE) {
    a.st_mode = fusepp::ModeT{S_IFDIR | 0755};
    a.st_nlink = 2;
  } else {
    a.st_size = file_size;
  }
  return a;
}

}  // namespace bench
