#include "scenario_read.h"

#include <algorithm>
#include <cctype>

#include "duende/harness/load_protocol.h"
#include "variables.h"

namespace duende::harness::internal {

using framework::Diagnostics;
using framework::SourcePos;
using framework::TomlReader;

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

void CheckName(TomlReader& r, const char* key, const std::string& name) {
  if (!name.empty() && !ValidName(name)) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() + " is \"" + name +
                    "\"; use only letters, digits, '_', '-' and '.'");
  }
}

// Patterns may hold the load's templates ({seq}, {key}, {n}), replaced by literal values at run
// time; they are checked with a stand-in value.
void CheckRegex(TomlReader& r, const char* key, const std::string& pattern) {
  std::string p = pattern;
  for (const char* tmpl : {"{seq}", "{key}", "{n}"}) {
    for (size_t at = p.find(tmpl); at != std::string::npos; at = p.find(tmpl)) {
      p.replace(at, std::string_view(tmpl).size(), "x");
    }
  }
  // The matcher the run uses (RE2), so that what validates is what runs.
  if (auto m = ReplyMatcher::Create(p); !m.ok()) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() + ": " + m.error().context);
  }
}

// Every "{name}" in a string that the runner expands (commands, env, addresses, probes, file
// templates) must be a run variable; a typo would otherwise reach the target as literal text.
void CheckRunVariables(TomlReader& r, std::string_view key, const std::string& text,
                       const std::vector<std::string>& files, const std::string& inside,
                       const std::string& where) {
  for (const auto& ref : internal::FindVariables(text)) {
    std::string hint;
    if (internal::IsRunVariable(ref.name, files, &hint)) continue;
    r.Fail(key, "unknown variable {" + ref.name + "} in '" + std::string(key) + "'" + inside +
                    " of " + (where.empty() ? r.where() : where) + "; " + hint);
  }
}

void CheckRunVariables(TomlReader& r, std::string_view key, const std::vector<std::string>& argv,
                       const std::vector<std::string>& files) {
  for (const auto& a : argv) CheckRunVariables(r, key, a, files);
}

// Load templates know {seq}, {key}, {n}, {value} and {len} (expanded per request).
void CheckLoadPlaceholders(TomlReader& r, const char* key, const std::string& text) {
  std::string unknown = UnknownPlaceholder(text);
  if (unknown.empty()) return;
  r.Fail(key, "unknown placeholder " + unknown + " in '" + key + "' of " + r.where() +
                  "; load templates use {seq}, {key}, {n}, {value} and {len}");
}

// tcp-line framing keys, shared by [load], [load.readback] and request probes.
void ReadTerminator(TomlReader& r, std::string* terminator) {
  if (auto t = r.String("terminator")) {
    if (ValidateTerminator(*t).ok()) {
      *terminator = *t;
    } else {
      r.Fail("terminator",
             "'terminator' in " + r.where() + " must be \"\\n\" (the default) or \"\\r\\n\"");
    }
  }
}

void ReadFraming(TomlReader& r, uint32_t* lines, std::string* end) {
  if (auto n = r.Int("reply_lines", 1, kMaxReplyLines)) *lines = static_cast<uint32_t>(*n);
  if (auto e = r.String("reply_end")) {
    if (e->empty() || e->find_first_of("\r\n") != std::string::npos) {
      r.Fail("reply_end", "'reply_end' in " + r.where() +
                              " is the line that ends a reply, e.g. \"END\" (one line, not empty)");
    } else {
      *end = *e;
    }
  }
  if (r.Has("reply_lines") && r.Has("reply_end")) {
    r.Fail("reply_lines", "give either 'reply_lines' or 'reply_end' in " + r.where() +
                              ", not both (a reply ends after a count of lines or at an end line)");
  }
}

}  // namespace duende::harness::internal
