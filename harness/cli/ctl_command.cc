// duende ctl [--socket P] [--json] status|start|stop|restart [NAME]: talks to a running
// `duende supervise` through its control socket. See docs/supervise.md.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/supervisor.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using nlohmann::json;

framework::Result<std::string> Request(const std::string& path, const std::string& line) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return framework::MessageError("control socket path is too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  framework::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return framework::ErrnoError("unable to create socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return framework::ErrnoError("unable to connect to " + path +
                                 " (is `duende supervise` running?)");
  }
  std::string req = line + "\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return framework::ErrnoError("unable to send to " + path);
  }
  std::string reply;
  char buf[65536];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  if (n < 0) return framework::ErrnoError("unable to read from " + path);
  return reply;
}

std::string Ago(double seconds) {
  return framework::FormatDuration(std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9)));
}

void PrintTable(const json& services) {
  std::cout << std::left << std::setw(16) << "NAME" << std::setw(10) << "STATE" << std::setw(9)
            << "PID" << std::setw(10) << "FOR" << std::setw(10) << "RESTARTS"
            << "LAST EXIT / REASON\n";
  for (const auto& s : services) {
    std::string pid = s["pid"].get<int>() > 0 ? std::to_string(s["pid"].get<int>()) : "-";
    std::string note;
    if (!s["last_exit"].is_null()) note = s["last_exit"]["text"].get<std::string>();
    if (!s["reason"].get<std::string>().empty()) {
      note += (note.empty() ? "" : "; ") + s["reason"].get<std::string>();
    }
    if (s.contains("next_start_in_s")) {
      note += (note.empty() ? "" : "; ") + std::string("next start in ") +
              Ago(std::max(0.0, s["next_start_in_s"].get<double>()));
    }
    if (!s["status"].get<std::string>().empty()) {
      note += (note.empty() ? "" : "; ") + std::string("status: ") + s["status"].get<std::string>();
    }
    std::cout << std::left << std::setw(16) << s["name"].get<std::string>() << std::setw(10)
              << s["state"].get<std::string>() << std::setw(9) << pid << std::setw(10)
              << Ago(s["since_s"].get<double>()) << std::setw(10) << s["restarts"].get<uint64_t>()
              << note << '\n';
  }
}

}  // namespace

int CtlMain(int argc, char** argv) {
  CLI::App app("Query or command a running `duende supervise` through its control socket.", "ctl");
  std::string socket_path = framework::DefaultControlSocket();
  std::string command;
  std::string name;
  bool as_json = false;
  app.add_option("--socket", socket_path, "control socket path")->capture_default_str();
  app.add_flag("--json", as_json, "print the reply as JSON");
  app.add_option("command", command, "status, start, stop or restart")
      ->required()
      ->check(CLI::IsMember({"status", "start", "stop", "restart"}));
  app.add_option("name", name, "service name (required for start, stop, restart)");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  if (command != "status" && name.empty()) {
    PrintError("'" + command + "' needs a service name (see 'duende ctl --help')");
    return framework::kExitUsage;
  }
  auto reply = Request(socket_path, name.empty() ? command : command + " " + name);
  if (!reply.ok()) {
    PrintError(reply.error().Message());
    return framework::kExitEnvironment;
  }
  json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok")) {
    PrintError("unexpected reply from " + socket_path);
    return framework::kExitEnvironment;
  }
  if (!j["ok"].get<bool>()) {
    PrintError(j.value("error", std::string("request failed")));
    return j.value("usage", false) ? framework::kExitUsage : framework::kExitFailed;
  }
  if (as_json) {
    std::cout << j.dump(2) << '\n';
  } else if (command == "status") {
    PrintTable(j["services"]);
  } else {
    const auto& s = j["services"][0];
    std::cout << s["name"].get<std::string>() << ": " << command << " requested; now "
              << s["state"].get<std::string>() << '\n';
  }
  return framework::kExitOk;
}

}  // namespace duende::cli
