// ShortFs: memfs (the tmpfs-like filesystem fusecheck installs as a library) with one policy
// of its own: names longer than 64 bytes are refused with ENAMETOOLONG. Small on purpose, so
// the example shows the tooling: its known differences from tmpfs live in an expectations file.
#pragma once

#include <memfs/memfs.hpp>

namespace shortfs {

inline constexpr size_t kMaxName = 64;

class ShortFs : public memfs::MemFs {
 public:
  using memfs::MemFs::MemFs;
  fusepp::Reply<fusepp::EntryAttributes> mknod(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                               dev_t rdev, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> mkdir(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                               const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> symlink(fusepp::InodeT parent, std::string_view name, std::string_view target,
                                                 const fusepp::RequestContext& ctx) override;
  fusepp::Reply<fusepp::EntryAttributes> link(fusepp::InodeT inode, fusepp::InodeT new_parent,
                                              std::string_view new_name, const fusepp::RequestContext& ctx) override;
  fusepp::Reply<void> rename(fusepp::InodeT parent_old, std::string_view name_old, fusepp::InodeT parent_new,
                             std::string_view name_new, fusepp::FlagT flags,
                             const fusepp::RequestContext& ctx) override;
  fusepp::Reply<std::pair<fusepp::FileInfo, fusepp::EntryAttributes>> create(
      fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode, fusepp::FlagT flags,
      const fusepp::RequestContext& ctx) override;
};

}  // namespace shortfs
