// Result reporting (see report.hpp): text, JUnit XML (one testsuite per area) and JSON.
// Output formats are data for other tools, so they carry every mismatch.
#include "fusecheck/report.hpp"

#include <string.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "fusecheck/text.hpp"

namespace fusecheck {

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
  if (broken > 0) return exit_code::broken;
  if (failed > 0 || xpassed > 0) return exit_code::failures;
  return exit_code::ok;
}

std::string rerun_command(const std::string& program, const TestResult& result, const std::string& fs,
                          const std::string& scenarios_dir) {
  if (!result.scenario) return "";  // a mount's balance belongs to the whole run: rerun that
  std::string command = fmt::format("{} run --fs {} --filter {}", program, shell_quote(fs), shell_quote(result.name));
  if (!scenarios_dir.empty()) command += " --scenarios " + shell_quote(scenarios_dir);
  return command;
}

std::string describe_result(const TestResult& result, const std::string& rerun) {
  std::string out;
  const std::string indent = "    ";
  if (result.scenario) out += fmt::format("{}{} ({})\n", indent, result.scenario->title, result.scenario->file);
  if (result.verdict == Verdict::fail || result.verdict == Verdict::xfail) {
    out += fmt::format("{}failed {} {}\n", indent, result.scenario ? "at" : "with", result.reason);
    for (const auto& mismatch : result.mismatches) {
      out += fmt::format("{}  {}step {} at {}: {}\n", indent, mismatch.section == "steps" ? "" : mismatch.section + " ",
                         mismatch.step, mismatch.where, mismatch.summary);
      out += fmt::format("{}    {}: expected {}\n{}    {}  got      {}\n", indent, mismatch.field, mismatch.expected,
                         indent, std::string(mismatch.field.size(), ' '), mismatch.got);
      if (!mismatch.note.empty()) out += fmt::format("{}    note: {}\n", indent, mismatch.note);
    }
  } else if (!result.reason.empty()) {
    out += fmt::format("{}{}\n", indent, result.reason);
  }
  if (is_problem(result.verdict)) {
    if (!rerun.empty()) out += fmt::format("{}rerun: {}\n", indent, rerun);
    if (!result.repro_path.empty()) out += fmt::format("{}repro: {}\n", indent, result.repro_path);
  }
  return printable(out);
}

namespace {

std::string test_label(const TestResult& result) {
  return result.repetition > 0 ? fmt::format("{} (repeat {})", result.name, result.repetition + 1) : result.name;
}

}  // namespace

// ---------------------------------------------------------------- files

FileReporter::FileReporter(std::string path, std::string what)
    : path_(std::move(path)),
      what_(std::move(what)),
      out_(std::make_unique<std::ofstream>(path_, std::ios::out | std::ios::trunc)) {
  if (!*out_)
    throw HarnessError(fmt::format("cannot write {} to {}: {}", what_, path_, strerror(errno)), exit_code::usage);
  errno = 0;  // so that a failed write's cause is what close() reports
}

FileReporter::~FileReporter() = default;

void FileReporter::close() {
  out_->flush();
  out_->close();
  if (!*out_)
    throw HarnessError(fmt::format("writing {} to {} failed: {}", what_, path_, errno ? strerror(errno) : "I/O error"));
}

// ---------------------------------------------------------------- text

TextReporter::TextReporter(Style style, std::ostream& out, std::ostream& err)
    : style_(std::move(style)), out_(out), err_(err) {}

void TextReporter::clear_progress() {
  if (style_.tty && progress_shown_) out_ << "\r\033[K";
  progress_shown_ = false;
}

void TextReporter::start(const RunHeader& header) {
  header_ = header;
  if (style_.verbosity >= 0)
    out_ << fmt::format("fusecheck: {} test{} on {}{}\n", header.tests, header.tests == 1 ? "" : "s",
                        printable(header.fs),
                        header.expectations.empty() ? "" : " (expectations: " + printable(header.expectations) + ")");
  out_.flush();
}

void TextReporter::notice(const std::string& text) {
  clear_progress();
  out_.flush();
  err_ << "fusecheck: " << printable(text) << "\n";
}

void TextReporter::mounted(const Mount& mount) {
  if (style_.verbosity <= 0) return;
  std::string have, lacking;
  for (const auto& feature : mount.features().have) have += " " + feature;
  for (const auto& [feature, why] : mount.features().missing) lacking += fmt::format("\n    {}: {}", feature, why);
  clear_progress();
  out_ << printable(fmt::format("mounted {} at {}\n  features:{}\n  lacking:{}\n", header_.fs, mount.root(), have,
                                lacking.empty() ? " none" : lacking));
}

