// duende-mutate: the program behind `duende mutate` (which executes it, see helper_program.h).
// It alone links libclang and LLVM, so that the other verbs start small. Its command line is
// the verb's; `duende-mutate --remove-stale-work-dirs` is what `duende doctor` runs.
#include <cstring>
#include <iostream>

#include "duende/framework/exit_code.h"
#include "duende/mutate/engine.h"
#include "verbs.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--remove-stale-work-dirs") == 0) {
    if (int n = duende::mutate::RemoveStaleWorkDirs(); n > 0) {
      std::cout << "removed " << n << " work dir(s) of killed duende mutate runs\n";
    }
    return duende::framework::kExitOk;
  }
  return duende::cli::MutateMain(argc, argv);
}
