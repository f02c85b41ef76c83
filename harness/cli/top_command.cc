// duende top [--socket PATH] [--once | --json] [--interval DURATION]: a live terminal view of a
// running `duende supervise` or of a scenario run with `duende run --control PATH`, through
// their control socket. See docs/top.md.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include "cli_util.h"
#include "control_socket.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/supervisor.h"
#include "duende/framework/unique_fd.h"
#include "top_view.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using namespace std::chrono_literals;

constexpr auto kMinInterval = 100ms;
constexpr auto kMaxInterval = std::chrono::nanoseconds(std::chrono::hours(1));

// How long a status reply may take: the interval, kept within 2 to 10 s (a reply that takes
// longer than the interval only delays the next frame; the keys are read meanwhile only
// after it, so it is capped).
std::chrono::milliseconds ReplyTimeout(std::chrono::nanoseconds interval) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::clamp<std::chrono::nanoseconds>(interval, 2s, 10s));
}

// Asks for one status. Errors: as RequestControl; a reply top cannot read (invalid_argument).
framework::Result<TopSample> Fetch(const std::string& socket, std::chrono::milliseconds timeout) {
  auto reply = RequestControl(socket, "status", timeout);
  if (!reply.ok()) return reply.error();
  auto s = ParseTopReply(*reply);
  if (!s.ok()) return s.error();
  if (s->sampled_ns == 0) s->sampled_ns = framework::MonotonicNs();
  return s;
}

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string Clock() {
  char buf[16];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// The terminal in the state the live view needs (no echo, keys without Enter, the alternate
// screen, no cursor), and back as it was: on return, on q, on SIGINT/SIGTERM/SIGHUP, and
// around a stop (Ctrl-Z).
class Terminal {
 public:
  Terminal() { ::tcgetattr(STDIN_FILENO, &saved_); }
  ~Terminal() { Leave(); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  void Enter() {
    if (active_) return;
    termios raw = saved_;
    // Keys one at a time without echo; ISIG stays, so Ctrl-C is a SIGINT (read by the
    // signalfd) and Ctrl-Z a SIGTSTP; output processing stays (\n is \r\n).
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    WriteAll(STDOUT_FILENO, "\x1b[?1049h\x1b[?25l\x1b[2J");
    active_ = true;
  }
  void Leave() {
    if (!active_) return;
    WriteAll(STDOUT_FILENO, "\x1b[?25h\x1b[?1049l");
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    active_ = false;
  }
  /// Columns and lines now (80x24 when the terminal does not say).
  static std::pair<size_t, size_t> Size() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0) {
      return {80, 24};
    }
    return {ws.ws_col, ws.ws_row};
  }

 private:
  termios saved_{};
  bool active_ = false;
};

// Whole lines, each cleared to its end, then everything below cleared: one write per frame,
// so the view does not flicker.
void Draw(const std::vector<std::string>& lines, bool clear_first) {
  std::string out = clear_first ? "\x1b[2J\x1b[H" : "\x1b[H";
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i] + "\x1b[K";
    if (i + 1 < lines.size()) out += "\r\n";
  }
  out += "\x1b[J";
  WriteAll(STDOUT_FILENO, out);
}

