#include <algorithm>
#include <cctype>

#include "duende/framework/result.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

// Splits "a.b.c=value" into path segments and the value text.
framework::Result<std::pair<std::vector<std::string>, std::string>> SplitOverride(
    const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return framework::MessageError("--set " + text +
                                   ": expected key.path=value, e.g. --set load.rate=500");
  }
  std::vector<std::string> path;
  std::string key = text.substr(0, eq);
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string seg = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (seg.empty()) {
      return framework::MessageError("--set " + text + ": empty segment in the key path");
    }
    path.push_back(seg);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return std::make_pair(path, text.substr(eq + 1));
}

toml::table* SelectElement(toml::array& arr, const std::string& seg) {
  bool numeric = !seg.empty() && std::all_of(seg.begin(), seg.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch)) != 0;
  });
  if (numeric) {
    // Checked digit by digit: an index is never used to size anything, and a long one must not
    // throw (std::stoul would) or wrap.
    if (seg.size() > 9) return nullptr;
    const size_t i = std::stoul(seg);
    if (i < arr.size()) return arr[i].as_table();
    return nullptr;
  }
  for (auto& item : arr) {
    toml::table* t = item.as_table();
    if (t == nullptr) continue;
    if (auto n = (*t)["name"].value<std::string>(); n && *n == seg) return t;
    // Faults and checks without a name are known by their kind.
    if (!t->contains("name")) {
      if (auto k = (*t)["kind"].value<std::string>(); k && *k == seg) return t;
    }
  }
  return nullptr;
}

}  // namespace

framework::Result<void> ApplyOverride(toml::table& root, const std::string& override_text) {
  auto split = SplitOverride(override_text);
  if (!split.ok()) return split.error();
  auto& [path, value_text] = split.value();
  toml::table* table = &root;
  std::string walked;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const std::string& seg = path[i];
    toml::node* n = table->get(seg);
    walked += (walked.empty() ? "" : ".") + seg;
    if (n == nullptr) {
      // A missing sub-table is created so that optional tables can be set from the CLI.
      table->insert(seg, toml::table{});
      table = table->get(seg)->as_table();
      continue;
    }
    if (toml::table* t = n->as_table()) {
      table = t;
      continue;
    }
    if (toml::array* arr = n->as_array()) {
      if (i + 2 >= path.size()) {
        return framework::MessageError("--set " + override_text + ": '" + walked +
                                       "' is an array of tables; name an element, e.g. " + walked +
                                       ".0.KEY=VALUE or " + walked + ".NAME.KEY=VALUE");
      }
      toml::table* el = SelectElement(*arr, path[i + 1]);
      if (el == nullptr) {
        return framework::MessageError("--set " + override_text + ": no element '" + path[i + 1] +
                                       "' in [[" + walked + "]] (use its index 0.." +
                                       std::to_string(arr->size() - (arr->empty() ? 0 : 1)) +
                                       " or its name)");
      }
      ++i;
      walked += "." + path[i];
      table = el;
      continue;
    }
    return framework::MessageError("--set " + override_text + ": '" + walked +
                                   "' is a value, not a table");
  }
  // Parse the value as TOML; fall back to a plain string so "--set scenario.name=x" works.
  try {
    toml::table parsed = toml::parse("v = " + value_text);
    if (toml::node* v = parsed.get("v")) {
      table->insert_or_assign(path.back(), std::move(*v));
      return {};
    }
  } catch (const toml::parse_error&) {
  }
  table->insert_or_assign(path.back(), value_text);
  return {};
}

}  // namespace duende::harness
