// JSON results read back, and the shards of one run joined into one (see merge.hpp). The
// reader accepts exactly what JsonReporter writes; a string stored with a "<key>_hex"
// companion gets its exact bytes back.
#include "fusecheck/merge.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fusecheck/errors.hpp"
#include "fusecheck/text.hpp"

namespace fusecheck {
namespace {

using Json = nlohmann::json;

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

std::string text_of(const Json& object, const std::string& key) {
  if (auto hex = object.find(key + "_hex"); hex != object.end() && hex->is_string()) return from_hex(*hex);
  auto value = object.find(key);
  return value != object.end() && value->is_string() ? value->get<std::string>() : "";
}

Verdict verdict_named(const std::string& name) {
  for (Verdict verdict : {Verdict::pass, Verdict::fail, Verdict::skip, Verdict::xfail, Verdict::xpass, Verdict::broken})
    if (verdict_name(verdict) == name) return verdict;
  throw std::invalid_argument(fmt::format("unknown verdict '{}'", name));
}

TestResult result_from(const Json& test, std::shared_ptr<Scenario>& scenario) {
  TestResult result;
  result.name = text_of(test, "name");
  if (result.name.empty()) throw std::invalid_argument("a test without a name");
  result.verdict = verdict_named(test.at("verdict").get<std::string>());
  result.reason = text_of(test, "reason");
  result.seconds = test.value("seconds", 0.0);
  result.repetition = test.value("repetition", 0);
  result.repro_path = text_of(test, "repro");
  const auto& transcript = test.value("transcript", Json::array());
  const auto& transcript_hex = test.value("transcript_hex", Json::array());
  for (size_t i = 0; i < transcript.size(); ++i)
    result.transcript.push_back(i < transcript_hex.size() ? from_hex(transcript_hex[i])
                                                          : transcript[i].get<std::string>());
  for (const auto& item : test.value("mismatches", Json::array())) {
    result.mismatches.push_back(Mismatch{item.value("section", ""), item.value("step", 0), text_of(item, "where"),
                                         text_of(item, "call"), text_of(item, "field"), text_of(item, "expected"),
                                         text_of(item, "got"), text_of(item, "note")});
  }
  scenario = std::make_shared<Scenario>();
  scenario->name = result.name;
  scenario->base_name = result.name.substr(0, result.name.find('@'));
  scenario->title = text_of(test, "title");
  scenario->file = text_of(test, "file");
  result.scenario = scenario.get();
  return result;
}

}  // namespace

ResultsFile read_results_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FileError(fmt::format("{}: cannot read the results file", path));
  ResultsFile file;
  file.path = path;
  try {
    Json doc = Json::parse(in);
    file.fs = text_of(doc, "fs");
    file.seconds = doc.value("seconds", 0.0);
    if (doc.contains("shard")) file.shard = parse_shard(doc.at("shard").get<std::string>());
    for (const auto& test : doc.at("tests")) {
      std::shared_ptr<Scenario> scenario;
      file.results.push_back(result_from(test, scenario));
      file.scenarios.push_back(std::move(scenario));
    }
  } catch (const std::exception& error) {
    throw FileError(fmt::format("{}: not a fusecheck JSON results file: {}", path, printable(error.what(), false)));
  }
  return file;
}

Durations recorded_durations(const std::string& path) {
  std::map<std::string, std::pair<double, int>> sums;
  for (const auto& result : read_results_file(path).results) {
    auto& [seconds, count] = sums[result.name];
    seconds += result.seconds;
    ++count;
  }
  Durations durations;
  for (const auto& [name, sum] : sums) durations[name] = sum.first / sum.second;
  return durations;
}

namespace {

// A split's shards must all be there, once each, and agree on N; unsharded files may be
// joined freely (e.g. runs of different filters).
void check_shards(const std::vector<ResultsFile>& files) {
  std::map<int, std::string> seen;  // shard index -> file
  int count = 0;
  for (const auto& file : files) {
    if (!file.shard) continue;
    if (count != 0 && file.shard->count != count)
      throw HarnessError(fmt::format("{} is shard {}/{}, but another file is from a split into {}", file.path,
                                     file.shard->index, file.shard->count, count),
                         exit_code::usage);
    count = file.shard->count;
    if (auto [at, fresh] = seen.emplace(file.shard->index, file.path); !fresh)
      throw HarnessError(fmt::format("{} and {} are both shard {}/{}", at->second, file.path, file.shard->index, count),
                         exit_code::usage);
  }
  std::vector<std::string> missing;
  for (int index = 1; index <= count; ++index)
    if (!seen.count(index)) missing.push_back(fmt::format("{}/{}", index, count));
  if (!missing.empty())
    throw HarnessError(fmt::format("shard{} {} missing: the merged report would leave out its tests",
                                   missing.size() == 1 ? "" : "s", fmt::join(missing, ", ")),
                       exit_code::usage);
}

}  // namespace

MergedResults merge_results(std::vector<ResultsFile> files) {
  if (files.empty()) throw HarnessError("no results files to merge", exit_code::usage);
  check_shards(files);
  MergedResults merged;
  merged.fs = files.front().fs;
  std::map<std::pair<std::string, int>, std::string> owner;  // (test, repetition) -> file
  for (auto& file : files) {
    if (file.fs != merged.fs)
      throw HarnessError(fmt::format("{} is a run on --fs {}, {} on --fs {}: merge the results of one target",
                                     files.front().path, merged.fs, file.path, file.fs),
                         exit_code::usage);
    for (auto& result : file.results) {
      if (auto [at, fresh] = owner.emplace(std::pair{result.name, result.repetition}, file.path); !fresh)
        throw HarnessError(fmt::format("test {} is in both {} and {}", result.name, at->second, file.path),
                           exit_code::usage);
      merged.summary.counts.add(result.verdict);
      merged.results.push_back(std::move(result));
    }
    merged.summary.seconds = std::max(merged.summary.seconds, file.seconds);
    merged.scenarios.insert(merged.scenarios.end(), file.scenarios.begin(), file.scenarios.end());
  }
  return merged;
}

}  // namespace fusecheck
