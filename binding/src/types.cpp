// fusepp data structures: EntryAttributes/StatvfsData state round trips (pyfuse3's pickling),
// the struct stat conversion the dispatcher replies with, SetattrFields' FUSE_SET_ATTR_* bits,
// FUSEError's text and RequestContext::interrupted.
#include <fuse_lowlevel.h>

#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fusepp/types.hpp"

namespace fusepp {

namespace {

// Splits nanoseconds since the epoch into a timespec with 0 <= tv_nsec < 1e9, also for
// times before 1970 (floor division), so every value round-trips exactly.
timespec to_timespec(int64_t ns) {
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    sec -= 1;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem);
  return ts;
}

int64_t integer_of(const StatValue& v, std::string_view key) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  double d = std::get<double>(v);
  if (!std::isfinite(d) || d != std::trunc(d))
    throw std::invalid_argument("fusepp: field " + std::string(key) + " needs an integer value");
  return static_cast<int64_t>(d);
}

double real_of(const StatValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return static_cast<double>(std::get<int64_t>(v));
}

// One table per struct keeps getstate, setstate and the field list in step.
template <class S>
struct IntField {
  const char* name;
  int64_t (*get)(const S&);
  void (*set)(S&, int64_t);
};

#define FUSEPP_INT_FIELD(S, field, type)                                                                             \
  IntField<S> {                                                                                                      \
#field, [](const S& s) { return static_cast<int64_t>(s.field); },                                                \
                                                                   [](S & s,                                         \
                                                                      int64_t v) { s.field = static_cast<type>(v); } \
  }

const std::array<IntField<EntryAttributes>, 14> kEntryIntFields{{
    {"st_ino", [](const EntryAttributes& a) { return static_cast<int64_t>(a.st_ino.value); },
     [](EntryAttributes& a, int64_t v) { a.st_ino = InodeT{static_cast<uint64_t>(v)}; }},
    FUSEPP_INT_FIELD(EntryAttributes, generation, uint64_t),
    {"st_mode", [](const EntryAttributes& a) { return static_cast<int64_t>(a.st_mode.value); },
     [](EntryAttributes& a, int64_t v) { a.st_mode = ModeT{static_cast<uint32_t>(v)}; }},
    FUSEPP_INT_FIELD(EntryAttributes, st_nlink, uint64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_uid, uint32_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_gid, uint32_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_rdev, uint64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_size, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_blksize, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_blocks, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_atime_ns, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_ctime_ns, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_mtime_ns, int64_t),
    FUSEPP_INT_FIELD(EntryAttributes, st_birthtime_ns, int64_t),
}};

const std::array<IntField<StatvfsData>, 9> kStatvfsFields{{
    FUSEPP_INT_FIELD(StatvfsData, f_bsize, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_frsize, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_blocks, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_bfree, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_bavail, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_files, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_ffree, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_favail, uint64_t),
    FUSEPP_INT_FIELD(StatvfsData, f_namemax, uint64_t),
}};

#undef FUSEPP_INT_FIELD

template <class S, size_t N>
const IntField<S>* find_field(const std::array<IntField<S>, N>& fields, std::string_view key) {
  for (const auto& f : fields)
    if (key == f.name) return &f;
  return nullptr;
}

}  // namespace

StatDict EntryAttributes::getstate() const {
  StatDict state;
  for (const auto& f : kEntryIntFields) state.emplace(f.name, f.get(*this));
  state.emplace("entry_timeout", entry_timeout);
  state.emplace("attr_timeout", attr_timeout);
  return state;
}

void EntryAttributes::setstate(const StatDict& state) {
  // Validate every key first so a bad dict leaves the object unchanged.
  EntryAttributes updated = *this;
  for (const auto& [key, value] : state) {
    if (key == "entry_timeout") {
      updated.entry_timeout = real_of(value);
    } else if (key == "attr_timeout") {
      updated.attr_timeout = real_of(value);
    } else if (const auto* f = find_field(kEntryIntFields, key)) {
      f->set(updated, integer_of(value, key));
    } else {
      throw std::invalid_argument("fusepp: EntryAttributes has no field " + key);
    }
  }
  *this = updated;
}

struct stat EntryAttributes::to_stat() const {
  struct stat st {};
  st.st_ino = st_ino;
  st.st_mode = st_mode;
  st.st_nlink = static_cast<nlink_t>(st_nlink);
  st.st_uid = st_uid;
  st.st_gid = st_gid;
  st.st_rdev = static_cast<dev_t>(st_rdev);
  st.st_size = static_cast<off_t>(st_size);
  st.st_blksize = static_cast<blksize_t>(st_blksize);
  st.st_blocks = static_cast<blkcnt_t>(st_blocks);
  st.st_atim = to_timespec(st_atime_ns);
  st.st_mtim = to_timespec(st_mtime_ns);
  st.st_ctim = to_timespec(st_ctime_ns);
  return st;
}

StatDict StatvfsData::getstate() const {
  StatDict state;
  for (const auto& f : kStatvfsFields) state.emplace(f.name, f.get(*this));
  return state;
}

void StatvfsData::setstate(const StatDict& state) {
  StatvfsData updated = *this;
  for (const auto& [key, value] : state) {
    const auto* f = find_field(kStatvfsFields, key);
    if (!f) throw std::invalid_argument("fusepp: StatvfsData has no field " + key);
    f->set(updated, integer_of(value, key));
  }
  *this = updated;
}

bool RequestContext::interrupted() const { return req_ != nullptr && fuse_req_interrupted(req_) != 0; }

bool SetattrFields::update_atime() const { return bits_ & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW); }
bool SetattrFields::update_mtime() const { return bits_ & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW); }
bool SetattrFields::update_ctime() const { return bits_ & FUSE_SET_ATTR_CTIME; }
bool SetattrFields::update_mode() const { return bits_ & FUSE_SET_ATTR_MODE; }
bool SetattrFields::update_uid() const { return bits_ & FUSE_SET_ATTR_UID; }
bool SetattrFields::update_gid() const { return bits_ & FUSE_SET_ATTR_GID; }
bool SetattrFields::update_size() const { return bits_ & FUSE_SET_ATTR_SIZE; }
bool SetattrFields::update_atime_now() const { return bits_ & FUSE_SET_ATTR_ATIME_NOW; }
bool SetattrFields::update_mtime_now() const { return bits_ & FUSE_SET_ATTR_MTIME_NOW; }

const char* FUSEError::what() const noexcept {
  // strerror's buffer is static for known errnos and thread-local for unknown ones in glibc;
  // strerrordesc_np never allocates and is null for unknown numbers.
  const char* text = strerrordesc_np(errno_value_);
  return text ? text : "Unknown error";
}

}  // namespace fusepp
