#include "duende/harness/syscall_trace.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "duende/framework/sandbox_config.h"

namespace duende::harness {

namespace {

using nlohmann::json;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string Cut(std::string_view s) {
  if (s.size() <= kMaxArgsChars) return std::string(s);
  return std::string(s.substr(0, kMaxArgsChars)) + "...";
}

// "1796584605.253734" -> ns; nullopt when it is not that shape.
std::optional<int64_t> WallNs(std::string_view ts) {
  size_t dot = ts.find('.');
  if (dot == std::string_view::npos || dot == 0 || ts.size() - dot - 1 != 6) return std::nullopt;
  int64_t sec = 0, us = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i == dot) continue;
    if (ts[i] < '0' || ts[i] > '9') return std::nullopt;
    int64_t& v = i < dot ? sec : us;
    v = v * 10 + (ts[i] - '0');
  }
  return sec * 1000000000 + us * 1000;
}

// "... = -1 ENOSPC (No space left on device) <0.000012>" tail: the part after the call's
// closing parenthesis. Fills ret, err, dur_ns.
void ParseResult(std::string_view tail, SyscallRecord* r) {
  tail = Trim(tail);
  if (!tail.empty() && tail.back() == '>') {
    size_t lt = tail.rfind('<');
    if (lt != std::string_view::npos) {
      std::string d(tail.substr(lt + 1, tail.size() - lt - 2));
      char* end = nullptr;
      double sec = std::strtod(d.c_str(), &end);
      if (end != d.c_str() && *end == '\0') r->dur_ns = static_cast<int64_t>(sec * 1e9 + 0.5);
      tail = Trim(tail.substr(0, lt));
    }
  }
  size_t eq = tail.rfind(" = ");
  if (eq == std::string_view::npos) {
    if (tail.rfind("= ", 0) == 0)
      eq = 0;  // "= 0" right after ')' with no padding
    else
      return;
  }
  std::string_view res = Trim(tail.substr(eq + (tail[eq] == ' ' ? 3 : 2)));
  size_t sp = res.find(' ');
  r->ret = std::string(res.substr(0, sp));
  if (r->ret == "-1" && sp != std::string_view::npos) {
    std::string_view rest = Trim(res.substr(sp));
    size_t e = rest.find(' ');
    std::string_view name = rest.substr(0, e);
    if (!name.empty() && name[0] == 'E') r->err = std::string(name);
  }
}

// The call's argument text and the rest: "fsync(5) = -1 ..." -> ("5", " = -1 ..."). strace's
// strings are quoted with escapes, so parentheses inside quotes do not count.
std::pair<std::string_view, std::string_view> SplitArgs(std::string_view s) {
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"')
      quoted = true;
    else if (c == '(' || c == '[' || c == '{')
      ++depth;
    else if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0 && c == ')') return {s.substr(1, i - 1), s.substr(i + 1)};
    }
  }
  return {s.substr(std::min<size_t>(1, s.size())), std::string_view()};
}

int64_t Percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k];
}

bool Failed(const SyscallRecord& c) {
  return c.ret == "-1" && !c.err.empty() && c.err != "EAGAIN" && c.err != "EWOULDBLOCK" &&
         c.err != "EINPROGRESS";
}

}  // namespace

std::optional<SyscallRecord> StraceParser::Feed(std::string_view line) {
  // "PID  SECONDS.MICROS REST"
  line = Trim(line);
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  pid_t tid = 0;
  for (char c : line.substr(0, sp)) {
    if (c < '0' || c > '9') return std::nullopt;  // "strace: Process 12 attached" and the like
    tid = tid * 10 + (c - '0');
  }
  std::string_view rest = Trim(line.substr(sp));
  sp = rest.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  auto wall = WallNs(rest.substr(0, sp));
  if (!wall) return std::nullopt;
  const int64_t t = *wall - offset_ns_;
  rest = Trim(rest.substr(sp));
  if (rest.rfind("+++", 0) == 0 || rest.rfind("---", 0) == 0) return std::nullopt;
  if (rest.rfind("<... ", 0) == 0) {
    // "<... read resumed>ARGS) = 5 <0.1>"
    size_t end = rest.find(" resumed>");
    if (end == std::string_view::npos) return std::nullopt;
    auto it = pending_.find(tid);
    if (it == pending_.end()) return std::nullopt;
    Pending p = std::move(it->second);
    pending_.erase(it);
    std::string_view after = rest.substr(end + 9);
    std::string joined = p.args + std::string(after);
    // Find the end of the arguments in the joined text: re-split "(" + joined.
    std::string with_paren = "(" + joined;
    auto [args, tail] = SplitArgs(with_paren);
    SyscallRecord r;
    r.tid = tid;
    r.start_ns = p.start_ns;
    r.name = std::move(p.name);
    r.args = Cut(args);
    ParseResult(tail, &r);
    return r;
  }
  size_t paren = rest.find('(');
  if (paren == std::string_view::npos || paren == 0) return std::nullopt;
  std::string_view name = rest.substr(0, paren);
  for (char c : name) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  std::string_view body = rest.substr(paren);
  const std::string_view kUnfinished = " <unfinished ...>";
  if (body.size() >= kUnfinished.size() &&
      body.substr(body.size() - kUnfinished.size()) == kUnfinished) {
    std::string_view partial = body.substr(1, body.size() - 1 - kUnfinished.size());
    pending_[tid] = Pending{t, std::string(name), std::string(partial)};
    return std::nullopt;
  }
  auto [args, tail] = SplitArgs(body);
  SyscallRecord r;
  r.tid = tid;
  r.start_ns = t;
  r.name = std::string(name);
  r.args = Cut(args);
  ParseResult(tail, &r);
  return r;
}

