// Dispatch of name (entry) requests: lookup, forget/batch_forget, mknod, mkdir, unlink, rmdir,
// symlink, rename, link. Name views point into the pinned receive buffer.
#include <sys/stat.h>

#include "dispatcher.hpp"

namespace fusepp::ll {

namespace {

asio::awaitable<void> run_forget(Dispatcher& d, std::vector<ForgetRequest> list) {
  RequestScope scope(d);
  uint64_t first = list.empty() ? 0 : uint64_t{list.front().inode};
  try {
    co_await d.ops.forget(std::move(list));
  } catch (...) {
    errno_from_current_exception("forget", first);  // nothing to answer: the log is all
  }
}

// A FORGET a fault rule holds or delays reaches the handler afterwards; with the rule's
// errno it never does (a filesystem that lost it).
asio::awaitable<void> run_forget_after_fault(Dispatcher& d, Observer::Impl& o, FaultPlan plan,
                                             std::vector<ForgetRequest> list) {
  int err = co_await apply_fault(d, o, nullptr, plan);
  if (err == 0) co_await run_forget(d, std::move(list));
}

// Forget has no reply to carry an error; anything thrown while starting is logged.
void start_forget(fuse_req_t req, std::vector<ForgetRequest> list) {
  Dispatcher& d = dispatcher_of(req);
  Observer::Impl* o = d.observing();
  FaultPlan plan;
  if (o) {
    std::vector<std::pair<uint64_t, uint64_t>> pairs;
    for (const ForgetRequest& f : list) pairs.emplace_back(f.inode, f.nlookup);
    o->forgotten(current_request_args(), pairs, &plan);
  }
  // The kernel waits for nothing; the handler runs afterwards. A decoded FORGET (null req)
  // has no libfuse request to free.
  if (req != nullptr) fuse_reply_none(req);
  if (plan.rule == 0) return run_forget_handler(d, std::move(list));
  try {
    launch_coroutine(d, run_forget_after_fault(d, *o, std::move(plan), std::move(list)));
  } catch (...) {
    std::fprintf(stderr, "fusepp: could not start a forget handler\n");
  }
}

}  // namespace

#if FUSEPP_ASIO_INTERNALS
namespace {

// A forget handler that suspended while running inline: counted in flight until it completes.
// Nothing to pin: the list was copied out of the receive buffer.
asio::awaitable<void> serve_forget(Dispatcher& d, asio::awaitable<void>& started, uint64_t first) {
  asio::awaitable<void> handler = std::move(started);
  RequestScope scope(d, nullptr);
  try {
    co_await std::move(handler);
  } catch (...) {
    errno_from_current_exception("forget", first);
  }
}

// A forget handler run inline like the other requests' (InlineRun): no coroutine of the
// binding's unless it suspends.
class InlineForget : public InlineRequest {
 public:
  InlineForget(Dispatcher& d, asio::awaitable<void>& handler, uint64_t first)
      : InlineRequest{nullptr, &InlineForget::adopt_request}, d_(d), handler_(handler), first_(first) {}
  void run() noexcept {
    try {
      if (run_inline(*this, d_.io, handler_)) handler_.await_resume();
    } catch (...) {
      errno_from_current_exception("forget", first_);
    }
  }

 private:
  static void adopt_request(InlineRequest& r) {
    auto& self = static_cast<InlineForget&>(r);
    stack_of(r).adopt(serve_forget(self.d_, self.handler_, self.first_));
  }
  Dispatcher& d_;
  asio::awaitable<void>& handler_;
  uint64_t first_;
};

void run_forget_inline(Dispatcher& d, std::vector<ForgetRequest> list) {
  uint64_t first = list.empty() ? 0 : uint64_t{list.front().inode};
  std::optional<asio::awaitable<void>> handler;
  try {
    handler.emplace(d.ops.forget(std::move(list)));
  } catch (...) {  // thrown before its coroutine started
    errno_from_current_exception("forget", first);
    return;
  }
  if (is_recycled_frame(*handler)) return InlineForget(d, *handler, first).run();
  launch_coroutine(d, serve_forget(d, *handler, first));  // takes the handler before returning
}

}  // namespace
#endif

void run_forget_handler(Dispatcher& d, std::vector<ForgetRequest> list) {
  try {
#if FUSEPP_ASIO_INTERNALS
    // With max_tasks, every request counts in flight from its start.
    if (d.hooks.max_tasks == 0) return run_forget_inline(d, std::move(list));
#endif
    launch_coroutine(d, run_forget(d, std::move(list)));
  } catch (...) {
    std::fprintf(stderr, "fusepp: could not start a forget handler\n");
  }
}

void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  start_named<EntryAttributes>(req, "lookup", parent, name, &Operations::lookup, reply_entry);
}

void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  start_forget(req, {ForgetRequest{InodeT{ino}, nlookup}});
}

void forget_list(fuse_req_t req, std::vector<ForgetRequest> list) { start_forget(req, std::move(list)); }

void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  std::vector<ForgetRequest> list;
  list.reserve(count);
  for (size_t i = 0; i < count; ++i) list.push_back({InodeT{forgets[i].ino}, forgets[i].nlookup});
  start_forget(req, std::move(list));
}

void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  start<EntryAttributes>(
      req, "mknod", parent,
      [&ops = dispatcher_of(req).ops, parent, n = std::string_view(name), mode, rdev](const RequestContext& ctx) {
        return ops.mknod(InodeT{parent}, n, ModeT{mode}, rdev, ctx);
      },
      reply_entry);
}

void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  // The kernel leaves the file type out of MKDIR's mode; pyfuse3 adds S_IFDIR, so do we.
  start<EntryAttributes>(
      req, "mkdir", parent,
      [&ops = dispatcher_of(req).ops, parent, n = std::string_view(name), mode](const RequestContext& ctx) {
        return ops.mkdir(InodeT{parent}, n, ModeT{mode | S_IFDIR}, ctx);
      },
      reply_entry);
}

void unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  start_named<void>(req, "unlink", parent, name, &Operations::unlink, reply_ok);
}

void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  start_named<void>(req, "rmdir", parent, name, &Operations::rmdir, reply_ok);
}

void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  start<EntryAttributes>(
      req, "symlink", parent,
      [&ops = dispatcher_of(req).ops, parent, n = std::string_view(name),
       t = std::string_view(target)](const RequestContext& ctx) { return ops.symlink(InodeT{parent}, n, t, ctx); },
      reply_entry);
}

void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned flags) {
  start<void>(
      req, "rename", parent,
      [&ops = dispatcher_of(req).ops, parent, n = std::string_view(name), newparent, nn = std::string_view(newname),
       flags](const RequestContext& ctx) {
        return ops.rename(InodeT{parent}, n, InodeT{newparent}, nn, FlagT{static_cast<int32_t>(flags)}, ctx);
      },
      reply_ok);
}

void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  start<EntryAttributes>(
      req, "link", ino,
      [&ops = dispatcher_of(req).ops, ino, newparent, nn = std::string_view(newname)](const RequestContext& ctx) {
        return ops.link(InodeT{ino}, InodeT{newparent}, nn, ctx);
      },
      reply_entry);
}

}  // namespace fusepp::ll
