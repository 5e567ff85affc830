// fusecheck: the command-line tool. `list` and `run` select scenarios under scenarios/,
// `replay FILE` runs one scenario or repro.yaml, `mount` mounts a target for manual poking,
// `merge` joins shards' results (merge.cpp).
// Exit codes follow docs/scenario-format.md section 11 (0, 1, 2, 3, 77).
#include <fnmatch.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <iostream>
#include <thread>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/errors.hpp"
#include "fusecheck/exit_codes.hpp"
#include "fusecheck/fuzz_command.hpp"
#include "fusecheck/merge.hpp"
#include "fusecheck/report.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/shard.hpp"
#include "fusecheck/state.hpp"
#include "fusecheck/target.hpp"
#include "fusecheck/text.hpp"
#include "merge.hpp"

namespace fs = std::filesystem;
using namespace fusecheck;

namespace {

// One mount per CPU (at most 4): FUSE round trips are latency-bound, so two mounts on two
// cores nearly halve a full run; tests on one mount still run one after the other.
int default_jobs() {
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::clamp(cpus, 1L, 4L));
}

struct Options {
  std::string fs = "memfs";
  std::string scenarios;
  std::vector<std::string> filters;
  std::vector<std::string> tags;
  std::string expectations;
  int jobs = default_jobs();
  int repeat = 1;
  unsigned seed = 0;
  std::string junit;
  std::string json;
  std::string results = "results";
  double timeout = 0;
  bool exclusive = false;
  bool allow_dev_suid = false;
  bool with_breaker = false;
  bool trace_steps = false;  // replay --trace
  bool all_cpus = false;
  int verbosity = 0;  // -1 quiet, 1 verbose
  std::string replay_file;
  std::vector<std::string> mount_options;
  std::string shard;            // K/N
  std::string shard_durations;  // a previous run's JSON results
  std::string write_expectations;
  std::string src_dir;  // exec: {src} directories go here instead of on a private tmpfs
};

std::atomic<bool> stop_requested{false};

std::string scenarios_dir(const Options& options) {
  if (!options.scenarios.empty()) return options.scenarios;
  if (const char* env = std::getenv("FUSECHECK_SCENARIOS")) return env;
  return data_dir() + "/scenarios";
}

bool name_selected(const Options& options, const Scenario& scenario) {
  if (!options.filters.empty()) {
    bool any = false;
    for (const auto& filter : options.filters)
      any = any || filter == scenario.name || ::fnmatch(filter.c_str(), scenario.name.c_str(), 0) == 0 ||
            ::fnmatch(filter.c_str(), scenario.base_name.c_str(), 0) == 0;
    if (!any) return false;
  }
  if (!options.tags.empty()) {
    bool any = false;
    for (const auto& tag : options.tags) any = any || std::count(scenario.tags.begin(), scenario.tags.end(), tag);
    if (!any) return false;
  }
  return true;
}

// Only files whose tests could match a filter are parsed, so a run of one test is not
// blocked by an unrelated file being edited.
bool file_selected(const Options& options, const std::string& base) {
  if (options.filters.empty()) return true;
  for (const auto& filter : options.filters) {
    std::string stem = filter.substr(0, filter.find('@'));
    if (::fnmatch(filter.c_str(), base.c_str(), 0) == 0 || ::fnmatch(stem.c_str(), base.c_str(), 0) == 0) return true;
  }
  return false;
}

std::optional<ShardSpec> selected_shard(const Options& options) {
  return options.shard.empty() ? shard_from_environment() : parse_shard(options.shard);
}

// The files under the scenarios directory whose tests could be selected, in name order.
std::vector<ScenarioFile> selected_files(const Options& options) {
  std::string root = scenarios_dir(options);
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw HarnessError(fmt::format("scenarios directory {} does not exist (use --scenarios DIR)", root),
                       exit_code::usage);
  std::vector<fs::path> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".yaml") continue;
    // The walk's paths all start with root: no need for fs::relative's system calls.
    if (file_selected(options, entry.path().lexically_relative(root).replace_extension("").string()))
      paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());  // after the selection: comparing paths is not cheap
  std::vector<ScenarioFile> files;
  for (const auto& path : paths)
    files.push_back({path.string(), path.lexically_relative(root).replace_extension("").string()});
  return files;
}

