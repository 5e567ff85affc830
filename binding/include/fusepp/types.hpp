// fusepp data structures: pyfuse3's vocabulary (EntryAttributes, FileInfo, RequestContext,
// SetattrFields, StatvfsData, FUSEError, the NewType ids) in C++20. Field names, order and
// defaults follow pyfuse3 3.4 (shared/reference/pyfuse3-data-structures.md); where C++
// differs (accessors instead of properties, Result<T> for errors as values) it says why.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <compare>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

struct fuse_req;  // libfuse's request handle; only the binding's dispatcher sees inside it.

namespace fusepp {

// A distinct integer type per id, like pyfuse3's NewTypes: constructing one is explicit
// (an inode is never passed where a file handle is expected), reading it back is implicit.
template <class Tag, class Rep>
struct StrongId {
  using rep_type = Rep;
  Rep value{};

  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : value(v) {}
  constexpr operator Rep() const { return value; }  // NOLINT: implicit by design
  friend constexpr bool operator==(StrongId, StrongId) = default;
  friend constexpr auto operator<=>(StrongId, StrongId) = default;
};

// Mode and flag words are bit sets that C and pyfuse3 code builds from plain integers
// (`entry.st_mode = S_IFDIR | 0755;`), so they convert both ways. No comparison operators of
// their own: those would make `mode == 0755` ambiguous with the built-in one.
template <class Tag, class Rep>
struct BitsWord {
  using rep_type = Rep;
  Rep value{};

  constexpr BitsWord() = default;
  constexpr BitsWord(Rep v) : value(v) {}           // NOLINT: implicit by design
  constexpr operator Rep() const { return value; }  // NOLINT: implicit by design
};

using InodeT = StrongId<struct InodeTag, uint64_t>;
using FileHandleT = StrongId<struct FileHandleTag, uint64_t>;
using ModeT = BitsWord<struct ModeTag, uint32_t>;
using FlagT = BitsWord<struct FlagTag, int32_t>;

inline constexpr InodeT ROOT_INODE{1};   // FUSE_ROOT_ID
inline constexpr int ENOATTR = ENODATA;  // Linux spells ENOATTR as ENODATA

// renameat2(2) flags RENAME_NOREPLACE / RENAME_EXCHANGE, which pyfuse3 re-exports, are
// glibc macros from <cstdio> (included above); they cannot be redeclared here.

// pyfuse3's "picklable" state: field name -> integer, or double for the two timeouts
// (which may be infinite).
using StatValue = std::variant<int64_t, double>;
using StatDict = std::map<std::string, StatValue, std::less<>>;

// Attributes of a directory entry (a struct stat plus the entry's cache timeouts).
// Returned by lookup, getattr, setattr, mknod, mkdir, symlink, link and create.
struct EntryAttributes {
  InodeT st_ino{0};
  uint64_t generation = 0;
  double entry_timeout = 300;  // seconds; may be std::numeric_limits<double>::infinity()
  double attr_timeout = 300;
  ModeT st_mode{S_IFREG | 0644};
  uint64_t st_nlink = 1;
  uint32_t st_uid = 0;
  uint32_t st_gid = 0;
  uint64_t st_rdev = 0;
  int64_t st_size = 0;
  int64_t st_blksize = 4096;
  int64_t st_blocks = 0;  // 512-byte units
  int64_t st_atime_ns = 0;
  int64_t st_ctime_ns = 0;
  int64_t st_mtime_ns = 0;
  int64_t st_birthtime_ns = 0;  // BSD/macOS only; always 0 in what Linux sees

  StatDict getstate() const;
  void setstate(const StatDict& state);  // throws std::invalid_argument on unknown keys
  struct stat to_stat() const;
  friend bool operator==(const EntryAttributes&, const EntryAttributes&) = default;
};

// Options for an open file, returned by open() and create().
struct FileInfo {
  FileHandleT fh{0};
  bool direct_io = false;
  bool keep_cache = true;
  bool nonseekable = false;
  friend bool operator==(const FileInfo&, const FileInfo&) = default;
};

// Filesystem statistics, returned by statfs().
struct StatvfsData {
  uint64_t f_bsize = 0;
  uint64_t f_frsize = 0;
  uint64_t f_blocks = 0;
  uint64_t f_bfree = 0;
  uint64_t f_bavail = 0;
  uint64_t f_files = 0;
  uint64_t f_ffree = 0;
  uint64_t f_favail = 0;
  uint64_t f_namemax = 0;

