// Test program: a harness-like process that starts a target, injects one fault (journaled) and
// then waits to be killed with SIGKILL, leaving its traces for HealLeftovers() to undo.
// Usage: duende-test-fault-victim CASE JOURNAL_DIR SCRATCH_DIR
// Prints "target PID" and then "injected" (or "error: ..." and exits 1).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/faults/node_network.h"
#include "duende/framework/process.h"

namespace {

using namespace duende;

int Fail(const std::string& what) {
  std::printf("error: %s\n", what.c_str());
  std::fflush(stdout);
  return 1;
}

uint16_t ListenAnywhere() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 8);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return Fail("usage: CASE JOURNAL_DIR SCRATCH_DIR");
  std::string which = argv[1], journal_dir = argv[2], scratch = argv[3];
  // case -> {kind, parameters}
  const std::map<std::string, std::pair<std::string, std::string>> kCases = {
      {"kill", {"kill", "signal = \"SIGUSR2\"\nexpect_exit = false"}},
      {"pause", {"pause", ""}},
      {"crash", {"crash", "signal = \"SIGABRT\""}},
      {"fds", {"fds", ""}},
      {"oom", {"oom", "slack = \"64MiB\""}},
      {"memory", {"memory", "size = \"32MiB\""}},
      {"cpu-burn", {"cpu", "threads = 1"}},
      {"cpu-quota", {"cpu", "mode = \"quota\""}},
      {"pids", {"pids", "slack = 8"}},
      {"syscall", {"syscall", "point = \"posix/io/rw/write\"\nerrno = \"ENOSPC\""}},
      {"disk-enospc", {"disk", "mode = \"enospc\""}},
      {"disk-full", {"disk", "mode = \"full\"\npath = \"" + scratch + "/data\""}},
      {"network", {"network", "toxic = \"latency\""}},
      {"clock", {"clock", "offset = \"-1h\""}},
      {"partition", {"partition", "mode = \"isolate\""}},
  };
  auto it = kCases.find(which);
  if (it == kCases.end()) return Fail("unknown case " + which);

  auto journal = faults::UndoJournal::Create(journal_dir);
  if (!journal.ok()) return Fail(journal.error().Message());
  faults::FaultEnv env;
  env.seed = 1;
  env.journal = journal->get();
  env.scratch_dir = scratch;

  framework::SpawnOptions o;
  o.argv = {"sleep", "60"};
  o.parent_death_signal = 0;  // the target outlives the harness, as a real daemon would
  faults::TargetRef t;
  t.name = "sleeper";
  if (which == "syscall" || which == "disk-enospc") {
    t.fiu_fifo_prefix = scratch + "/fiu";
    if (auto r = faults::PrepareFiuSpawn(o, t.fiu_fifo_prefix, 1, journal->get()); !r.ok()) {
      return Fail(r.error().Message());
    }
  }
  if (which == "clock") {
    t.clock_file = scratch + "/clock";
    if (auto r = faults::PrepareFaketimeSpawn(o, t.clock_file, journal->get()); !r.ok()) {
      return Fail(r.error().Message());
    }
  }
  if (which == "disk-full") {
    if (auto r = faults::PreparePrivateTmpfs(o, scratch + "/data", 1 << 20); !r.ok()) {
      return Fail(r.error().Message());
    }
  }
  auto child = framework::Spawn(o);
  if (!child.ok()) return Fail(child.error().Message());
  t.pid = child->pid;
  t.pgid = child->pid;
  if (which == "network") t.port = ListenAnywhere();
  std::printf("target %d\n", t.pid);
  std::fflush(stdout);
  ::usleep(200000);  // let the target exec (libfiu FIFO, tmpfs mount)

  // A partition acts between nodes: the victim makes two (namespaces, veths, a bridge).
  std::unique_ptr<faults::NodeNetwork> nodes;
  if (which == "partition") {
    auto net = faults::NodeNetwork::Create({{"a", ""}, {"b", ""}}, journal->get(), 1);
    if (!net.ok()) return Fail(net.error().Message());
    nodes = std::move(net).value();
    env.nodes = nodes.get();
  }
  auto table = framework::ParseTomlString(it->second.second, which);
  if (!table.ok()) return Fail(table.error().Message());
  auto diags = std::make_shared<framework::Diagnostics>();
  framework::TomlReader reader(*table, which, "[[fault]]", diags);
  auto fault = faults::CreateFault(it->second.first, reader, env);
  if (!fault.ok()) return Fail(fault.error().Message());
  if (auto r = (*fault)->Inject(t); !r.ok()) return Fail(r.error().Message());
  std::printf("injected\n");
  std::fflush(stdout);
  for (;;) ::pause();
}