// Loads and selects scenarios. Every file error is printed (file:line:col), then one
// HarnessError (exit 2) says how many files had errors: nothing runs. The scenarios stay
// until the process exits and are never freed: the process ends soon after using them, and
// freeing every step, request and YAML node one by one was 9% of `fusecheck list`.
std::vector<Scenario>& load_selected(const Options& options) {
  static auto* selected = new std::vector<Scenario>();  // reachable, so no leak report
  int errors = 0;
  for (auto& file : load_scenario_files(selected_files(options))) {
    if (!file.error.empty()) {
      std::cerr << file.error << "\n";
      ++errors;
    }
    for (auto& scenario : file.scenarios)
      if (name_selected(options, scenario)) selected->push_back(std::move(scenario));
  }
  if (errors > 0)
    throw HarnessError(fmt::format("{} scenario file{} with errors; nothing was run", errors, errors == 1 ? "" : "s"),
                       exit_code::usage);
  if (auto shard = selected_shard(options)) {
    Durations durations;
    if (!options.shard_durations.empty()) durations = recorded_durations(options.shard_durations);
    auto in_shard = take_shard(std::move(*selected), *shard, durations);
    *selected = std::move(in_shard);
  }
  return *selected;
}

void start_signal_thread() {
  // SIGINT/SIGTERM: finish the running tests' teardown and stop; a second one exits at once
  // (the next run clears what is left, from the state records).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  set_interrupt_flag(&stop_requested);  // also stops a file being parsed
  std::thread([signals] {
    for (;;) {
      int received = 0;
      if (sigwait(&signals, &received) != 0) continue;
      if (stop_requested.exchange(true)) _exit(exit_code::interrupted);
      std::cerr << "\nfusecheck: interrupted, unmounting (press again to quit at once)\n";
    }
  }).detach();
}

TargetSpec target_of(const Options& options, const std::string& fs_text) {
  TargetSpec target = parse_target(fs_text, options.exclusive);
  if (!options.src_dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(options.src_dir, ec))
      throw HarnessError(fmt::format("--src-dir {}: not a directory", options.src_dir), exit_code::usage);
    target.source_parent = fs::canonical(options.src_dir).string();
  }
  return target;
}

void clear_stale_state() {
  for (const auto& action : StateRecord::instance().clear_stale()) std::cerr << "fusecheck: " << action << "\n";
}

// --expectations, else the target kind's own file (expectations/NAME.yaml) if it exists.
std::optional<Expectations> load_expectations(const Options& options, const TargetSpec& target) {
  std::string path = options.expectations;
  if (path.empty()) {
    auto name = target.driver->default_expectations();
    if (!name) return std::nullopt;
    std::string guess = fmt::format("{}/../expectations/{}.yaml", scenarios_dir(options), *name);
    if (!fs::exists(guess)) return std::nullopt;
    path = fs::weakly_canonical(guess).string();
  }
  return Expectations::load(path);
}

// The command that reruns one result with the options that change its outcome.
std::string rerun_line(const Options& options, const std::string& program, const std::string& fs_text,
                       const TestResult& result) {
  std::string rerun = options.replay_file.empty() ? rerun_command(program, result, fs_text, options.scenarios)
                                                  : fmt::format("{} replay {} --fs {}", program,
                                                                shell_quote(options.replay_file), shell_quote(fs_text));
  if (rerun.empty()) return rerun;  // no single test reruns it
  if (options.timeout > 0) rerun += fmt::format(" --timeout {}", options.timeout);
  if (!options.expectations.empty()) rerun += " --expectations " + shell_quote(options.expectations);
  if (options.exclusive) rerun += " --exclusive";
  return rerun;
}

// Repro files go under --results, made when the first problem is found (and the file of
// --write-expectations at the end): the directory, or its nearest existing parent, must be
// writable now, before anything runs.
void check_writable_dir(const std::string& flag, const std::string& results) {
  fs::path dir = fs::absolute(results);
  std::error_code ec;
  while (!fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path()) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec) || ::access(dir.c_str(), W_OK | X_OK) != 0)
    throw HarnessError(fmt::format("{} {}: {} is not a writable directory", flag, results, dir.string()),
                       exit_code::usage);
}

// The reporters of a run. Output files are opened here, before anything runs, so a path
// that cannot be written stops the command (HarnessError, exit 2) with nothing run.
std::unique_ptr<ReporterList> make_reporters(const Options& options, const std::string& program,
                                             const std::string& fs_text, TextReporter*& text) {
  auto reporters = std::make_unique<ReporterList>();
  if (!options.junit.empty()) reporters->add(std::make_unique<JunitReporter>(options.junit));
  if (!options.json.empty()) reporters->add(std::make_unique<JsonReporter>(options.json));
  TextReporter::Style style;
  style.verbosity = options.verbosity;
  style.tty = ::isatty(STDOUT_FILENO);
  style.rerun = [&options, program, fs_text](const TestResult& result) {
    return rerun_line(options, program, fs_text, result);
  };
  auto text_reporter = std::make_unique<TextReporter>(style, std::cout, std::cerr);
  text = text_reporter.get();
  reporters->add(std::move(text_reporter));
  return reporters;
}

