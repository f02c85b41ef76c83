// duende ctl [--socket P] [--json] status|start|stop|restart [NAME]: talks to a running
// `duende supervise` through its control socket. See docs/supervise.md.

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "control_socket.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/supervisor.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using nlohmann::json;

// What PrintTable and the verbs read, checked before use: "" when `j` has that shape, else
// what is wrong. (A reply is data from another process: it must not be able to abort ctl.)
std::string CheckReplyShape(const json& j) {
  if (!j.is_object()) return "not a JSON object";
  if (!j.contains("ok") || !j["ok"].is_boolean()) return "no boolean \"ok\"";
  if (!j["ok"].get<bool>()) {
    if (j.contains("error") && !j["error"].is_string()) return "\"error\" is not a string";
    if (j.contains("usage") && !j["usage"].is_boolean()) return "\"usage\" is not a boolean";
    return "";
  }
  if (!j.contains("services") || !j["services"].is_array()) return "no \"services\" array";
  for (const auto& s : j["services"]) {
    if (!s.is_object()) return "a service is not an object";
    for (const char* key : {"name", "state", "reason", "status"}) {
      if (!s.contains(key) || !s[key].is_string()) {
        return std::string("a service has no string \"") + key + "\"";
      }
    }
    if (!s.contains("pid") || !s["pid"].is_number_integer())
      return "a service has no integer \"pid\"";
    if (!s.contains("restarts") || !s["restarts"].is_number_unsigned()) {
      return "a service has no unsigned \"restarts\"";
    }
    if (!s.contains("since_s") || !s["since_s"].is_number())
      return "a service has no number \"since_s\"";
    if (s.contains("next_start_in_s") && !s["next_start_in_s"].is_number()) {
      return "\"next_start_in_s\" is not a number";
    }
    if (!s.contains("last_exit")) return "a service has no \"last_exit\"";
    if (!s["last_exit"].is_null() &&
        (!s["last_exit"].is_object() || !s["last_exit"].contains("text") ||
         !s["last_exit"]["text"].is_string())) {
      return "\"last_exit\" is neither null nor an object with a string \"text\"";
    }
  }
  return "";
}

std::string Ago(double seconds) {
  // From the reply: keep a nonsense value (NaN, 1e300) inside int64 nanoseconds.
  if (!(seconds >= 0)) seconds = 0;
  if (seconds > 1e9) seconds = 1e9;
  return framework::FormatDuration(std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9)));
}

void PrintTable(const json& services) {
  std::cout << std::left << std::setw(16) << "NAME" << std::setw(10) << "STATE" << std::setw(9)
            << "PID" << std::setw(10) << "FOR" << std::setw(10) << "RESTARTS"
            << "LAST EXIT / REASON\n";
  for (const auto& s : services) {
    std::string pid = s["pid"].get<int64_t>() > 0 ? std::to_string(s["pid"].get<int64_t>()) : "-";
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
  auto reply = RequestControl(socket_path, name.empty() ? command : command + " " + name);
  if (!reply.ok()) {
    PrintError(reply.error().Message());
    return framework::kExitEnvironment;
  }
  json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  std::string bad = j.is_discarded() ? "not JSON" : CheckReplyShape(j);
  if (bad.empty() && j["ok"].get<bool>() && command != "status" && j["services"].empty()) {
    bad = "no service in the reply";
  }
  if (!bad.empty()) {
    PrintError("malformed reply from " + socket_path + ": " + bad);
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
