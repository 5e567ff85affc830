// ShortFs's handlers: each that makes a name checks its length, then lets memfs do the rest.
#include "shortfs.hpp"

namespace shortfs {

using fusepp::FUSEError;

fusepp::Reply<fusepp::EntryAttributes> ShortFs::mknod(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                      dev_t rdev, const fusepp::RequestContext& ctx) {
  if (name.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::mknod(parent, name, mode, rdev, ctx);
}

fusepp::Reply<fusepp::EntryAttributes> ShortFs::mkdir(fusepp::InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                      const fusepp::RequestContext& ctx) {
  if (name.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::mkdir(parent, name, mode, ctx);
}

fusepp::Reply<fusepp::EntryAttributes> ShortFs::symlink(fusepp::InodeT parent, std::string_view name,
                                                        std::string_view target, const fusepp::RequestContext& ctx) {
  if (name.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::symlink(parent, name, target, ctx);
}

fusepp::Reply<fusepp::EntryAttributes> ShortFs::link(fusepp::InodeT inode, fusepp::InodeT new_parent,
                                                     std::string_view new_name, const fusepp::RequestContext& ctx) {
  if (new_name.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::link(inode, new_parent, new_name, ctx);
}

fusepp::Reply<void> ShortFs::rename(fusepp::InodeT parent_old, std::string_view name_old, fusepp::InodeT parent_new,
                                    std::string_view name_new, fusepp::FlagT flags, const fusepp::RequestContext& ctx) {
  if (name_new.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::rename(parent_old, name_old, parent_new, name_new, flags, ctx);
}

fusepp::Reply<std::pair<fusepp::FileInfo, fusepp::EntryAttributes>> ShortFs::create(fusepp::InodeT parent,
                                                                                    std::string_view name,
                                                                                    fusepp::ModeT mode,
                                                                                    fusepp::FlagT flags,
                                                                                    const fusepp::RequestContext& ctx) {
  if (name.size() > kMaxName) co_return FUSEError(ENAMETOOLONG);
  co_return co_await MemFs::create(parent, name, mode, flags, ctx);
}

}  // namespace shortfs
