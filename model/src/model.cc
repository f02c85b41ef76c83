#include "duende/model/model.h"

namespace duende::model {

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "PASS";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kError:
      return "ERROR";
    case Verdict::kAborted:
      return "ABORTED";
  }
  return "?";
}

framework::ExitCode ExitCodeFor(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return framework::kExitOk;
    case Verdict::kFail:
      return framework::kExitFailed;
    case Verdict::kError:
      return framework::kExitEnvironment;
    case Verdict::kAborted:
      return framework::kExitInterrupted;
  }
  return framework::kExitEnvironment;
}

Verdict Combine(const std::vector<Verdict>& verdicts) {
  Verdict out = Verdict::kPass;
  auto rank = [](Verdict v) {
    switch (v) {
      case Verdict::kAborted:
        return 3;
      case Verdict::kError:
        return 2;
      case Verdict::kFail:
        return 1;
      case Verdict::kPass:
        return 0;
    }
    return 0;
  };
  for (Verdict v : verdicts) {
    if (rank(v) > rank(out)) out = v;
  }
  return out;
}

}  // namespace duende::model
