// Loading many scenario files at once (`fusecheck list` and `run`): the files are independent,
// so they are parsed on as many threads as the process may use CPUs (at most four), and the
// outcomes come back in the order of the files, so nothing printed depends on the threads.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "fusecheck/cpu_affinity.hpp"
#include "fusecheck/scenario.hpp"

namespace fusecheck {

namespace {

// A thread is worth its start (tens of microseconds) only with a few files to share.
constexpr size_t kFilesPerThread = 8;
constexpr size_t kMaxThreads = 4;

size_t loader_threads(size_t files) {
  const size_t cpus = std::max<size_t>(1, cpus_from_current().size());
  return std::clamp<size_t>(files / kFilesPerThread, 1, std::min(cpus, kMaxThreads));
}

}  // namespace

std::vector<LoadedFile> load_scenario_files(const std::vector<ScenarioFile>& files) {
  std::vector<LoadedFile> loaded(files.size());
  std::vector<std::exception_ptr> unexpected(files.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      try {
        loaded[i].scenarios = load_scenario_file(files[i].path, files[i].base_name);
      } catch (const FileError& error) {
        loaded[i].error = error.what();
      } catch (...) {
        unexpected[i] = std::current_exception();  // rethrown by the calling thread
      }
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < loader_threads(files.size()); ++t) helpers.emplace_back(work);
  work();
  for (auto& helper : helpers) helper.join();
  for (const auto& failure : unexpected)
    if (failure) std::rethrow_exception(failure);
  return loaded;
}

}  // namespace fusecheck
