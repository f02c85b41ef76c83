// Reading history files for the linearizability checker (`duende check-history`): duende's
// history JSON Lines, Jepsen's history.edn and Jepsen's `jepsen.util` log lines. Each format
// and the shapes of values it accepts are documented in docs/linearizability.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/harness/linearizability.h"

namespace duende::harness::linearizability {

enum class HistoryFormat : uint8_t {
  kAuto,       ///< by extension (.jsonl/.json, .edn, .log/.txt), else by content
  kJsonl,      ///< duende: one completed operation per line
  kEdn,        ///< Jepsen history.edn: invoke/ok/fail/info maps, in a vector or one per line
  kJepsenLog,  ///< Jepsen's log: `INFO  jepsen.util - 3 :invoke :read nil` lines
};

/// "auto", "jsonl", "edn", "jepsen-log"; ParseHistoryFormat is its inverse.
const char* HistoryFormatName(HistoryFormat format);
bool ParseHistoryFormat(std::string_view name, HistoryFormat* format);

struct History {
  std::vector<Operation> ops;
  HistoryFormat format = HistoryFormat::kJsonl;
  /// Jepsen formats order operations by their position in the file (each event's index, the
  /// order Jepsen observed them in); duende's JSONL carries nanoseconds.
  bool times_are_positions = false;
};

/// Parses `text`, the contents of a file called `name`, for `model` (kv reads keys: a "key"
/// member in JSONL, `[key value]` tuples in Jepsen's formats). Every error is invalid_argument
/// with the message "NAME:LINE:COL: what is wrong and what to write instead".
framework::Result<History> ParseHistory(std::string_view text, const std::string& name, Model model,
                                        HistoryFormat format = HistoryFormat::kAuto);

/// Reads and parses the file `path` (at most 1 GiB). Errors: those of ParseHistory, and the
/// errno of a file that cannot be read ("unable to read PATH: ...").
framework::Result<History> ReadHistoryFile(const std::string& path, Model model,
                                           HistoryFormat format = HistoryFormat::kAuto);

}  // namespace duende::harness::linearizability
