// WasiBridge: the TCP side of a WASI module that speaks a line protocol on stdin/stdout
// (private to duende::adapters; the wasi platform, docs/adapters.md).
//
// WASI preview 1 cannot listen on a socket, so the bridge listens on the target's address and
// multiplexes every client onto the module's two streams: each complete request line of any
// client is appended to the module's stdin, and the client's id to a FIFO queue; the module
// answers exactly one line per request line, in order, so the n-th reply line belongs to the
// n-th queued id. Lines of different clients are never interleaved within a line (only whole
// lines are forwarded), and a client gone before its reply simply has its reply dropped.
//
// Life cycle follows the module, as a native daemon's own listener would: the address is
// opened once the module printed its banner (its first line: it is ready), and closed with
// every client connection when the module ends (ModuleExited()), so a client sees a refused
// connect while it is down and a tcp probe measures the module's readiness.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::adapters::internal {

class WasiBridge {
 public:
  /// The longest request line a client may send (kvd's limit); longer: "ERR line too long",
  /// then the connection is closed.
  static constexpr size_t kMaxLineBytes = 1 << 20;

  /// Opens the module's FIFOs (`to_module`: its stdin, `from_module`: its stdout; both must
  /// exist) read-write, so neither side ever blocks in open() or sees end-of-file while the
  /// module restarts, and starts the bridge's thread. Errors: open's errno.
  static framework::Result<std::unique_ptr<WasiBridge>> Create(sockaddr_in address,
                                                               const std::string& to_module,
                                                               const std::string& from_module);
  ~WasiBridge();

  /// The module ended: whatever it left unread on its stdin or half-written on its stdout is
  /// dropped, every client is disconnected and the address is closed until the next module
  /// prints its banner. Synchronous: the next module cannot see a request of the last one.
  void ModuleExited();

  struct Stats {
    uint64_t requests = 0;         ///< lines forwarded to the module
    uint64_t replies = 0;          ///< reply lines routed to their client
    uint64_t replies_dropped = 0;  ///< replies whose client was gone
    uint64_t banners = 0;          ///< module instances that became ready
    std::string last_banner;
    std::string listen_error;  ///< why the address could not be opened ("" when it is)
  };
  Stats stats();
  /// True while the address is open (the module is ready).
  bool listening();

 private:
  struct Client {
    framework::UniqueFd fd;
    std::string in;
    std::string out;
    uint64_t awaiting = 0;  // replies still to come
    bool read_closed = false;
    bool starved = false;  // input left in the socket while the module's stdin was full
  };

  WasiBridge(sockaddr_in address, framework::UniqueFd to_module, framework::UniqueFd from_module,
             framework::UniqueFd wake, framework::UniqueFd epoll);

  void Loop();
  void OpenListener();
  void CloseAllLocked();
  void Accept();
  void ReadClient(uint64_t id);
  void FlushClient(uint64_t id);
  void ReadModule();
  void WriteModule();
  void Watch(int fd, uint32_t events, uint64_t id);

  const sockaddr_in address_;
  framework::UniqueFd to_module_;
  framework::UniqueFd from_module_;
  framework::UniqueFd wake_;
  framework::UniqueFd epoll_;
  framework::UniqueFd listener_;

  std::mutex mu_;
  std::map<uint64_t, Client> clients_;
  uint64_t next_id_ = 16;        // ids below are the bridge's own descriptors
  std::deque<uint64_t> queue_;   // who gets the next reply line
  std::string to_send_;          // request lines not yet taken by the module's stdin
  std::string from_module_buf_;  // a reply line not yet complete
  bool banner_seen_ = false;
  Stats stats_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace duende::adapters::internal
