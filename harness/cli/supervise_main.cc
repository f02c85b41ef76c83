// duende-supervise: the program behind `duende supervise` (which executes it, see
// helper_program.h). It links only the supervisor, its control socket and its config reader, so
// that the process that stays up for the services' lifetime maps little. Its command line is
// the verb's.
#include "verbs.h"

int main(int argc, char** argv) { return duende::cli::SuperviseMain(argc, argv); }
