// NotifySocket: the supervisor's end of the sd_notify protocol.
//
// The supervisor creates one datagram socket per service (abstract namespace, so nothing is
// left on disk) and passes its address in NOTIFY_SOCKET; the child sends "READY=1",
// "WATCHDOG=1", "STATUS=...", "STOPPING=1" datagrams, as with systemd (Type=notify). An
// abstract address can be reached by any process of the network namespace, whatever its uid,
// so the socket has SO_PASSCRED on: each datagram carries the sender's pid as the kernel saw
// it, and the supervisor acts only on those from the service's own processes (systemd's
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

/// Parses "KEY=value\n..." lines of one datagram. Pure: any bytes are accepted (a fuzz
/// target's entry point); lines without '=' and unknown keys are ignored, numbers that do not
/// parse whole leave their field empty.
NotifyMessage ParseNotifyMessage(std::string_view datagram);

/// One received datagram and who sent it.
struct NotifyDatagram {
  NotifyMessage message;
  /// The sender's pid and uid from SCM_CREDENTIALS (set by the kernel; a sender can claim
  /// another pid only with CAP_SYS_ADMIN). -1 when the kernel attached none.
  pid_t sender_pid = -1;
  uid_t sender_uid = static_cast<uid_t>(-1);
  /// The datagram was longer than the receive buffer (kMaxDatagram) and was cut: such a
  /// message is dropped by the supervisor, as systemd does.
  bool truncated = false;
};

class NotifySocket {
 public:
  /// Binds a new non-blocking, close-on-exec datagram socket at an abstract address
  /// "@duende/<our pid>/<serial>/<tag>". Errors: socket/bind errno (EMFILE, EADDRINUSE).
  static Result<NotifySocket> Create(std::string_view tag);

  int fd() const { return fd_.get(); }
  /// The NOTIFY_SOCKET value for the child ("@duende/...").
  const std::string& address() const { return address_; }

  /// Longest datagram read whole (systemd's limit is about as big).
  static constexpr size_t kMaxDatagram = 4096;

  /// Reads every pending datagram without blocking, in arrival order, with its sender.
  /// File descriptors passed along (SCM_RIGHTS) are closed at once.
  std::vector<NotifyDatagram> Drain();

 private:
  NotifySocket(UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}

  UniqueFd fd_;
  std::string address_;
};

}  // namespace duende::framework
