// Test program: allocates and touches 1 MiB every 10 ms (up to 1 GiB), then sleeps. Under a
// memory cgroup limit its next allocation meets the OOM killer. Prints "ready" first.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main() {
  std::puts("ready");
  std::fflush(stdout);
  std::vector<char*> blocks;
  for (int i = 0; i < 1024; ++i) {
    auto* p = static_cast<char*>(std::malloc(1 << 20));
    if (p == nullptr) return 3;
    std::memset(p, 1, 1 << 20);
    blocks.push_back(p);
    ::usleep(10000);
  }
  for (;;) ::pause();
}
