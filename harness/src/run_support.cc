#include "run_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "duende/framework/io.h"
#include "duende/framework/unique_fd.h"

namespace duende::harness::internal {
namespace {

constexpr size_t kTailBytes = 64 << 10;

std::vector<std::string> SplitPath(const std::string& relative) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= relative.size()) {
    const size_t slash = relative.find('/', start);
    parts.push_back(relative.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace

framework::Result<std::string> WriteRunFile(const std::string& run_dir, const std::string& relative,
                                            const std::string& content, mode_t mode) {
  const std::vector<std::string> parts = SplitPath(relative);
  if (relative.empty() || relative.front() == '/') {
    return framework::ErrnoError("file path '" + relative + "' is not relative", EINVAL);
  }
  for (const auto& p : parts) {
    if (p.empty() || p == "." || p == "..") {
      return framework::ErrnoError("file path '" + relative + "' leaves the run directory", EINVAL);
    }
  }
  framework::UniqueFd dir(::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return framework::ErrnoError("unable to open the run directory " + run_dir);
  std::string so_far = run_dir;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    so_far += "/" + parts[i];
    if (::mkdirat(dir.get(), parts[i].c_str(), 0700) != 0 && errno != EEXIST) {
      return framework::ErrnoError("unable to create " + so_far);
    }
    framework::UniqueFd next(
        ::openat(dir.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return framework::ErrnoError("unable to open " + so_far + " (not a directory?)");
    dir = std::move(next);
  }
  const std::string path = run_dir + "/" + relative;
  framework::UniqueFd fd(::openat(dir.get(), parts.back().c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return framework::ErrnoError("unable to create " + path);
  if (auto w = framework::WriteAll(fd.get(), content); !w.ok()) {
    return framework::ErrnoError("unable to write " + path, w.error().code.value());
  }
  // The mode is set explicitly: open()'s is filtered by the umask.
  if (::fchmod(fd.get(), mode) != 0) return framework::ErrnoError("unable to chmod " + path);
  if (::close(fd.Release()) != 0) return framework::ErrnoError("unable to write " + path);
  return path;
}

LoadConfig LoadConfigFor(const LoadSpec& l, std::chrono::nanoseconds timeline, uint64_t seed) {
  LoadConfig c;
  c.protocol = l.protocol;
  c.mode = l.mode;
  c.rate = l.rate;
  c.connections = l.connections;
  const auto end = l.duration ? l.start + *l.duration : timeline;
  c.duration = std::max<std::chrono::nanoseconds>(end - l.start, std::chrono::milliseconds(100));
  c.timeout = l.timeout;
  // No `keys`: unique keys (every write a fresh key, so no later write can hide a lost one)
  // when there is a read-back, else 64 (docs/load.md).
  c.keys = l.keys != 0 ? l.keys : l.readback_request.empty() ? 64 : 0;
  c.seed = seed;
  c.http_path = l.http_path;
  c.traceparent = l.traceparent;
  if (!l.readback_request.empty()) {
    c.write_template = l.request;
    c.read_template = l.readback_request;
    c.read_expect = l.readback_expect;
  }
  c.request = l.request;
  c.expect = l.expect;
  for (const LoadOpSpec& op : l.ops) {
    c.ops.push_back({op.f, op.request, op.expect, op.weight, op.path});
  }
  c.http_method = l.http_method;
  if (!l.spread.empty()) c.spread = l.spread;
  // A mixed workload names its keys itself ("INCR {key}"); one key unless `keys` says more.
  if (!l.ops.empty() && l.keys == 0) c.keys = 1;
  c.value = l.value;
  c.terminator = l.terminator;
  c.reply = ReplyFraming{l.reply_lines, l.reply_end};
  c.read_reply = ReplyFraming{l.readback_reply_lines, l.readback_reply_end};
  return c;
}

std::vector<std::string> LastLines(const std::string& path, size_t max_lines) {
  std::vector<std::string> lines;
  framework::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || max_lines == 0) return lines;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return lines;
  const off_t size = st.st_size;
  const off_t from =
      size > static_cast<off_t>(kTailBytes) ? size - static_cast<off_t>(kTailBytes) : 0;
  std::string buf(static_cast<size_t>(size - from), '\0');
  const ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), from);
  if (n <= 0) return lines;
  buf.resize(static_cast<size_t>(n));
  // A partial first line (cut by the 64 KiB window) is dropped.
  size_t start = 0;
  if (from > 0) {
    const size_t nl = buf.find('\n');
    start = nl == std::string::npos ? buf.size() : nl + 1;
  }
  while (start < buf.size()) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) nl = buf.size();
    std::string line = buf.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = nl + 1;
  }
  if (lines.size() > max_lines)
    lines.erase(lines.begin(), lines.end() - static_cast<long>(max_lines));
  return lines;
}

}  // namespace duende::harness::internal
