// The control socket of `duende supervise` (server side) and its access rules. The protocol
// is one request line per connection ("status", "start NAME", ...) and one JSON reply line.
// See docs/supervise.md and docs/security.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "duende/framework/event_loop.h"
#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::cli {

/// Who may use the control socket: root, the supervisor's effective uid, and members of
/// `group` (primary or supplementary group of the connecting process) when set.
struct ControlAccess {
  std::optional<gid_t> group;
};

/// Binds and listens on `path`. When `private_dir` is true (the default path) its directory
/// is created and checked first (owned by us, mode 0700; 0710 with the control group, which
/// it is then given). A stale socket of ours left by a killed supervisor is replaced; any
/// other file at `path` is refused. The socket gets mode 0600 (0660 with the group).
/// Errors: a refused directory or file (EPERM, ENOTDIR), bind/listen errno, EADDRINUSE when
/// another supervisor answers on `path`.
framework::Result<framework::UniqueFd> ListenControlSocket(const std::string& path,
                                                           const ControlAccess& access,
                                                           bool private_dir);

/// Checks the peer of a connected unix socket against `access`. Returns "" when allowed,
/// else why not ("uid 65534 (pid 123) is neither root, uid 0, nor in group 7").
std::string CheckControlPeer(int fd, const ControlAccess& access);

/// Why `path` cannot name a unix socket ("" when it can): empty or longer than sun_path
/// allows. For checking a path option before anything starts (exit 2).
std::string ControlPathProblem(const std::string& path);

/// The client side: sends `line` to the control socket at `path` (of `duende supervise`, or of
/// `duende run --control`) and returns the whole reply. The server must run as root or as our
/// effective uid (else EPERM: a socket someone else put at that path gets no request); each of
/// connect, send and the reply must come within `timeout`. Errors: connect's errno (ENOENT: no
/// socket, ECONNREFUSED: nobody serves it, EACCES: no permission), EPERM, ETIMEDOUT, a reply
/// longer than kMaxControlReply.
framework::Result<std::string> RequestControl(
    const std::string& path, const std::string& line,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// One reply line of a control socket: `reply` as JSON and a newline. Text that is not UTF-8
/// (a service's STATUS=, a client's request echoed back) is replaced, never thrown on: a
/// strict dump would end the supervisor or the run on its own event loop.
std::string ControlReplyLine(const nlohmann::json& reply);

/// A reply bigger than this is not from a supervisor (a status of thousands of services is a
/// few MB).
inline constexpr size_t kMaxControlReply = 16u << 20;

/// Serves the control socket on the supervisor's event loop, without ever blocking it: reads
/// and writes are non-blocking, each connection must finish within `timeout` (else it is
/// closed), at most kMaxConnections are open at once (more are accepted and closed), and when
/// accept fails for lack of descriptors (EMFILE, ENFILE) the listener rests for kAcceptPause
/// instead of waking the loop again at once.
class ControlServer {
 public:
  /// Turns one request line into one reply line (with its '\n').
  using Handler = std::function<std::string(const std::string& request)>;
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxRequest = 4096;
  static constexpr std::chrono::milliseconds kAcceptPause{200};

  ControlServer(framework::EventLoop* loop, framework::UniqueFd listener, ControlAccess access,
                std::chrono::nanoseconds timeout, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Starts watching the listener. Errors: epoll_ctl's errno.
  framework::Result<void> Start();

  /// Connections refused by the peer check so far.
  uint64_t refused() const { return refused_; }

 private:
  struct Conn {
    framework::UniqueFd fd;
    std::string in;
    std::string out;
    framework::EventLoop::TimerId timer = 0;
  };

  void Accept();
  void Pause();
  void OnConn(Conn* c, uint32_t events);
  void Close(Conn* c);
  void Refuse(framework::UniqueFd fd, const std::string& why);

  framework::EventLoop* loop_;
  framework::UniqueFd listener_;
  ControlAccess access_;
  std::chrono::nanoseconds timeout_;
  Handler handler_;
  std::map<int, std::unique_ptr<Conn>> conns_;
  bool paused_ = false;
  framework::EventLoop::TimerId resume_timer_ = 0;
  uint64_t refused_ = 0;
  int64_t last_refusal_note_ns_ = 0;
  uint64_t refused_unreported_ = 0;
};

}  // namespace duende::cli
