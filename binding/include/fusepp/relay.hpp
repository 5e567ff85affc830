// fusepp::Relay: stands between the kernel and a FUSE daemon it does not serve itself. It
// passes every message on unchanged between a /dev/fuse descriptor (the kernel side) and one
// end of a SOCK_SEQPACKET socket pair whose other end the daemon uses as its FUSE device
// (libfuse 3 takes /dev/fd/N as the mountpoint), recording the requests into an Observer and
// applying its fault rules on the way: any libfuse 3 daemon gets fusepp's trace and faults.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "fusepp/observe.hpp"

namespace fusepp {

class Relay {
 public:
  // Takes neither descriptor's ownership; both must stay open until the Relay is destroyed.
  Relay(int kernel_fd, int daemon_fd, Observer& observer);
  ~Relay();  // stops and joins every thread
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts relaying on threads of its own. on_end runs once, on one of them, when either
  // side ends (the kernel: unmounted or aborted; the daemon: closed its end), with the reason.
  void start(std::function<void(const std::string& why)> on_end);
  // Stops relaying; requests still held by a rule are answered EINTR. Idempotent. The reads
  // block (a poll per message would cost a quarter of the rate), so the kernel side must
  // have ended first (unmounted, or aborted in /sys/fs/fuse/connections), else this waits
  // for that; the daemon's end of the socket is shut down here.
  void stop();

  // Queues a notification to the kernel; done(0 or -errno) runs on the notifying thread.
  void notify(Notification notification, std::function<void(int)> done);

  // The size of the largest message either side may send: reads use buffers this big.
  static size_t max_message_size();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fusepp