RunOptions run_options(const Options& options, const TargetSpec& target,
                       const std::optional<Expectations>& expectations, Reporter& reporter) {
  RunOptions run;
  run.target = target;
  run.jobs = options.jobs;
  run.repeat = options.repeat;
  run.seed = options.seed;
  if (options.timeout > 0) run.max_timeout = options.timeout;
  run.expectations = expectations ? &*expectations : nullptr;
  run.reporter = &reporter;
  run.repro_dir = options.results;
  run.stop = &stop_requested;
  run.allow_dev_suid = options.allow_dev_suid;
  run.with_breaker = options.with_breaker;
  run.trace_steps = options.trace_steps;
  run.all_cpus = options.all_cpus;
  return run;
}

void warn_about_expectations(const Options& options, const Expectations& expectations,
                             const std::vector<TestResult>& results) {
  int placeholders = 0;
  for (const auto& entry : expectations.entries()) placeholders += entry.placeholder();
  if (placeholders > 0)
    std::cerr << fmt::format(
        "fusecheck: warning: {}: {} {} the placeholder reason --write-expectations wrote: say why each test fails\n",
        expectations.path, placeholders, placeholders == 1 ? "entry still has" : "entries still have");
  // A part of the suite (filtered, tagged or one shard) leaves most expectations unused.
  if (!options.filters.empty() || !options.tags.empty() || selected_shard(options)) return;
  for (const auto* unused : expectations.unused(results))
    std::cerr << fmt::format("fusecheck: warning: {}: expectation '{}' matches no test\n", unused->where,
                             unused->pattern);
}

// --write-expectations: the file a project starts from (see write_expectations).
void write_baseline(const Options& options, const std::vector<TestResult>& results,
                    const std::optional<Expectations>& expectations) {
  int added =
      write_expectations(options.write_expectations, results, expectations ? &*expectations : nullptr, options.fs);
  std::cerr << fmt::format("fusecheck: wrote {} ({} new entr{} with a placeholder reason to replace)\n",
                           options.write_expectations, added, added == 1 ? "y" : "ies");
}

// Runs `tests` on `fs_text`; throws FileError (expectations) or HarnessError (target,
// outputs) before anything runs. The summary line is printed whatever the outputs do.
int run_selected(const Options& options, std::vector<Scenario>& tests, const std::string& fs_text,
                 const std::string& program) {
  TargetSpec target = target_of(options, fs_text);
  auto expectations = load_expectations(options, target);
  TextReporter* text = nullptr;
  check_writable_dir("--results", options.results);
  if (!options.write_expectations.empty())
    check_writable_dir("--write-expectations", fs::absolute(options.write_expectations).parent_path().string());
  auto reporters = make_reporters(options, program, fs_text, text);
  clear_stale_state();
  set_interrupt_flag(&stop_requested);
  auto shard = options.replay_file.empty() ? selected_shard(options) : std::nullopt;
  reporters->start(RunHeader{fs_text, tests.size() * static_cast<size_t>(std::max(1, options.repeat)),
                             expectations ? expectations->path : "",
                             shard ? fmt::format("{}/{}", shard->index, shard->count) : ""});
  auto started = std::chrono::steady_clock::now();
  RunSummary summary;
  auto results = run_tests(tests, run_options(options, target, expectations, *reporters), &summary.stats);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const auto& result : results) summary.counts.add(result.verdict);
  text->clear_progress();
  if (expectations) warn_about_expectations(options, *expectations, results);
  int code = summary.counts.exit_code();
  if (!options.write_expectations.empty() && !stop_requested) write_baseline(options, results, expectations);
  try {
    reporters->finish(results, summary);
  } catch (const HarnessError& error) {
    std::cerr << "fusecheck: " << error.what() << "\n";
    code = std::max(code, exit_code::broken);  // the results exist only in part
  }
  if (stop_requested) return exit_code::interrupted;
  return code;
}

int command_list(const Options& options) {
  const std::vector<Scenario>& tests = load_selected(options);
  for (const auto& test : tests) {
    if (options.verbosity > 0) {
      std::cout << fmt::format("{}\t{}\t[{}]\n", test.name, test.title, fmt::join(test.requires_features, ","));
    } else {
      std::cout << test.name << "\n";
    }
  }
  if (options.verbosity >= 0) std::cerr << fmt::format("{} test{}\n", tests.size(), tests.size() == 1 ? "" : "s");
  return exit_code::ok;
}

