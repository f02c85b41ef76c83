#include "variables.h"

#include <algorithm>
#include <cctype>

#include "duende/framework/toml_reader.h"

namespace duende::harness::internal {
namespace {

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

// The length of the "{name}" starting at text[open] ('{'), or 0 when it is not one.
size_t VariableAt(std::string_view text, size_t open) {
  size_t i = open + 1;
  if (i >= text.size() || std::isalpha(static_cast<unsigned char>(text[i])) == 0) return 0;
  while (i < text.size() && NameChar(text[i])) ++i;
  if (i >= text.size() || text[i] != '}') return 0;
  return i - open + 1;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix && s.size() > prefix.size();
}

}  // namespace

std::string ExpandVariables(
    std::string_view text,
    const std::function<std::optional<std::string>(std::string_view)>& lookup) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      if (const size_t len = VariableAt(text, i); len > 0) {
        if (auto value = lookup(text.substr(i + 1, len - 2))) {
          out += *value;
          i += len;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::vector<VariableRef> FindVariables(std::string_view text) {
  std::vector<VariableRef> refs;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') continue;
    const size_t len = VariableAt(text, i);
    if (len == 0) continue;
    if (i == 0 || text[i - 1] != '$') {
      refs.push_back({std::string(text.substr(i + 1, len - 2)), i});
    }
    i += len - 1;
  }
  return refs;
}

bool IsLoadVariable(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "sent",          "ok",     "errors", "timeouts", "abandoned",
      "achieved_rate", "p50_us", "p99_us", "max_us",   "summary"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

const std::vector<std::string>& SelectVariables() {
  static const std::vector<std::string> kNames = {"select.target", "select.address", "select.host",
                                                  "select.port",   "select.node",    "select.pid"};
  return kNames;
}

bool IsSelectVariable(std::string_view name) {
  const auto& names = SelectVariables();
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool IsRunVariable(std::string_view name, const std::vector<std::string>& files,
                   std::string* hint) {
  if (name == "run_dir" || name == "seed" || name == "events") return true;
  if (StartsWith(name, "load.")) {
    if (IsLoadVariable(name.substr(5))) return true;
    *hint =
        "the load summary's fields are {load.sent}, {load.ok}, {load.errors}, "
        "{load.timeouts}, {load.abandoned}, {load.achieved_rate}, {load.p50_us}, "
        "{load.p99_us}, {load.max_us} and {load.summary} (all of it as JSON)";
    return false;
  }
  if (StartsWith(name, "port.") || StartsWith(name, "proxy.") || StartsWith(name, "env.")) {
    return true;
  }
  if (StartsWith(name, "node.")) {
    // {node.NAME.addr} (its address) or {node.NAME.netns} (its namespace's name).
    const size_t dot = name.rfind('.');
    if (dot > 5 && (name.substr(dot) == ".addr" || name.substr(dot) == ".netns")) return true;
    *hint = "a node's variables are {node.NAME.addr} and {node.NAME.netns}";
    return false;
  }
  if (StartsWith(name, "file.")) {
    std::string file(name.substr(5));
    if (std::find(files.begin(), files.end(), file) != files.end()) return true;
    std::string close = framework::DidYouMean(file, files);
    *hint = files.empty() ? "no [[target.file]] is declared; add one with name = \"" + file + "\""
                          : "no [[target.file]] is named \"" + file + "\"" +
                                (close.empty() ? "" : "; did you mean {file." + close + "}?");
    return false;
  }
  std::vector<std::string> known = {"run_dir", "seed", "events"};
  std::string close = framework::DidYouMean(std::string(name), known);
  *hint = close.empty() ? "use {port.NAME}, {proxy.NAME}, {run_dir}, {seed}, {events}, "
                          "{load.FIELD}, {env.VAR}, {file.NAME} or {node.NAME.addr}"
                        : "did you mean {" + close + "}?";
  return false;
}

}  // namespace duende::harness::internal