std::string TextReporter::details(const TestResult& result) const {
  bool quiet_line = result.verdict == Verdict::skip || result.verdict == Verdict::xfail;
  bool show = is_problem(result.verdict) || (style_.verbosity > 0 && result.verdict != Verdict::pass);
  std::string text = show && !quiet_line ? describe_result(result, style_.rerun ? style_.rerun(result) : "") : "";
  auto step_lines = [&](size_t from) {
    for (size_t i = from; i < result.transcript.size(); ++i) text += "      " + printable(result.transcript[i]) + "\n";
  };
  if (style_.verbosity > 0) {
    step_lines(0);
  } else if (result.verdict == Verdict::broken && !result.transcript.empty()) {
    // What was seen before it broke: the last steps and their outcomes.
    text += "    steps seen:\n";
    step_lines(result.transcript.size() > 8 ? result.transcript.size() - 8 : 0);
  }
  return text;
}

void TextReporter::result(const TestResult& result) {
  ++finished_;
  std::string label = printable(test_label(result), false);
  std::string line = fmt::format("{:<6} {} ({:.0f} ms)", verdict_name(result.verdict), label, result.seconds * 1000);
  if (result.verdict == Verdict::skip || result.verdict == Verdict::xfail) line += ": " + printable(result.reason);
  bool problem = is_problem(result.verdict);
  if (!result.ran) {
    // The notice before said why once (the target could not be mounted); the summary counts it.
    if (style_.verbosity > 0) out_ << line << ": " << printable(result.reason) << "\n";
    return;
  }
  if (style_.tty) {
    clear_progress();
    if (problem || style_.verbosity > 0 || (style_.verbosity == 0 && result.verdict != Verdict::pass))
      out_ << line << "\n" << details(result);
    out_ << fmt::format("[{}/{}] {} {}", finished_, header_.tests, verdict_name(result.verdict), label) << std::flush;
    progress_shown_ = true;
  } else if (problem || style_.verbosity >= 0) {
    out_ << line << "\n" << details(result) << std::flush;
  }
}

void TextReporter::finish(const std::vector<TestResult>&, const RunSummary& summary) {
  clear_progress();
  if (style_.verbosity > 0)
    out_ << fmt::format("{} mount{}, {} actor process{} started\n", summary.stats.mounts,
                        summary.stats.mounts == 1 ? "" : "s", summary.stats.actors_spawned,
                        summary.stats.actors_spawned == 1 ? "" : "es");
  out_ << fmt::format("{} in {:.2f} s\n", summary.counts.summary_line(), summary.seconds) << std::flush;
}

// ---------------------------------------------------------------- JUnit XML