bool IsWaitingSyscall(std::string_view name) {
  static constexpr std::array<std::string_view, 22> kWaiting = {
      "epoll_wait",      "epoll_pwait",   "epoll_pwait2", "poll",
      "ppoll",           "select",        "pselect6",     "nanosleep",
      "clock_nanosleep", "futex",         "accept",       "accept4",
      "wait4",           "waitid",        "pause",        "rt_sigtimedwait",
      "rt_sigsuspend",   "read",          "recvfrom",     "recvmsg",
      "io_getevents",    "io_uring_enter"};
  return std::find(kWaiting.begin(), kWaiting.end(), name) != kWaiting.end();
}

bool IsTraceableSyscall(const std::string& name) {
  static constexpr std::array<std::string_view, 20> kClasses = {
      "%file",   "%process", "%network", "%net",     "%signal", "%ipc",   "%desc",
      "%memory", "%creds",   "%clock",   "%pure",    "%stat",   "%lstat", "%fstat",
      "%%stat",  "%statfs",  "%fstatfs", "%%statfs", "all",     "none"};
  if (std::find(kClasses.begin(), kClasses.end(), name) != kClasses.end()) return true;
  if (name.empty()) return false;
  for (char c : name) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return framework::SyscallNumber(name) >= 0;
}

json CallToJson(const SyscallRecord& c) {
  return json{{"tid", c.tid},
              {"t_ns", c.start_ns},
              {"name", c.name},
              {"args", c.args},
              {"ret", c.ret},
              {"errno", c.err},
              {"dur_us", c.dur_ns < 0 ? json(nullptr) : json(c.dur_ns / 1000)}};
}

json SummarizeSyscalls(const std::vector<SyscallRecord>& calls, size_t limit) {
  struct Row {
    uint64_t count = 0, errors = 0;
    int64_t total_ns = 0;
    std::vector<int64_t> durs;
    std::map<std::string, uint64_t> errnos;
  };
  std::map<std::string, Row> rows;
  for (const auto& c : calls) {
    Row& r = rows[c.name];
    ++r.count;
    if (Failed(c)) {
      ++r.errors;
      ++r.errnos[c.err];
    }
    if (c.dur_ns >= 0) {
      r.durs.push_back(c.dur_ns);
      r.total_ns += c.dur_ns;
    }
  }
  std::vector<std::pair<std::string, Row*>> order;
  for (auto& [name, r] : rows) order.emplace_back(name, &r);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  json out = json::array();
  for (auto& [name, r] : order) {
    if (out.size() >= limit) break;
    json errnos = json::object();
    for (const auto& [e, n] : r->errnos) errnos[e] = n;
    out.push_back({{"name", name},
                   {"count", r->count},
                   {"errors", r->errors},
                   {"errnos", errnos},
                   {"p50_us", static_cast<double>(Percentile(r->durs, 0.50)) / 1000.0},
                   {"p99_us", static_cast<double>(Percentile(r->durs, 0.99)) / 1000.0},
                   {"total_us", r->total_ns / 1000}});
  }
  return out;
}

json WindowCalls(const std::vector<SyscallRecord>& calls, int64_t start_ns, int64_t end_ns,
                 int64_t slow_ns, size_t next_n, size_t limit) {
  // `calls` is in each thread's order (one strace output per process tree, line order);
  // the next calls of a thread are found by scanning forward from the notable one.
  std::vector<size_t> failed, slow;
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& c = calls[i];
    if (c.start_ns < start_ns || c.start_ns > end_ns) continue;
    if (Failed(c)) {
      failed.push_back(i);
    } else if (c.dur_ns >= slow_ns && !IsWaitingSyscall(c.name)) {
      slow.push_back(i);
    }
  }
  json list = json::array();
  auto add = [&](size_t i, const char* why) {
    if (list.size() >= limit) return;
    json j = CallToJson(calls[i]);
    j["why"] = why;
    json next = json::array();
    for (size_t k = i + 1; k < calls.size() && next.size() < next_n; ++k) {
      if (calls[k].tid == calls[i].tid) next.push_back(CallToJson(calls[k]));
    }
    j["next"] = std::move(next);
    list.push_back(std::move(j));
  };
  for (size_t i : failed) add(i, "failed");
  for (size_t i : slow) add(i, "slow");
  return json{{"failed", failed.size()}, {"slow", slow.size()}, {"calls", std::move(list)}};
}

}  // namespace duende::harness
