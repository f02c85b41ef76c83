#include "duende/harness/event_recorder.h"

#include "duende/framework/clock.h"

namespace duende::harness {

framework::Result<void> EventRecorder::OpenFile(const std::string& path) {
  auto w = model::EventLogWriter::Open(path);
  if (!w.ok()) return w.error();
  std::lock_guard lock(mu_);
  writer_.emplace(std::move(w).value());
  for (const auto& e : events_) writer_->Append(e);
  return {};
}

int64_t EventRecorder::Record(const std::string& type, const std::string& target,
                              nlohmann::json data) {
  model::Event e;
  e.ts_ns = framework::MonotonicNs();
  e.type = type;
  e.target = target;
  e.data = data.is_null() ? nlohmann::json::object() : std::move(data);
  int64_t ts = e.ts_ns;
  Append(std::move(e));
  return ts;
}

void EventRecorder::Append(model::Event event) {
  std::lock_guard lock(mu_);
  if (writer_) writer_->Append(event);
  if (observer_) observer_(event);
  events_.push_back(std::move(event));
}

void EventRecorder::SetObserver(std::function<void(const model::Event&)> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

std::vector<model::Event> EventRecorder::Snapshot() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::optional<framework::Error> EventRecorder::file_error() const {
  std::lock_guard lock(mu_);
  if (!writer_) return std::nullopt;
  return writer_->error();
}

}  // namespace duende::harness
