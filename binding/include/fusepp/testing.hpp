// In-process mounting for tests: ScopedMount mounts an Operations object on a fresh temporary
// directory, serves it on a background thread and always unmounts on destruction, so a gtest
// can exercise its filesystem through real syscalls in a few lines.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "fusepp/session.hpp"

namespace fusepp::testing {

class ScopedMount {
 public:
  // Mounts ops on a new directory under $TMPDIR (or /tmp) and waits until the mount is
  // visible in /proc/self/mountinfo. Throws std::runtime_error naming the mountpoint.
  explicit ScopedMount(Operations& ops, std::set<std::string> options = default_options,
                       MainOptions main_options = {});
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;
  ~ScopedMount();  // unmounts (lazily and by aborting the connection if it must), removes dir

  const std::filesystem::path& path() const { return mountpoint_; }
  Session& session();
  // Unmounts now and waits for main() to return; afterwards the Operations object has
  // seen every FORGET the kernel sends at unmount.
  void unmount();

 private:
  void wait_until_serving(unsigned threads);

  std::filesystem::path mountpoint_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fusepp::testing