  StatDict getstate() const;
  void setstate(const StatDict& state);
  friend bool operator==(const StatvfsData&, const StatvfsData&) = default;
};

// Who made the request. A read-only view of one request: it cannot be copied out of the
// handler call (pyfuse3 forbids pickling it for the same reason). Tests may build one
// from values to call a handler directly.
class RequestContext {
 public:
  RequestContext(uint32_t uid, uint32_t gid, pid_t pid, mode_t umask, fuse_req* req = nullptr)
      : uid_(uid), gid_(gid), pid_(pid), umask_(umask), req_(req) {}
  // pyfuse3's ctx=None: the filesystem calling its own handler with no request behind it.
  // The one such context is fusepp::no_context (uid, gid, pid and umask 0).
  bool is_none() const;
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  uint32_t uid() const { return uid_; }
  uint32_t gid() const { return gid_; }
  pid_t pid() const { return pid_; }
  mode_t umask() const { return umask_; }
  // True once the kernel sent FUSE_INTERRUPT for this request (the caller got a signal).
  // A long handler may poll it and answer EINTR. False for contexts built in tests.
  bool interrupted() const;

 private:
  uint32_t uid_;
  uint32_t gid_;
  pid_t pid_;
  mode_t umask_;
  fuse_req* req_;
};

// Pass it where a handler wants a context and no request exists: `getattr(inode, no_context)`.
inline const RequestContext no_context{0, 0, 0, 0};
inline bool RequestContext::is_none() const { return this == &no_context; }

// Which attributes a setattr request changes. Read-only view, like pyfuse3's.
// As in pyfuse3, UTIME_NOW arrives as an explicit current time with update_atime /
// update_mtime set; unlike pyfuse3, *_now() tells the two apart, because permission
// rules differ (touching to "now" needs only write access, explicit times need ownership).
class SetattrFields {
 public:
  explicit SetattrFields(int to_set_bits) : bits_(to_set_bits) {}  // FUSE_SET_ATTR_* mask
  SetattrFields(const SetattrFields&) = delete;
  SetattrFields& operator=(const SetattrFields&) = delete;

  bool update_atime() const;
  bool update_mtime() const;
  bool update_ctime() const;
  bool update_mode() const;
  bool update_uid() const;
  bool update_gid() const;
  bool update_size() const;
  bool update_atime_now() const;
  bool update_mtime_now() const;
  int raw() const { return bits_; }

 private:
  int bits_;
};

// The only way a handler fails: an errno. Throwing it works anywhere; returning it as a
// value (co_return FUSEError(ENOENT)) avoids the cost of an exception on the hot path.
class FUSEError : public std::exception {
 public:
  explicit FUSEError(int errno_value) noexcept : errno_value_(errno_value) {}
  int errno_() const noexcept { return errno_value_; }
  const char* what() const noexcept override;  // strerror text
  // Not defaulted: std::exception has no operator==, which would make a default deleted.
  friend bool operator==(const FUSEError& a, const FUSEError& b) noexcept { return a.errno_value_ == b.errno_value_; }

 private:
  int errno_value_;
};

// The value a handler produces: a T, or an errno. Implicitly built from either, so a
// handler writes `co_return attrs;` or `co_return FUSEError(ENOENT);`.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(FUSEError error) : v_(std::in_place_index<1>, error) {}     // NOLINT: implicit
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, FUSEError> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& u)
      : v_(std::in_place_index<0>, std::forward<U>(u)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return ok() ? 0 : std::get<1>(v_).errno_(); }  // 0 when ok
  T& value() & { return get_or_throw(); }
  const T& value() const& { return const_cast<Result*>(this)->get_or_throw(); }
  T&& value() && { return std::move(get_or_throw()); }
  T* operator->() { return &get_or_throw(); }
  T& operator*() { return get_or_throw(); }

 private:
  T& get_or_throw() {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(v_);
  }
  std::variant<T, FUSEError> v_;
};

struct Ok {};
inline constexpr Ok ok{};  // `co_return fusepp::ok;` from a handler with nothing to return

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Ok) {}                                      // NOLINT: implicit
  Result(FUSEError error) : err_(error.errno_()) {}  // NOLINT: implicit
  bool ok() const { return err_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return err_; }
  void value() const {
    if (err_) throw FUSEError(err_);
  }

 private:
  int err_ = 0;
};

// pyfuse3.default_options
inline const std::set<std::string> default_options{"default_permissions"};

}  // namespace fusepp
