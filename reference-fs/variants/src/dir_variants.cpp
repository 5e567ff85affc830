// Variants with one readdir bug each: no '.' and '..', d_ino differing from st_ino, d_type
// wrong in large directories, cookies that skip an entry, cookies that are positions in the
// current list, the pyfuse3#5 bug (ignoring readdir_reply()'s "buffer full" answer), and
// READDIRPLUS references not counted.
#include "catalog.hpp"

namespace memfs::variants {

using fusepp::FileHandleT;
using fusepp::FUSEError;
using fusepp::Reply;

namespace {

struct ReaddirQuirks {
  bool skip_dots = false;
  // Added to the d_ino of '.' and '..', and of every entry in a plain READDIR (fusepp ties a
  // READDIRPLUS entry's d_ino to its node id, so there it cannot differ).
  uint64_t ino_offset = 0;
  // Directories past the 64th entry ever made in a directory are listed as regular files
  // (under READDIRPLUS the kernel takes that type for the inode, as it would from a real
  // filesystem with this bug).
  bool late_dirs_as_files = false;
  // next_id one below the entry's cookie: resuming at a buffer boundary skips the next entry
  // (one above would repeat the last entry forever at the end of the directory).
  bool cookie_off_by_one = false;
  // The cookie is the entry's position in the directory's current list ('.' 1, '..' 2, then
  // newest first), not memfs's stable cookie: once a name before the resume point is
  // removed, resuming skips a surviving entry, and once one is added there, repeats one.
  bool positional_cookies = false;
  bool ignore_buffer_full = false;  // pyfuse3#5: keep offering entries after a refusal
  bool uncounted_plus = false;      // READDIRPLUS entries do not raise the lookup count
};

// memfs's readdir pass (list_directory in src/dir_ops.cpp) with the quirks applied.
template <ReaddirQuirks kQuirks>
class QuirkyReaddirFs : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> readdir(FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) override {
    co_return with_state([&](State& state) { return list(state, fh, start_id, token); });
  }

 private:
  static fusepp::Result<void> list(State& state, FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) {
    off_t position = 0;
    return list_directory(state, fh, kQuirks.positional_cookies ? 0 : start_id,
                          [&](std::string_view name, fusepp::EntryAttributes attr, off_t cookie, Inode* child) {
                            if (kQuirks.positional_cookies) {
                              cookie = ++position;
                              if (cookie <= start_id) return true;  // before the resume point
                            }
                            if (!child) {  // '.' or '..'
                              if (kQuirks.skip_dots) return true;
                              attr.st_ino = fusepp::InodeT{attr.st_ino + kQuirks.ino_offset};
                              return fusepp::readdir_reply(token, name, attr, cookie);
                            }
                            if (!token.plus()) attr.st_ino = fusepp::InodeT{attr.st_ino + kQuirks.ino_offset};
                            if (kQuirks.late_dirs_as_files && static_cast<uint64_t>(cookie) >= kFirstEntryCookie + 64 &&
                                child->is_dir()) {
                              attr.st_mode = fusepp::ModeT{S_IFREG | (child->mode & 07777)};
                            }
                            if (kQuirks.cookie_off_by_one && cookie - 1 > kDotDotCookie) cookie -= 1;
                            if (!fusepp::readdir_reply(token, name, attr, cookie)) return kQuirks.ignore_buffer_full;
                            if (token.plus() && !kQuirks.uncounted_plus) child->lookup_count++;
                            return true;
                          });
  }
};

}  // namespace

std::vector<CatalogEntry> directory_variants() {
  return {
      entry<QuirkyReaddirFs<ReaddirQuirks{.skip_dots = true}>>("readdir-no-dots", "crude",
                                                               "readdir lists neither '.' nor '..'"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.ino_offset = 1000}>>(
          "readdir-ino-differs", "st_ino vs d_ino",
          "'.' and '..' (and entries of a plain READDIR) have d_ino = st_ino + 1000"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.late_dirs_as_files = true}>>(
          "readdir-dtype-wrong", "readdir d_type in large directories",
          "directories past the 64th entry made in a directory are listed as regular files"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.cookie_off_by_one = true}>>(
          "readdir-cookie-skips", "readdir cookies",
          "each entry's cookie is one too low, so resuming after a full buffer skips an entry"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.positional_cookies = true}>>(
          "readdir-cookie-is-position", "readdir resumption while names change",
          "readdir cookies are positions in the current list, so removing a name already listed makes a resumed "
          "listing skip a surviving one, and adding one makes it repeat one"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.ignore_buffer_full = true}>>(
          "readdir-ignores-buffer-full", "readdir buffer (pyfuse3#5)",
          "after readdir_reply() refuses an entry, shorter later ones are still offered, so the refused one is lost"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.uncounted_plus = true}>>(
          "readdirplus-uncounted", "lookup counting", "READDIRPLUS entries do not raise the lookup count"),
  };
}

}  // namespace memfs::variants
