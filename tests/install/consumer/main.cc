// A consumer of the installed duende::framework: spawns a child and reads its exit status.
#include <iostream>

#include "duende/framework/process.h"

int main() {
  duende::framework::SpawnOptions options;
  options.argv = {"true"};
  auto child = duende::framework::Spawn(options);
  if (!child.ok()) {
    std::cerr << child.error().Message() << '\n';
    return 1;
  }
  auto status = duende::framework::WaitExit(child->pidfd.get());
  if (!status.ok() || !status->success()) return 1;
  std::cout << "consumer: ok (" << status->ToString() << ")\n";
  return 0;
}