int Live(const std::string& socket, std::chrono::nanoseconds interval) {
  if (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0) {
    PrintError(
        "the live view needs a terminal on stdin and stdout; use --once or --json "
        "in scripts");
    return framework::kExitUsage;
  }
  const auto timeout = ReplyTimeout(interval);
  // The first status before the terminal changes: a missing socket is a plain error.
  auto first = Fetch(socket, timeout);
  if (!first.ok()) {
    PrintError(first.error().Message());
    return framework::kExitEnvironment;
  }
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP, SIGCONT}) sigaddset(&mask, sig);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  framework::UniqueFd sfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) {
    PrintError(std::string("signalfd: ") + std::strerror(errno));
    return framework::kExitEnvironment;
  }
  Terminal term;
  term.Enter();
  std::optional<TopSample> prev;
  TopSample now = std::move(first).value();
  std::string status;
  const std::string every = "every " + framework::FormatDuration(interval) + ", q quits";
  auto frame = MakeTopFrame(nullptr, now);
  auto render = [&](bool clear) {
    auto [w, h] = Terminal::Size();
    Draw(RenderTopText(frame, socket, Clock() + "  " + every, w, h, status), clear);
  };
  render(true);
  int64_t next = framework::MonotonicNs() + interval.count();
  while (true) {
    const int64_t wait_ns = std::max<int64_t>(0, next - framework::MonotonicNs());
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>((wait_ns + 999'999) / 1'000'000));
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      while (::read(sfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        const int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          render(true);
        } else if (sig == SIGTSTP) {
          // Back to the shell as it was, then really stop; SIGCONT brings the view back.
          term.Leave();
          ::kill(::getpid(), SIGSTOP);
        } else if (sig == SIGCONT) {
          term.Enter();
          render(true);
        } else {
          term.Leave();
          return framework::kExitInterrupted;
        }
      }
    }
    if (n > 0 && (fds[0].revents & (POLLHUP | POLLERR)) != 0) break;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      char keys[64];
      ssize_t got = ::read(STDIN_FILENO, keys, sizeof keys);
      if (got == 0) break;
      for (ssize_t i = 0; i < got; ++i) {
        if (keys[i] == 'q' || keys[i] == 'Q') {
          term.Leave();
          return framework::kExitOk;
        }
      }
    }
    if (framework::MonotonicNs() < next) continue;
    next += interval.count();
    if (next < framework::MonotonicNs()) next = framework::MonotonicNs() + interval.count();
    auto got = Fetch(socket, timeout);
    if (got.ok()) {
      prev = std::move(now);
      now = std::move(got).value();
      status.clear();
      frame = MakeTopFrame(&*prev, now);
    } else {
      // The server went away (the scenario ended, the supervisor stopped): keep the last
      // figures, say so, and keep asking.
      status = "no status since " + Clock() + ": " + got.error().Message();
    }
    render(false);
  }
  term.Leave();
  return framework::kExitOk;
}

}  // namespace

int TopMain(int argc, char** argv) {
  CLI::App app(
      "A live view of a running `duende supervise`, or of a scenario run with `duende run "
      "--control PATH`: per service or target the state, pid, restarts, CPU %, RSS, fds and "
      "locked memory; for a scenario also req/s, errors, p99 and the active faults. q quits.",
      "top");
  std::string socket = framework::DefaultControlSocket();
  bool once = false;
  bool as_json = false;
  std::string interval_text = "1s";
  app.add_option("--socket", socket,
                 "control socket of `duende supervise` (its default) or of `duende run "
                 "--control PATH`")
      ->capture_default_str();
  app.add_flag("--once", once,
               "print one frame as plain text and exit (it takes two samples --interval apart, "
               "so CPU % and req/s are rates)");
  app.add_flag("--json", as_json, "print one frame as one JSON object and exit (as --once)");
  app.add_option("--interval", interval_text, "time between refreshes (100ms to 1h)")
      ->capture_default_str()
      ->type_name("DURATION");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  if (once && as_json) {
    PrintError("--once and --json are two formats of one frame: give one of them");
    return framework::kExitUsage;
  }
  if (std::string why = ControlPathProblem(socket); !why.empty()) {
    PrintError("--socket: " + why);
    return framework::kExitUsage;
  }
  auto interval = framework::ParseDurationIn(interval_text, kMinInterval, kMaxInterval);
  if (!interval.ok()) {
    PrintError("--interval: " + interval.error().context);
    return framework::kExitUsage;
  }
  if (!once && !as_json) return Live(socket, *interval);

  const auto timeout = ReplyTimeout(*interval);
  auto first = Fetch(socket, timeout);
  if (!first.ok()) {
    PrintError(first.error().Message());
    return framework::kExitEnvironment;
  }
  ::usleep(static_cast<useconds_t>(interval->count() / 1000));
  auto second = Fetch(socket, timeout);
  if (!second.ok()) {
    PrintError(second.error().Message());
    return framework::kExitEnvironment;
  }
  const TopFrame frame = MakeTopFrame(&*first, *second);
  if (as_json) {
    std::cout << RenderTopJson(frame, socket)
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << '\n';
  } else {
    for (const auto& line : RenderTopText(frame, socket, Clock(), 0, 0, "")) {
      std::cout << line << '\n';
    }
  }
  return framework::kExitOk;
}

}  // namespace duende::cli
