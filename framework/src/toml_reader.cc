#include "duende/framework/toml_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "duende/framework/clock.h"
#include "duende/framework/read_limits.h"

namespace duende::framework {
namespace {

SourcePos PosFromSource(const std::string& file, const toml::source_region& src) {
  return SourcePos{file, src.begin.line, src.begin.column};
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string DescribeNode(const toml::node& node) {
  if (auto s = node.value<std::string>()) return "\"" + *s + "\"";
  if (node.is_integer()) return std::to_string(node.as_integer()->get());
  if (node.is_floating_point()) {
    std::ostringstream out;
    out << node.as_floating_point()->get();
    return out.str();
  }
  if (node.is_boolean()) return node.as_boolean()->get() ? "true" : "false";
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  return "a date/time";
}

}  // namespace

std::string SourcePos::ToString() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void Diagnostics::Add(SourcePos pos, std::string message) {
  items_.push_back(Diagnostic{std::move(pos), std::move(message)});
}

std::string Diagnostics::ToString() const {
  std::vector<Diagnostic> sorted = items_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.column < b.pos.column;
  });
  std::string out;
  for (const auto& d : sorted) {
    if (!out.empty()) out += '\n';
    out += d.ToString();
  }
  return out;
}

Error Diagnostics::ToError() const { return MessageError(ToString()); }

void Diagnostics::Warn(SourcePos pos, std::string message) {
  warnings_.push_back(Diagnostic{std::move(pos), std::move(message)});
}

void Diagnostics::PrintWarnings() const {
  static std::mutex mu;
  static std::set<std::string> printed;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& w : warnings_) {
    std::string line = w.pos.ToString() + ": warning: " + w.message;
    if (printed.insert(line).second) std::fprintf(stderr, "%s\n", line.c_str());
  }
}

Result<toml::table> ParseTomlString(std::string_view text, const std::string& name) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    SourcePos pos = PosFromSource(name, e.source());
    // toml++'s descriptions may quote the offending text, control characters included: keep
    // the message on one line.
    std::string description(e.description());
    for (char& c : description) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    return MessageError(pos.ToString() + ": invalid TOML: " + description);
  }
}

