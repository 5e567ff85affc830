// shortfs: mounts ShortFs on MOUNTPOINT and serves it in the foreground until unmounted. Usage: shortfs MOUNTPOINT [-o
// opt,...]; options are FUSE mount options (allow_other, default_permissions, ro...); any other is a usage error (exit
// 2), which a conformance run reports as a SKIP of the scenarios that need it.
#include <cstdio>
#include <exception>
#include <set>
#include <sstream>
#include <string>

#include "shortfs.hpp"

namespace {

const std::set<std::string> kMountOptions{
    "allow_other", "allow_root", "default_permissions", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec"};

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> options{"default_permissions", "fsname=shortfs", "subtype=shortfs"};
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "-o")) {
    std::fprintf(stderr, "usage: shortfs MOUNTPOINT [-o opt,...]\n");
    return 2;
  }
  if (argc == 4) {
    std::stringstream list(argv[3]);
    for (std::string option; std::getline(list, option, ',');) {
      if (option.empty()) continue;
      if (!kMountOptions.contains(option)) {
        std::fprintf(stderr, "shortfs: unknown mount option '%s'\n", option.c_str());
        return 2;
      }
      options.insert(option);
    }
  }
  memfs::Options fs_options;
  fs_options.entry_timeout = fs_options.attr_timeout = 0;  // like `fusecheck run --fs memfs`
  shortfs::ShortFs fs(fs_options);
  try {
    fusepp::init(fs, argv[1], options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shortfs: %s\n", e.what());
    return 1;
  }
  fusepp::main();
  fusepp::close(/*unmount=*/true);
  return 0;
}
