#include "duende/framework/log.h"

#include <unistd.h>

#include <ctime>
#include <memory>
#include <mutex>
#include <optional>

#include "duende/framework/clock.h"
#include "duende/framework/io.h"
#include "duende/framework/rotating_file.h"

namespace duende::framework {
namespace {

struct LogState {
  std::mutex mu;
  std::string name = "daemon";
  LogConfig::Level level = LogConfig::Level::kInfo;
  std::optional<RotatingFile> file;
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: logging works during exit
  return *state;
}

std::string Timestamp() {
  int64_t ns = WallClockNs();
  time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

}  // namespace

Result<void> ConfigureLog(const std::string& name, const LogConfig& config) {
  std::optional<RotatingFile> file;
  if (!config.file.empty()) {
    auto f = RotatingFile::Open(config.file, config.max_bytes, config.keep);
    if (!f.ok()) return f.error();
    file.emplace(std::move(f.value()));
  }
  LogState& s = State();
  std::lock_guard lock(s.mu);
  s.name = name.empty() ? "daemon" : name;
  s.level = config.level;
  s.file = std::move(file);
  return {};
}

void ResetLog() {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  s.file.reset();
}

bool LogEnabled(LogConfig::Level level) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  return level >= s.level;
}

void Log(LogConfig::Level level, std::string_view message) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  if (level < s.level) return;
  std::string line = Timestamp() + " " + s.name + "[" + std::to_string(::getpid()) + "] " +
                     LogLevelName(level) + ": ";
  for (char c : message) {
    if (c == '\n') {
      line += "\\n";
    } else {
      line += c;
    }
  }
  line += '\n';
  if (s.file) {
    if (s.file->Write(line).ok()) return;
    // The log file failed (disk full...): the line goes to stderr rather than nowhere.
  }
  (void)WriteAll(STDERR_FILENO, line);
}

}  // namespace duende::framework
