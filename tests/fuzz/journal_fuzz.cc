// Fuzz target: the undo-journal reader of `duende doctor` (and of every run's start), which
// reads journals left behind by crashed runs. Only the parser: applying entries acts on the
// machine, and which entries root may apply is the journal directory's checks' business.
#include <string>
#include <vector>

#include "duende/faults/undo_journal.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string_view text = fuzz::AsText(data, size);
  std::vector<std::string> warnings;
  auto journal = faults::ParseJournal(text, "fuzz.journal", &warnings);
  if (!journal) {
    fuzz::Check(!warnings.empty(), "a refused journal without a reason");
    return 0;
  }
  for (const auto& [id, action] : journal->pending) {
    fuzz::Check(id > 0, "an entry with id 0");
    fuzz::Check(!action.type.empty(), "an entry without a type");
  }
  // Every line that parses formats back to a line that parses to the same thing.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto line = faults::ParseJournalLine(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.ok()) continue;
    std::string again = faults::FormatJournalLine(*line);
    fuzz::Check(!again.empty() && again.back() == '\n', "a formatted line without its newline");
    auto back = faults::ParseJournalLine(std::string_view(again).substr(0, again.size() - 1));
    fuzz::Check(back.ok(), "a formatted line that does not parse");
    fuzz::Check(back->kind == line->kind && back->id == line->id &&
                    back->action.type == line->action.type &&
                    back->action.args == line->action.args && back->owner_pid == line->owner_pid &&
                    back->owner_start == line->owner_start,
                "a line that does not round-trip");
  }
  return 0;
}