Result<toml::table> ParseTomlFile(const std::string& path) {
  auto text = ReadFileLimited(path, kMaxInputFileBytes);
  if (!text.ok()) return text.error();
  return ParseTomlString(*text, path);
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

TomlReader::TomlReader(const toml::table& table, std::string file, std::string where,
                       std::shared_ptr<Diagnostics> diags)
    : table_(&table), file_(std::move(file)), where_(std::move(where)), diags_(std::move(diags)) {}

TomlReader TomlReader::ForFile(const toml::table& root, const std::string& file,
                               std::shared_ptr<Diagnostics> diags) {
  return TomlReader(root, file, "", std::move(diags));
}

std::string TomlReader::Qualified(std::string_view key) const {
  return where_.empty() ? Quote(key) : Quote(key) + " in " + where_;
}

SourcePos TomlReader::pos() const {
  SourcePos p = PosFromSource(file_, table_->source());
  if (p.line == 0) p.file = file_;
  return p;
}

SourcePos TomlReader::PosOf(std::string_view key) const {
  if (const toml::node* n = table_->get(key)) {
    SourcePos p = PosFromSource(file_, n->source());
    if (p.line != 0) return p;
  }
  return pos();
}

bool TomlReader::Has(std::string_view key) const { return table_->contains(key); }

void TomlReader::Accept(std::string_view key) { known_.emplace_back(key); }

void TomlReader::Fail(std::string_view key, const std::string& message) {
  diags_->Add(PosOf(key), message);
}

void TomlReader::Warn(std::string_view key, const std::string& message) {
  diags_->Warn(PosOf(key), message);
}

const toml::node* TomlReader::Lookup(std::string_view key, bool required,
                                     std::string_view expected) {
  known_.emplace_back(key);
  const toml::node* n = table_->get(key);
  if (n == nullptr && required) {
    diags_->Add(pos(), "missing required key " + Qualified(key) + " (add " + std::string(key) +
                           " = " + std::string(expected) + ")");
  }
  return n;
}

const toml::node* TomlReader::Raw(std::string_view key) { return Lookup(key, false, ""); }

std::optional<std::string> TomlReader::String(std::string_view key, bool required) {
  const toml::node* n = Lookup(key, required, "\"...\"");
  if (n == nullptr) return std::nullopt;
  if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
  Fail(key,
       Qualified(key) + " must be a string, not " + DescribeNode(*n) + " (write it in quotes)");
  return std::nullopt;
}

std::optional<std::string> TomlReader::Enum(std::string_view key,
                                            const std::vector<std::string>& allowed,
                                            bool required) {
  auto v = String(key, required);
  if (!v) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *v) != allowed.end()) return v;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
  std::string hint = DidYouMean(*v, allowed);
  Fail(key, Qualified(key) + " is \"" + *v + "\"; it must be one of " + list +
                (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
  return std::nullopt;
}

std::optional<int64_t> TomlReader::Int(std::string_view key, int64_t min, int64_t max,
                                       bool required) {
  const toml::node* n = Lookup(key, required, std::to_string(min));
  if (n == nullptr) return std::nullopt;
  if (!n->is_integer()) {
    Fail(key, Qualified(key) + " must be an integer, not " + DescribeNode(*n));
    return std::nullopt;
  }
  int64_t v = n->as_integer()->get();
  if (v < min || v > max) {
    Fail(key, Qualified(key) + " is " + std::to_string(v) + "; it must be between " +
                  std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<double> TomlReader::Double(std::string_view key, double min, double max,
                                         bool required) {
  const toml::node* n = Lookup(key, required, "1.0");
  if (n == nullptr) return std::nullopt;
  double v = 0;
  if (n->is_floating_point()) {
    v = n->as_floating_point()->get();
  } else if (n->is_integer()) {
    v = static_cast<double>(n->as_integer()->get());
  } else {
    Fail(key, Qualified(key) + " must be a number, not " + DescribeNode(*n));
    return std::nullopt;
  }
  if (!(v >= min && v <= max)) {
    std::ostringstream msg;
    msg << Qualified(key) << " is " << v << "; it must be between " << min << " and " << max;
    Fail(key, msg.str());
    return std::nullopt;
  }
  return v;
}

std::optional<bool> TomlReader::Bool(std::string_view key, bool required) {
  const toml::node* n = Lookup(key, required, "true");
  if (n == nullptr) return std::nullopt;
  if (n->is_boolean()) return n->as_boolean()->get();
  Fail(key, Qualified(key) + " must be true or false, not " + DescribeNode(*n));
  return std::nullopt;
}

std::optional<std::chrono::nanoseconds> TomlReader::Duration(std::string_view key, bool required,
                                                             DurationRange range) {
  const toml::node* n = Lookup(key, required, "\"5s\"");
  if (n == nullptr) return std::nullopt;
  // A number is seconds; it is checked as a double so that 1e300, inf, nan and integers whose
  // nanoseconds overflow int64 are caught before any conversion.
  std::optional<double> seconds;
  if (n->is_integer()) seconds = static_cast<double>(n->as_integer()->get());
  if (n->is_floating_point()) seconds = n->as_floating_point()->get();
  if (seconds) {
    const double ns = *seconds * 1e9;
    if (ns >= static_cast<double>(range.min.count()) &&
        ns <= static_cast<double>(range.max.count())) {
      return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
    }
    Fail(key, Qualified(key) + " is " + DescribeNode(*n) + " (seconds); it must be a duration " +
                  DescribeDurationRange(range.min, range.max));
    return std::nullopt;
  }
  if (auto s = n->value<std::string>(); s && n->is_string()) {
    auto d = ParseDurationIn(*s, range.min, range.max);
    if (d.ok()) return *d;
    Fail(key, Qualified(key) + " " + d.error().context);
    return std::nullopt;
  }
  Fail(key, Qualified(key) + " must be a duration such as \"5s\", \"250ms\" or \"2m\", not " +
                DescribeNode(*n));
  return std::nullopt;
}

std::optional<uint64_t> TomlReader::ByteSize(std::string_view key, bool required,
                                             ByteSizeRange range) {
  const toml::node* n = Lookup(key, required, "\"64MiB\"");
  if (n == nullptr) return std::nullopt;
  if (n->is_integer()) {
    const int64_t v = n->as_integer()->get();
    if (v >= 0 && static_cast<uint64_t>(v) >= range.min && static_cast<uint64_t>(v) <= range.max) {
      return static_cast<uint64_t>(v);
    }
    Fail(key, Qualified(key) + " is " + std::to_string(v) + "; it must be a size " +
                  DescribeByteSizeRange(range.min, range.max));
    return std::nullopt;
  }
  if (auto s = n->value<std::string>(); s && n->is_string()) {
    auto b = ParseByteSizeIn(*s, range.min, range.max);
    if (b.ok()) return *b;
    Fail(key, Qualified(key) + " " + b.error().context);
    return std::nullopt;
  }
  Fail(key, Qualified(key) + " must be a size such as \"64MiB\", \"512k\" or \"1G\", not " +
                DescribeNode(*n));
  return std::nullopt;
}

std::optional<std::vector<std::string>> TomlReader::StringArray(std::string_view key,
                                                                bool required) {
  const toml::node* n = Lookup(key, required, "[\"...\"]");
  if (n == nullptr) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    Fail(key, Qualified(key) + " must be an array of strings such as [\"a\", \"b\"], not " +
                  DescribeNode(*n));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const toml::node& item : *arr) {
    auto s = item.value<std::string>();
    if (!s || !item.is_string()) {
      diags_->Add(PosFromSource(file_, item.source()),
                  "every element of " + Qualified(key) + " must be a string, not " +
                      DescribeNode(item) + " (write it in quotes)");
      return std::nullopt;
    }
    out.push_back(*s);
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> TomlReader::StringMap(
    std::string_view key, bool required) {
  const toml::node* n = Lookup(key, required, "{ NAME = \"value\" }");
  if (n == nullptr) return std::nullopt;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    Fail(key,
         Qualified(key) + " must be a table such as { NAME = \"value\" }, not " + DescribeNode(*n));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : *t) {
    auto s = v.value<std::string>();
    if (!s || !v.is_string()) {
      diags_->Add(PosFromSource(file_, v.source()), "value of '" + std::string(k.str()) + "' in " +
                                                        Qualified(key) + " must be a string, not " +
                                                        DescribeNode(v));
      return std::nullopt;
    }
    out.emplace_back(std::string(k.str()), *s);
  }
  return out;
}

std::optional<TomlReader> TomlReader::Table(std::string_view key, bool required) {
  const toml::node* n = Lookup(key, required, "{ ... }");
  if (n == nullptr) return std::nullopt;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    Fail(key,
         Qualified(key) + " must be a table ([" + std::string(key) + "]), not " + DescribeNode(*n));
    return std::nullopt;
  }
  std::string where =
      where_.empty() ? "[" + std::string(key) + "]" : where_ + "." + std::string(key);
  return TomlReader(*t, file_, where, diags_);
}

std::vector<TomlReader> TomlReader::TableArray(std::string_view key, bool required) {
  std::vector<TomlReader> out;
  const toml::node* n = Lookup(key, required, "[[...]]");
  if (n == nullptr) return out;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    Fail(key, Qualified(key) + " must be an array of tables ([[" + std::string(key) + "]]), not " +
                  DescribeNode(*n));
    return out;
  }
  size_t index = 0;
  for (const toml::node& item : *arr) {
    ++index;
    const toml::table* t = item.as_table();
    if (t == nullptr) {
      diags_->Add(
          PosFromSource(file_, item.source()),
          "every element of " + Qualified(key) + " must be a table, not " + DescribeNode(item));
      continue;
    }
    out.emplace_back(*t, file_, "[[" + std::string(key) + "]] #" + std::to_string(index), diags_);
  }
  return out;
}

void TomlReader::Finish() {
  for (const auto& [k, v] : *table_) {
    std::string key(k.str());
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string hint = DidYouMean(key, known_);
    SourcePos p = PosFromSource(file_, k.source());
    if (p.line == 0) p = PosFromSource(file_, v.source());
    std::string msg = "unknown key " + Quote(key) + (where_.empty() ? "" : " in " + where_);
    msg += hint.empty() ? " (remove it; see the documented keys)"
                        : "; did you mean " + Quote(hint) + "?";
    diags_->Add(p, msg);
  }
}

}  // namespace duende::framework