int command_replay(Options options, const std::string& program) {
  std::string text;
  {
    std::ifstream in(options.replay_file);
    if (!in) {
      std::cerr << fmt::format("fusecheck: {}: cannot read the file\n", options.replay_file);
      return exit_code::usage;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // A file from the scenarios tree keeps its test name, so expectations entries apply.
  std::string base = "replay/" + fs::path(options.replay_file).stem().string();
  {
    std::error_code ec;
    fs::path file = fs::weakly_canonical(options.replay_file, ec);
    fs::path root = fs::weakly_canonical(scenarios_dir(options), ec);
    fs::path relative = file.lexically_relative(root);
    if (!relative.empty() && *relative.begin() != ".." && relative.extension() == ".yaml")
      base = relative.replace_extension("").string();
  }
  try {
    YAML::Node doc = YAML::Load(text);
    if (doc.IsMap() && doc["repro"] && doc["repro"].IsMap()) {
      if (doc["repro"]["test"]) base = doc["repro"]["test"].Scalar().substr(0, doc["repro"]["test"].Scalar().find('@'));
      // The target comes from the command line only: a file's `fs:` may be anyone's
      // command (exec: runs a shell), so it is shown, never run.
      if (doc["repro"]["fs"] && doc["repro"]["fs"].Scalar() != options.fs)
        std::cerr << fmt::format("fusecheck: {} was recorded on --fs {}; running it on --fs {} (give --fs to choose)\n",
                                 printable(options.replay_file), printable(shell_quote(doc["repro"]["fs"].Scalar())),
                                 printable(shell_quote(options.fs)));
      if (doc["repro"]["seed"] && options.seed == 0) options.seed = doc["repro"]["seed"].as<unsigned>(0);
    }
  } catch (const YAML::Exception&) {
    // parse_scenario_text reports it with its location
  }
  std::vector<Scenario> tests = parse_scenario_text(text, options.replay_file, base);
  if (options.trace_steps) options.verbosity = std::max(options.verbosity, 1);  // the transcript carries the trace
  return run_selected(options, tests, options.fs, program);
}

int command_mount(const Options& options) {
  TargetSpec target = target_of(options, options.fs);
  clear_stale_state();
  std::unique_ptr<Mount> mount = Mount::create(target, options.mount_options);
  std::cout << fmt::format("{} mounted at {}\npress Ctrl-C to unmount\n", options.fs, mount->root()) << std::flush;
  while (!stop_requested) {
    if (auto why = mount->trouble()) {
      std::cerr << "fusecheck: " << *why << "\n";
      return exit_code::broken;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return exit_code::ok;
}

void add_run_options(CLI::App* command, Options& options, bool with_selection) {
  command->add_option("--fs", options.fs,
                      "target: memfs, exec:'CMD {mnt} ...' ({src} = fresh backing dir, {opts} = -o options), dir:PATH");
  if (with_selection) {
    command->add_option("--scenarios", options.scenarios,
                        "scenarios directory (default: the source tree's scenarios/)");
    command->add_option("--filter", options.filters, "select tests whose name matches this glob (repeatable)");
    command->add_option("--tag", options.tags, "select scenarios with this tag (repeatable)");
    command->add_option("--shard", options.shard,
                        "run shard K of N (K/N; default: TEST_SHARD_INDEX/TEST_TOTAL_SHARDS or GTEST_*)");
    command->add_option("--shard-durations", options.shard_durations,
                        "balance shards by the test durations in this JSON results file (the same for every shard)");
  }
  command->add_option("--write-expectations", options.write_expectations,
                      "write an expectations file under which this run's FAIL/BROKEN tests are expected (each with "
                      "a placeholder reason to replace), keeping the --expectations entries still needed");
  command->add_option("--expectations", options.expectations,
                      "expectations file (default: expectations/memfs.yaml for memfs, expectations/TYPE.yaml for dir: "
                      "on a kernel filesystem of that type, none for exec:)");
  command
      ->add_option("--jobs,-j", options.jobs,
                   "parallel mounts for FUSE targets (default: CPUs, at most 4; dir: targets run serially)")
      ->check(CLI::Range(1, 64));
  command->add_option("--repeat", options.repeat, "run every selected test N times")->check(CLI::Range(1, 100000));
  command->add_option("--seed", options.seed,
                      "shuffle the order of tests on each mount with this seed (0 = file order)");
  command->add_option("--junit-xml", options.junit, "write JUnit XML here");
  command->add_option("--json", options.json, "write JSON results here");
  command->add_option("--results", options.results, "directory for repro.yaml files of failures (default ./results)");
  command
      ->add_option("--timeout", options.timeout,
                   "cap every step's and every harness call's deadline at this many seconds")
      ->check(CLI::PositiveNumber);
  command->add_option("--src-dir", options.src_dir,
                      "make exec: {src} directories here (default: each on a fresh private tmpfs, as root)");
  command->add_flag("--exclusive", options.exclusive,
                    "dir: nothing else uses this filesystem (enables exclusive_statfs)");
  command->add_flag("--with-breaker", options.with_breaker,
                    "apply each scenario's must_fail_with (fault rules, mount options): every such test must FAIL");
  command->add_flag("--all-cpus", options.all_cpus,
                    "let the scheduler spread the run over every CPU; by default each --jobs worker and every "
                    "process it starts stay on one CPU, which is faster (give runs started side by side "
                    "--all-cpus or a taskset each)");
  command->add_flag("--allow-dev-suid", options.allow_dev_suid,
                    "let scenarios mount with `dev` or `suid` (skipped otherwise: their nodes could reach the host)");
  command->add_flag(
      "-v,--verbose", [&](int64_t) { options.verbosity = 1; }, "print every step of every test");
  command->add_flag(
      "-q,--quiet", [&](int64_t) { options.verbosity = -1; }, "print only problems and the summary");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fusecheck: conformance tests for FUSE filesystems (and any directory)"};
  app.require_subcommand(1);
  Options options;
  auto* list = app.add_subcommand("list", "list the selected tests");
  list->add_option("--scenarios", options.scenarios, "scenarios directory");
  list->add_option("--filter", options.filters, "glob over test names (repeatable)");
  list->add_option("--tag", options.tags, "tag (repeatable)");
  list->add_option("--shard", options.shard, "list shard K of N (K/N)");
  list->add_option("--shard-durations", options.shard_durations, "balance shards by this JSON results file");
  list->add_flag(
      "-v,--verbose", [&](int64_t) { options.verbosity = 1; }, "show titles and required features");
  list->add_flag(
      "-q,--quiet", [&](int64_t) { options.verbosity = -1; }, "no count line");
  auto* run = app.add_subcommand("run", "run the selected tests on a target");
  add_run_options(run, options, true);
  auto* replay = app.add_subcommand("replay", "run one scenario file or repro.yaml");
  replay->add_option("FILE", options.replay_file, "the scenario or repro.yaml")->required();
  add_run_options(replay, options, false);
  replay->add_flag("--trace", options.trace_steps,
                   "after each step, print the FUSE requests it caused (opcode, node and path, name, result); "
                   "needs a target with a request trace (memfs; a daemon with {control})");
  auto* mount = app.add_subcommand("mount", "mount a target and wait (Ctrl-C unmounts)");
  mount->add_option("--fs", options.fs, "target, as for run");
  mount->add_option("-o", options.mount_options, "extra mount options")->delimiter(',');
  mount->add_option("--src-dir", options.src_dir, "make the {src} directory here (default: a private tmpfs)");
  fusecheck::fuzz::CommandOptions fuzz_options;
  auto* fuzz = fusecheck::fuzz::add_fuzz_command(app, fuzz_options);
  tools::MergeOptions merge_options;
  auto* merge = tools::add_merge_command(app, merge_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::cerr << "fusecheck: " << error.what() << "\n(run fusecheck --help for usage)\n";
    return exit_code::usage;
  }
  std::string program = executable_dir() + "/fusecheck";
  ::signal(SIGPIPE, SIG_IGN);  // a dead actor's pipe gives EPIPE, reported as BROKEN
  start_signal_thread();
  try {
    if (list->parsed()) return command_list(options);
    if (merge->parsed()) return tools::run_merge_command(merge_options);
    if (fuzz->parsed()) return fusecheck::fuzz::run_fuzz_command(fuzz_options, &stop_requested);
    if (mount->parsed()) return command_mount(options);
    if (replay->parsed()) return command_replay(options, program);
    std::vector<Scenario>& tests = load_selected(options);
    if (tests.empty() && (!options.shard.empty() || shard_from_environment())) {
      std::cerr << "fusecheck: this shard has no tests\n";
      return exit_code::ok;
    }
    if (tests.empty()) {
      std::cerr << "fusecheck: no test matches the selection\n";
      return exit_code::usage;
    }
    return run_selected(options, tests, options.fs, program);
  } catch (...) {
    return exit_code_for_current_exception("fusecheck");
  }
}
