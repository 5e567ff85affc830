// Result reporting (see report.hpp): text, JUnit XML (one testsuite per area), JSON and
// repro files. Output formats are data for other tools, so they carry every mismatch.
#include "fusecheck/report.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fusecheck {

namespace fs = std::filesystem;

void Counts::add(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass: ++passed; break;
    case Verdict::fail: ++failed; break;
    case Verdict::skip: ++skipped; break;
    case Verdict::xfail: ++xfailed; break;
    case Verdict::xpass: ++xpassed; break;
    case Verdict::broken: ++broken; break;
  }
}

std::string Counts::summary_line() const {
  return fmt::format("{} passed, {} failed, {} skipped, {} xfailed, {} xpassed, {} broken", passed, failed, skipped,
                     xfailed, xpassed, broken);
}

int Counts::exit_code() const {
  if (broken > 0) return 3;
  if (failed > 0 || xpassed > 0) return 1;
  return 0;
}

std::string shell_quote_arg(const std::string& word) {
  bool plain = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@+") == std::string::npos;
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string rerun_command(const std::string& program, const TestResult& result, const std::string& fs,
                          const std::string& scenarios_dir) {
  std::string command = fmt::format("{} run --fs {} --filter {}", program, shell_quote_arg(fs), shell_quote_arg(result.name));
  if (!scenarios_dir.empty()) command += " --scenarios " + shell_quote_arg(scenarios_dir);
  return command;
}

std::string describe_result(const TestResult& result, const std::string& rerun) {
  std::string out;
  const std::string indent = "    ";
  if (result.scenario) out += fmt::format("{}{} ({})\n", indent, result.scenario->title, result.scenario->file);
  if (result.verdict == Verdict::fail || result.verdict == Verdict::xfail) {
    out += fmt::format("{}failed at {}\n", indent, result.reason);
    for (const auto& mismatch : result.mismatches) {
      out += fmt::format("{}  {}step {} at {}: {}\n", indent, mismatch.section == "steps" ? "" : mismatch.section + " ", mismatch.step, mismatch.where, mismatch.summary);
      out += fmt::format("{}    {}: expected {}\n{}    {}  got      {}\n", indent, mismatch.field, mismatch.expected, indent,
                         std::string(mismatch.field.size(), ' '), mismatch.got);
      if (!mismatch.note.empty()) out += fmt::format("{}    note: {}\n", indent, mismatch.note);
    }
  } else if (!result.reason.empty()) {
    out += fmt::format("{}{}\n", indent, result.reason);
  }
  if (result.verdict == Verdict::fail || result.verdict == Verdict::broken || result.verdict == Verdict::xpass) {
    out += fmt::format("{}rerun: {}\n", indent, rerun);
    if (!result.repro_path.empty()) out += fmt::format("{}repro: {}\n", indent, result.repro_path);
  }
  return out;
}

std::string write_repro(const std::string& results_dir, const TestResult& result, const std::string& fs, unsigned seed) {
  if (!result.scenario) return "";
  std::string safe = result.name;
  for (char& c : safe)
    if (c == ',' || c == '=' || c == ' ') c = '_';
  fs::path dir = fs::path(results_dir) / safe;
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path file = dir / "repro.yaml";
  std::ofstream out(file);
  if (!out) return "";
  out << repro_yaml(*result.scenario, fs, seed);
  return out ? file.string() : "";
}

namespace {

std::string xml_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::string area_of(const std::string& name) {
  size_t slash = name.find('/');
  return slash == std::string::npos ? "scenarios" : name.substr(0, slash);
}

std::string test_label(const TestResult& result) {
  return result.repetition > 0 ? fmt::format("{} (repeat {})", result.name, result.repetition + 1) : result.name;
}

}  // namespace

void write_junit(const std::string& path, const std::vector<TestResult>& results, const std::string& fs_name,
                 double seconds) {
  std::map<std::string, std::vector<const TestResult*>> suites;
  for (const auto& result : results) suites[area_of(result.name)].push_back(&result);
  Counts total;
  for (const auto& result : results) total.add(result.verdict);
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("cannot write JUnit XML to {}", path));
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << fmt::format("<testsuites name=\"fusecheck {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                     xml_escape(fs_name), results.size(), total.failed + total.xpassed, total.broken,
                     total.skipped + total.xfailed, seconds);
  for (const auto& [area, members] : suites) {
    Counts counts;
    double suite_time = 0;
    for (const auto* result : members) {
      counts.add(result->verdict);
      suite_time += result->seconds;
    }
    out << fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                       xml_escape(area), members.size(), counts.failed + counts.xpassed, counts.broken,
                       counts.skipped + counts.xfailed, suite_time);
    for (const auto* result : members) {
      out << fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\"", xml_escape(area),
                         xml_escape(test_label(*result)), result->seconds);
      std::string details = describe_result(*result, "");
      switch (result->verdict) {
        case Verdict::pass: out << "/>\n"; continue;
        case Verdict::fail:
        case Verdict::xpass:
          out << fmt::format(">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                             xml_escape(result->reason), verdict_name(result->verdict), xml_escape(details));
          continue;
        case Verdict::broken:
          out << fmt::format(">\n      <error message=\"{}\" type=\"BROKEN\">{}</error>\n    </testcase>\n",
                             xml_escape(result->reason), xml_escape(details));
          continue;
        case Verdict::skip:
        case Verdict::xfail:
          out << fmt::format(">\n      <skipped message=\"{}: {}\"/>\n    </testcase>\n", verdict_name(result->verdict),
                             xml_escape(result->reason));
          continue;
      }
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

void write_json(const std::string& path, const std::vector<TestResult>& results, const std::string& fs_name,
                double seconds, const Counts& counts) {
  using nlohmann::json;
  json doc{{"fs", fs_name},
           {"seconds", seconds},
           {"summary",
            {{"passed", counts.passed}, {"failed", counts.failed}, {"skipped", counts.skipped},
             {"xfailed", counts.xfailed}, {"xpassed", counts.xpassed}, {"broken", counts.broken}}},
           {"tests", json::array()}};
  for (const auto& result : results) {
    json test{{"name", result.name},
              {"verdict", verdict_name(result.verdict)},
              {"reason", result.reason},
              {"seconds", result.seconds},
              {"repetition", result.repetition},
              {"file", result.scenario ? result.scenario->file : ""},
              {"title", result.scenario ? result.scenario->title : ""},
              {"transcript", result.transcript},
              {"mismatches", json::array()}};
    if (!result.repro_path.empty()) test["repro"] = result.repro_path;
    for (const auto& mismatch : result.mismatches)
      test["mismatches"].push_back({{"section", mismatch.section}, {"step", mismatch.step}, {"where", mismatch.where},
                                    {"call", mismatch.summary}, {"field", mismatch.field},
                                    {"expected", mismatch.expected}, {"got", mismatch.got}, {"note", mismatch.note}});
    doc["tests"].push_back(std::move(test));
  }
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("cannot write JSON to {}", path));
  out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace fusecheck
