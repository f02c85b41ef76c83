// A minimal HTTP/1.0 GET over loopback for tests that scrape /metrics endpoints, and a check
// of the text with Debian's promtool.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>

#include "duende/framework/unique_fd.h"
#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::testing {

struct HttpReply {
  int status = 0;  ///< 0 when the request failed
  std::string body;
};

/// A loopback listener held for a test's life: its port is "in use".
struct HeldPort {
  framework::UniqueFd fd;
  int port = 0;  ///< 0 when it could not be had
  HeldPort() {
    fd.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::listen(fd.get(), 1) == 0 &&
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
  }
};

/// GET http://127.0.0.1:port/path; gives up after `timeout` in total.
inline HttpReply HttpGet(int port, const std::string& path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  HttpReply r;
  framework::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return r;
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return r;
  }
  std::string all;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return r;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return r;
    char buf[8192];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return r;
    if (n == 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  size_t sp = all.find(' ');
  size_t head_end = all.find("\r\n\r\n");
  if (sp == std::string::npos || head_end == std::string::npos) return r;
  r.status = std::atoi(all.c_str() + sp + 1);
  r.body = all.substr(head_end + 4);
  return r;
}

/// The value of the first sample line starting with `series` ("name{labels}" exactly as
/// written, or a bare name) followed by a space; NaN when there is none.
inline double SampleValue(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n')
      return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
    at += series.size() + 1;
  }
  return std::nan("");
}

/// `promtool check metrics` on `text`: "" when it passes, else its complaint.
inline std::string PromtoolProblems(const std::string& text) {
  TempDir dir("promtool");
  const std::string file = dir.Write("metrics.txt", text);
  CliResult r = RunCli("promtool check metrics < " + file);
  return r.code == 0 ? "" : "promtool exit " + std::to_string(r.code) + ": " + r.out;
}

}  // namespace duende::testing
