// NotifySocket: the supervisor's end of the sd_notify protocol.
//
// The supervisor creates one datagram socket per service (abstract namespace, so nothing is
// left on disk) and passes its address in NOTIFY_SOCKET; the child sends "READY=1",
// "WATCHDOG=1", "STATUS=...", "STOPPING=1" datagrams, as with systemd (Type=notify,
// NotifyAccess=all). The child's end is Notifier (notify.h).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

/// One datagram, parsed. Unknown assignments are ignored (as systemd does).
struct NotifyMessage {
  bool ready = false;
  bool stopping = false;
  bool watchdog = false;
  bool reloading = false;
  std::optional<std::string> status;  ///< STATUS=
  std::optional<int> errno_value;     ///< ERRNO=
  std::optional<pid_t> main_pid;      ///< MAINPID=
};

/// Parses "KEY=value\n..." lines of one datagram.
NotifyMessage ParseNotifyMessage(std::string_view datagram);

class NotifySocket {
 public:
  /// Binds a new non-blocking, close-on-exec datagram socket at an abstract address
  /// "@duende/<our pid>/<serial>/<tag>". Errors: socket/bind errno (EMFILE, EADDRINUSE).
  static Result<NotifySocket> Create(std::string_view tag);

  int fd() const { return fd_.get(); }
  /// The NOTIFY_SOCKET value for the child ("@duende/...").
  const std::string& address() const { return address_; }

  /// Reads every pending datagram without blocking, in arrival order.
  std::vector<NotifyMessage> Drain();

 private:
  NotifySocket(UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}

  UniqueFd fd_;
  std::string address_;
};

}  // namespace duende::framework
