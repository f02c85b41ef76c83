// Fuzz target: the undo-journal reader of `duende doctor` (and of every run's start), which
// reads journals left behind by crashed runs. Only the parser: applying entries acts on the
// machine, and which entries root may apply is the journal directory's checks' business.
#include "duende/faults/undo_journal.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const faults::JournalContents journal = faults::ParseJournal(fuzz::AsText(data, size));
  for (const auto& [id, action] : journal.pending) {
    (void)id;
    fuzz::Check(!action.ToString().empty(), "an entry without text");
  }
  return 0;
}
