#include "duende/reporters/reporter.h"

#include "report_util.h"

namespace duende::reporters {

void MultiReporter::Add(std::unique_ptr<Reporter> reporter) {
  if (reporter) reporters_.push_back(std::move(reporter));
}

void MultiReporter::OnScenarioStart(const ScenarioResult& header) {
  for (auto& r : reporters_) r->OnScenarioStart(header);
}

void MultiReporter::OnEvent(const Event& event) {
  for (auto& r : reporters_) r->OnEvent(event);
}

void MultiReporter::OnScenarioEnd(const ScenarioResult& result) {
  for (auto& r : reporters_) r->OnScenarioEnd(result);
}

void MultiReporter::OnRunEnd(const RunReport& report) {
  for (auto& r : reporters_) r->OnRunEnd(report);
}

std::optional<framework::Error> MultiReporter::error() const {
  for (const auto& r : reporters_) {
    if (auto e = r->error()) return e;
  }
  return std::nullopt;
}

void Replay(const RunReport& report, Reporter& reporter) {
  for (const ScenarioResult& s : report.scenarios) {
    ScenarioResult header = s;
    header.events.clear();
    header.checks.clear();
    header.verdict = Verdict::kPass;
    header.error.clear();
    header.end_ns = 0;
    reporter.OnScenarioStart(header);
    for (const Event& e : s.events) reporter.OnEvent(e);
    reporter.OnScenarioEnd(s);
  }
  reporter.OnRunEnd(report);
}

framework::Result<std::unique_ptr<Reporter>> MakeFileReporter(
    const std::string& path, std::function<std::string(const RunReport&)> render) {
  return internal::FileReporter::Open(path, std::move(render));
}

framework::Result<void> AddFileReporters(MultiReporter& out, const std::vector<ReportFile>& files) {
  using Factory = framework::Result<std::unique_ptr<Reporter>> (*)(const std::string&);
  const std::pair<const char*, Factory> kFactories[] = {
      {"html", MakeHtmlReporter},         {"junit", MakeJunitReporter},
      {"json", MakeJsonReporter},         {"jsonl", MakeJsonLinesReporter},
      {"markdown", MakeMarkdownReporter},
  };
  for (const ReportFile& f : files) {
    if (f.path.empty()) continue;
    Factory make = nullptr;
    for (const auto& [name, factory] : kFactories) {
      if (f.format == name) make = factory;
    }
    if (make == nullptr) return framework::MessageError("unknown report format '" + f.format + "'");
    auto r = make(f.path);
    if (!r) return r.error();
    out.Add(std::move(r.value()));
  }
  return {};
}

}  // namespace duende::reporters