namespace {

// XML 1.0 allows no control characters but tab and newline, even escaped; printable() has
// already turned them (and bytes that are not UTF-8) into \xHH.
std::string xml_escape(const std::string& raw) {
  std::string out;
  for (char c : printable(raw)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string area_of(const std::string& name) {
  size_t slash = name.find('/');
  return slash == std::string::npos ? "scenarios" : name.substr(0, slash);
}

std::string junit_case(const TestResult& result, const std::string& area) {
  std::string head = fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\"", xml_escape(area),
                                 xml_escape(test_label(result)), result.seconds);
  std::string details = describe_result(result, "");
  switch (result.verdict) {
    case Verdict::pass: return head + "/>\n";
    case Verdict::fail:
    case Verdict::xpass:
      return head + fmt::format(">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                                xml_escape(result.reason), verdict_name(result.verdict), xml_escape(details));
    case Verdict::broken:
      return head + fmt::format(">\n      <error message=\"{}\" type=\"BROKEN\">{}</error>\n    </testcase>\n",
                                xml_escape(result.reason), xml_escape(details));
    case Verdict::skip:
    case Verdict::xfail:
      return head + fmt::format(">\n      <skipped message=\"{}: {}\"/>\n    </testcase>\n",
                                verdict_name(result.verdict), xml_escape(result.reason));
  }
  return head + "/>\n";
}

}  // namespace

void JunitReporter::finish(const std::vector<TestResult>& results, const RunSummary& summary) {
  std::map<std::string, std::vector<const TestResult*>> suites;
  for (const auto& result : results) suites[area_of(result.name)].push_back(&result);
  const Counts& total = summary.counts;
  std::ofstream& out = this->out();
  errno = 0;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << fmt::format(
      "<testsuites name=\"fusecheck {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
      xml_escape(fs()), results.size(), total.failed + total.xpassed, total.broken, total.skipped + total.xfailed,
      summary.seconds);
  for (const auto& [area, members] : suites) {
    Counts counts;
    double suite_time = 0;
    for (const auto* result : members) {
      counts.add(result->verdict);
      suite_time += result->seconds;
    }
    out << fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
        xml_escape(area), members.size(), counts.failed + counts.xpassed, counts.broken,
        counts.skipped + counts.xfailed, suite_time);
    for (const auto* result : members) out << junit_case(*result, area);
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
  close();
}

// ---------------------------------------------------------------- JSON

namespace {

using Json = nlohmann::json;

// Valid UTF-8 is stored as it is (JSON escapes control characters itself); anything else
// as printable() text plus "<key>_hex" with the exact bytes.
void put_text(Json& object, const std::string& key, const std::string& value) {
  if (valid_utf8(value)) {
    object[key] = value;
    return;
  }
  object[key] = printable(value);
  object[key + "_hex"] = hex_bytes(value);
}

void put_lines(Json& object, const std::string& key, const std::vector<std::string>& lines) {
  Json text = Json::array(), hex = Json::array();
  bool any_bytes = false;
  for (const auto& line : lines) {
    bool valid = valid_utf8(line);
    any_bytes = any_bytes || !valid;
    text.push_back(valid ? line : printable(line));
    hex.push_back(hex_bytes(line));
  }
  object[key] = std::move(text);
  if (any_bytes) object[key + "_hex"] = std::move(hex);
}

Json result_json(const TestResult& result) {
  Json test{{"verdict", verdict_name(result.verdict)}, {"seconds", result.seconds}, {"repetition", result.repetition}};
  put_text(test, "name", result.name);
  put_text(test, "reason", result.reason);
  put_text(test, "file", result.scenario ? result.scenario->file : "");
  put_text(test, "title", result.scenario ? result.scenario->title : "");
  put_lines(test, "transcript", result.transcript);
  if (!result.repro_path.empty()) put_text(test, "repro", result.repro_path);
  test["mismatches"] = Json::array();
  for (const auto& mismatch : result.mismatches) {
    Json item{{"section", mismatch.section}, {"step", mismatch.step}};
    put_text(item, "where", mismatch.where);
    put_text(item, "call", mismatch.summary);
    put_text(item, "field", mismatch.field);
    put_text(item, "expected", mismatch.expected);
    put_text(item, "got", mismatch.got);
    put_text(item, "note", mismatch.note);
    test["mismatches"].push_back(std::move(item));
  }
  return test;
}

}  // namespace

void JsonReporter::finish(const std::vector<TestResult>& results, const RunSummary& summary) {
  const Counts& counts = summary.counts;
  Json doc{{"seconds", summary.seconds},
           {"summary",
            {{"passed", counts.passed},
             {"failed", counts.failed},
             {"skipped", counts.skipped},
             {"xfailed", counts.xfailed},
             {"xpassed", counts.xpassed},
             {"broken", counts.broken}}},
           {"tests", Json::array()}};
  put_text(doc, "fs", fs());
  if (!header().shard.empty()) doc["shard"] = header().shard;
  for (const auto& result : results) doc["tests"].push_back(result_json(result));
  std::string text = doc.dump(2);
  errno = 0;
  out() << text << "\n";
  close();
}

// ---------------------------------------------------------------- several

void ReporterList::start(const RunHeader& header) {
  for (auto& reporter : reporters_) reporter->start(header);
}
void ReporterList::notice(const std::string& text) {
  for (auto& reporter : reporters_) reporter->notice(text);
}
void ReporterList::mounted(const Mount& mount) {
  for (auto& reporter : reporters_) reporter->mounted(mount);
}
void ReporterList::result(const TestResult& result) {
  for (auto& reporter : reporters_) reporter->result(result);
}
void ReporterList::finish(const std::vector<TestResult>& results, const RunSummary& summary) {
  std::vector<std::string> failures;
  for (auto& reporter : reporters_) {
    try {
      reporter->finish(results, summary);
    } catch (const HarnessError& error) {
      failures.push_back(error.what());
    }
  }
  if (!failures.empty()) throw HarnessError(fmt::format("{}", fmt::join(failures, "; ")));
}

}  // namespace fusecheck
