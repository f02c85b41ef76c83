// TomlReader: typed, position-aware reading of TOML tables with strict validation.
//
// Every TOML input of duende (daemon config, services.toml, scenarios, gates.toml) is read
// through this class, so every bad input gets the same kind of message:
//
//   kvd.toml:7:1: unknown key 'lock_memroy' in [resources]; did you mean 'lock_memory'?
//   kvd.toml:3:12: 'shutdown_timeout' must be a duration such as "5s" or "250ms", not "fast"
//
// Readers record problems in a shared Diagnostics list and keep going, so a user sees every
// problem of a file at once. Finish() reports the keys nobody asked for.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/result.h"

namespace duende::framework {

/// A place in an input file, 1-based. Line 0 means "the file as a whole".
struct SourcePos {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;

  /// "file:line:col" (or "file" when the line is unknown).
  std::string ToString() const;
};

/// One problem found in an input: where, what is wrong, and how to fix it.
struct Diagnostic {
  SourcePos pos;
  std::string message;

  /// "file:line:col: message"
  std::string ToString() const { return pos.ToString() + ": " + message; }
};

/// The problems found in one input, in the order found.
class Diagnostics {
 public:
  void Add(SourcePos pos, std::string message);
  bool empty() const { return items_.empty(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  /// All problems, one per line, sorted by position.
  std::string ToString() const;
  /// An Error (errc::invalid_argument) holding ToString().
  Error ToError() const;

  /// Records a warning: the input is accepted, but something in it should change (a
  /// deprecated key). Warnings never make the input invalid.
  void Warn(SourcePos pos, std::string message);
  const std::vector<Diagnostic>& warnings() const { return warnings_; }
  /// Writes each warning to stderr as "file:line:col: warning: message", once per process
  /// (an input read again, as the explorer does, does not repeat them).
  void PrintWarnings() const;

 private:
  std::vector<Diagnostic> items_;
  std::vector<Diagnostic> warnings_;
};

/// Parses a TOML file of at most kMaxInputFileBytes (8 MiB, read_limits.h). A syntax error
/// becomes "file:line:col: <toml++'s description>". Errors: ENOENT/EACCES etc. when the file
/// cannot be read (code set), file_too_large past the cap, invalid_argument with position for
/// syntax errors.
Result<toml::table> ParseTomlFile(const std::string& path);

/// Parses TOML text; `name` is used as the file name in messages.
Result<toml::table> ParseTomlString(std::string_view text, const std::string& name);

/// Levenshtein distance (for did-you-mean suggestions).
size_t EditDistance(std::string_view a, std::string_view b);

/// The closest candidate to `word` if it is plausibly a typo of it, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

/// The allowed values of a duration key. The default is what every input shares: 0 to
/// kMaxDuration (365 days); a key that needs a positive value says min = 1ns.
struct DurationRange {
  std::chrono::nanoseconds min{0};
  std::chrono::nanoseconds max = kMaxDuration;
};

/// The allowed values of a size key; by default 0 to kMaxByteSize (2^63 - 1).
struct ByteSizeRange {
  uint64_t min = 0;
  uint64_t max = kMaxByteSize;
};

/// Reads one TOML table. Getters return nullopt when the key is absent or wrong; wrong values
/// are reported to the shared Diagnostics with position, what was expected and an example.
class TomlReader {
 public:
  /// `where` names the table for messages, e.g. "[resources]" or "[[target]] #2".
  TomlReader(const toml::table& table, std::string file, std::string where,
             std::shared_ptr<Diagnostics> diags);

  /// Top-level reader for a whole file.
  static TomlReader ForFile(const toml::table& root, const std::string& file,
                            std::shared_ptr<Diagnostics> diags);

  /// The string at `key` (marked known). nullopt when absent (reported when `required`, with
  /// an example) or not a string (reported: "must be a string, not 5 (write it in quotes)").
  std::optional<std::string> String(std::string_view key, bool required = false);
  /// A string that must be one of `allowed` (message lists them).
  std::optional<std::string> Enum(std::string_view key, const std::vector<std::string>& allowed,
                                  bool required = false);
  /// The integer at `key`, within [min, max] inclusive. nullopt when absent (reported when
  /// `required`), not an integer (5.0 and "5" are refused) or out of range (reported with both
  /// bounds).
  std::optional<int64_t> Int(std::string_view key, int64_t min, int64_t max, bool required = false);
  std::optional<double> Double(std::string_view key, double min, double max, bool required = false);
  /// The boolean at `key`. nullopt when absent (reported when `required`) or not true/false
  /// ("yes", 1 and "true" are refused and reported).
  std::optional<bool> Bool(std::string_view key, bool required = false);
  /// "5s", "250ms", ... or a number of seconds, within `range`: a negative, infinite, NaN or
  /// too large value is reported with the range ("between 0s and 365 days").
  std::optional<std::chrono::nanoseconds> Duration(std::string_view key, bool required = false,
                                                   DurationRange range = {});
  /// "64MiB", "1G", ... or a number of bytes, within `range` (reported like Duration's).
  std::optional<uint64_t> ByteSize(std::string_view key, bool required = false,
                                   ByteSizeRange range = {});
  std::optional<std::vector<std::string>> StringArray(std::string_view key, bool required = false);
  /// A table of string values (e.g. env = { K = "v" }), in file order.
  std::optional<std::vector<std::pair<std::string, std::string>>> StringMap(std::string_view key,
                                                                            bool required = false);
  /// A sub-table; `where` for messages is derived from the key.
  std::optional<TomlReader> Table(std::string_view key, bool required = false);
  /// An array of tables ([[key]]); empty when absent.
  std::vector<TomlReader> TableArray(std::string_view key, bool required = false);

  /// The raw node (marks the key as known), for shapes the getters do not cover.
  const toml::node* Raw(std::string_view key);
  /// Marks a key as known without reading it.
  void Accept(std::string_view key);
  bool Has(std::string_view key) const;

  /// Reports a problem at the key's position (or the table's when the key is absent).
  void Fail(std::string_view key, const std::string& message);
  /// Records a warning at the key's position (see Diagnostics::Warn).
  void Warn(std::string_view key, const std::string& message);
  /// Reports every key that no getter asked for, with a did-you-mean. Call once at the end.
  void Finish();

  SourcePos PosOf(std::string_view key) const;
  SourcePos pos() const;
  const std::string& where() const { return where_; }
  const std::string& file() const { return file_; }
  const std::shared_ptr<Diagnostics>& diagnostics() const { return diags_; }
  const toml::table& table() const { return *table_; }

 private:
  const toml::node* Lookup(std::string_view key, bool required, std::string_view expected);
  std::string Qualified(std::string_view key) const;

  const toml::table* table_;
  std::string file_;
  std::string where_;
  std::shared_ptr<Diagnostics> diags_;
  std::vector<std::string> known_;
};

}  // namespace duende::framework
