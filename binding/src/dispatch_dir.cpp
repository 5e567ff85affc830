// Dispatch of directory requests: opendir, releasedir, fsyncdir, and one readdir handler that
// serves READDIRPLUS (each accepted entry but . and .. adds a lookup) and plain READDIR alike.
// readdir_reply() fills the reply buffer and reports when the kernel's buffer is full.
#include <cstring>

#include "dispatcher.hpp"

namespace fusepp {

namespace {

bool is_dot_or_dotdot(std::string_view name) { return name == "." || name == ".."; }

// fuse_add_direntry* read the name with strlen, so it needs a terminated copy.
struct TerminatedName {
  explicit TerminatedName(std::string_view name) {
    if (name.size() < sizeof(small)) {
      std::memcpy(small, name.data(), name.size());
      small[name.size()] = '\0';
      ptr = small;
    } else {
      large.assign(name);
      ptr = large.c_str();
    }
  }
  char small[256];
  std::string large;
  const char* ptr;
};

}  // namespace

bool readdir_reply(ReaddirToken& token, std::string_view name, const EntryAttributes& attr, off_t next_id) {
  TerminatedName cname(name);
  std::string& buf = Dispatcher::token_buffer(token);
  size_t used = buf.size();
  size_t room = token.capacity_ > used ? token.capacity_ - used : 0;
  size_t needed;
  if (token.plus()) {
    fuse_entry_param e = to_entry_param(attr);
    // A zero node id in a READDIRPLUS entry tells the kernel not to instantiate it, so no
    // lookup count is taken for . and .. (the dirent keeps the real inode number).
    if (is_dot_or_dotdot(name)) e.ino = 0;
    bool zeroed = token.zero_node_ids_ && e.ino != 0;
    if (zeroed) e.ino = 0;
    needed = fuse_add_direntry_plus(token.req_, nullptr, 0, cname.ptr, &e, next_id);
    if (needed > room) return false;
    buf.resize(used + needed);
    fuse_add_direntry_plus(token.req_, buf.data() + used, needed, cname.ptr, &e, next_id);
    if (zeroed) token.zeroed_.push_back(attr.st_ino);
    if (e.ino != 0) {
      token.looked_up_.push_back(e.ino);
      if (token.record_names_) token.looked_up_names_.emplace_back(name);
    }
  } else {
    struct stat st {};
    st.st_ino = attr.st_ino;
    st.st_mode = attr.st_mode;
    needed = fuse_add_direntry(token.req_, nullptr, 0, cname.ptr, &st, next_id);
    if (needed > room) return false;
    buf.resize(used + needed);
    fuse_add_direntry(token.req_, buf.data() + used, needed, cname.ptr, &st, next_id);
  }
  return true;
}

namespace ll {

namespace {

// The lookups the handler counted for entries the kernel never took (an interrupted reply,
// or node ids a rule zeroed) go back through the forget handler.
void give_back_lookups(Dispatcher& d, const std::vector<uint64_t>& inodes) {
  std::vector<ForgetRequest> undo;
  for (uint64_t ino : inodes) undo.push_back({InodeT{ino}, 1});
  if (!undo.empty()) ll::run_forget_handler(d, std::move(undo));
}

// Observed (o set): the request and the entries that took a lookup go to the trace. Of the
// fault rules' reply changes only READDIRPLUS's {ino: 0} applies to readdir.
asio::awaitable<void> run_readdir(Dispatcher& d, Observer::Impl* o, RequestArgs args, fuse_req_t req, fuse_ino_t ino,
                                  FileHandleT fh, off_t off, size_t size, bool plus) {
  RequestScope scope(d);
  ReaddirToken token = Dispatcher::make_token(req, size, plus);
  Dispatcher::token_buffer(token).reserve(size);
  FaultPlan plan;
  uint64_t seq = 0;
  ReplyFacts facts;
  std::optional<Result<void>> result;
  int err = 0;
  if (o) {
    Dispatcher::token_records_names(token);
    seq = o->begin(args, &plan);
    if (plan.rule != 0) err = co_await apply_fault(d, *o, req, plan);
    if (plus && plan.reply.ino == 0u) Dispatcher::token_zero_node_ids(token);
  }
  if (err == 0) {
    try {
      result.emplace(co_await d.ops.readdir(fh, off, token));
    } catch (...) {
      err = errno_from_current_exception(plus ? "readdirplus" : "readdir", ino);
    }
  }
  if (result) {
    if (result->ok()) {
      const std::string& buf = Dispatcher::token_buffer(token);
      if (o) {  // before the reply: another thread may serve the entries' FORGETs at once
        facts.entries = Dispatcher::token_named_lookups(token);
        o->end(seq, args, facts);
      }
      int rc = fuse_reply_buf(req, buf.data(), buf.size());
      if (o && rc == -ENOENT) o->reply_discarded(seq, facts);
      // Refused (the connection was aborted): the kernel never got the entries, so the lookups
      // they counted are undone.
      if (rc == -ENOENT && plus) give_back_lookups(d, Dispatcher::token_looked_up(token));
      give_back_lookups(d, Dispatcher::token_zeroed(token));
      co_return;
    }
    err = checked_errno(result->error(), "readdir", ino);
  }
  if (o) {
    facts.error = err;
    o->end(seq, args, facts);
  }
  fuse_reply_err(req, err);
}

}  // namespace

void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  start<FileHandleT>(
      req, "opendir", ino,
      [&ops = dispatcher_of(req).ops, ino, flags = FlagT{fi->flags}](const RequestContext& ctx) {
        return ops.opendir(InodeT{ino}, flags, ctx);
      },
      [](fuse_req_t r, Result<FileHandleT>& res) {
        Dispatcher& d = dispatcher_of(r);
        fuse_file_info fi{};
        fi.fh = *res;
        undo_open_if_unanswered(d, fuse_reply_open(r, &fi), *res, true);
      });
}

void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Dispatcher& d = dispatcher_of(req);
  Observer::Impl* o = d.observing();
  launch(
      req, d,
      run_readdir(d, o, o ? current_request_args() : RequestArgs{}, req, ino, FileHandleT{fi->fh}, off, size, false));
}

void readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Dispatcher& d = dispatcher_of(req);
  Observer::Impl* o = d.observing();
  launch(req, d,
         run_readdir(d, o, o ? current_request_args() : RequestArgs{}, req, ino, FileHandleT{fi->fh}, off, size, true));
}

void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  start<void>(
      req, "releasedir", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}](const RequestContext&) { return ops.releasedir(fh); },
      reply_ok);
}

void fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  start<void>(
      req, "fsyncdir", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, datasync](const RequestContext&) {
        return ops.fsyncdir(fh, datasync != 0);
      },
      reply_ok);
}

}  // namespace ll
}  // namespace fusepp
