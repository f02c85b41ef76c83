// ReadProcessInfo against /proc/self/stat read by hand (proc(5) numbers the fields from 1).
#include "duende/framework/proc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/process_usage.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {
namespace {

std::vector<std::string> StatFieldsAfterComm() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> out;
  for (std::string f; rest >> f;) out.push_back(f);
  return out;  // out[0] is field 3
}

/// A child that runs `setup`, then sleeps until killed; returns once `setup` is done. Reap it
/// with kill + waitpid.
pid_t PausedChild(const std::function<void()>& setup) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    setup();
    (void)!::write(ready[1], "r", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  (void)!::read(ready[0], &c, 1);
  ::close(ready[0]);
  return pid;
}

TEST(ProcTest, ReadProcessInfoReadsTheFieldsProcNumbers) {
  auto info = ReadProcessInfo(::getpid());
  ASSERT_TRUE(info.ok()) << info.error().Message();
  const auto f = StatFieldsAfterComm();
  ASSERT_GT(f.size(), 20u);
  EXPECT_EQ(info->state, f[0][0]);
  EXPECT_EQ(info->ppid, ::getppid());
  EXPECT_EQ(info->pgid, ::getpgrp());
  EXPECT_EQ(info->sid, ::getsid(0));
  EXPECT_EQ(std::to_string(info->start_time), f[22 - 3]);  // field 22: starttime
  EXPECT_GT(info->start_time, 0u);
}

TEST(ProcTest, CommIsTheKernelsShortNameEvenWithSpacesAndParentheses) {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  auto self = ReadProcessInfo(::getpid());
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->comm, comm);
  // A child renames itself to a name with ") (" in it: the last ')' ends it.
  pid_t child = PausedChild([] { ::prctl(PR_SET_NAME, "a) (b c"); });
  ASSERT_GT(child, 0);
  auto info = ReadProcessInfo(child);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->comm, "a) (b c");
  EXPECT_EQ(info->ppid, ::getpid());
}

TEST(ProcTest, AGoneProcessIsAnError) {
  EXPECT_FALSE(ReadProcessInfo(0).ok());
  EXPECT_FALSE(ReadProcessInfo(-1).ok());
}

TEST(ProcTest, StatusKbReadsTheKbLinesOfStatus) {
  auto all = ReadStatusKb(0);
  ASSERT_TRUE(all.ok()) << all.error().Message();
  ASSERT_TRUE(all->contains("VmRSS"));
  EXPECT_GT(all->at("VmRSS"), 0u);
  EXPECT_FALSE(all->contains("Pid")) << "only the kB lines";
  auto rss = StatusKb(::getpid(), "VmRSS");
  ASSERT_TRUE(rss.ok());
  EXPECT_GT(*rss, 0u);
  auto none = StatusKb(0, "NoSuchLine");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code.value(), ENODATA);
  auto gone = StatusKb(1 << 30, "VmRSS");  // above pid_max
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code.value(), ENOENT);
}

TEST(ProcTest, CountOpenFdsCountsOurDescriptors) {
  auto before = CountOpenFds(::getpid());
  ASSERT_TRUE(before.ok()) << before.error().Message();
  int a = ::dup(1);
  int b = ::dup(1);
  auto after = CountOpenFds(0);
  ::close(a);
  ::close(b);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before + 2);
  EXPECT_FALSE(CountOpenFds(1 << 30).ok());
}

/// A TCP socket listening on `host` ("0.0.0.0", "::", "127.0.0.1") at a kernel-chosen port;
/// the port is stored in `*port`.
UniqueFd Listen(const std::string& host, uint16_t* port) {
  const bool v6 = host.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    ::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    ::inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), 4) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return UniqueFd();
  }
  *port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

/// A child that sleeps until killed; its pid. It shares every descriptor of the test.
pid_t SleepingChild() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  return pid;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(ProcTest, ListProcessesHoldsEveryPidInOrder) {
  // Children until one has a 9 in its pid, so every digit is seen.
  std::vector<pid_t> children;
  for (int i = 0; i < 20; ++i) {
    children.push_back(SleepingChild());
    if (std::to_string(children.back()).find('9') != std::string::npos) break;
  }
  auto all = ListProcesses();
  for (pid_t c : children) Reap(c);
  std::vector<pid_t> pids;
  for (const auto& p : all) pids.push_back(p.pid);
  EXPECT_TRUE(std::is_sorted(pids.begin(), pids.end()));
  for (pid_t c : children) {
    EXPECT_NE(std::find(pids.begin(), pids.end(), c), pids.end()) << "child " << c << " missing";
  }
  EXPECT_NE(std::find(pids.begin(), pids.end(), ::getpid()), pids.end());
}

TEST(ProcTest, ExeAndDescriptionNameTheProgram) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  const std::string exe(self, static_cast<size_t>(n));
  EXPECT_EQ(ProcessExe(::getpid()), exe);
  auto info = ReadProcessInfo(::getpid());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(DescribeProcess(::getpid()),
            info->comm + " (pid " + std::to_string(::getpid()) + ", " + exe + ")");
  EXPECT_EQ(ProcessExe(1 << 30), "");
  EXPECT_EQ(DescribeProcess(1 << 30), "pid " + std::to_string(1 << 30));
}

TEST(ProcTest, ListenersAndTheirHolders) {
  uint16_t port = 0;
  UniqueFd any = Listen("0.0.0.0", &port);
  ASSERT_TRUE(any) << "cannot listen on 0.0.0.0";
  auto listeners = TcpListenersOnPort(port);
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].address, "0.0.0.0:" + std::to_string(port));
  const std::set<uint64_t> inodes = {listeners[0].inode};
  EXPECT_EQ(SocketInodes(::getpid()).count(listeners[0].inode), 1u);

  // A child shares the socket: both hold it, reported in pid order whatever order was asked.
  pid_t child = SleepingChild();
  auto holders = SocketHolders(inodes, {child, ::getpid(), child});
  Reap(child);
  std::vector<pid_t> expected = {std::min(child, ::getpid()), std::max(child, ::getpid())};
  EXPECT_EQ(holders, expected);

  const std::string address = "127.0.0.1:" + std::to_string(port);
  // A wildcard listener takes connections to 127.0.0.1: held by us it is fine ...
  EXPECT_EQ(ListenerNotHeldBy(address, {::getpid()}, "the test"), "");
  // ... held by someone else it is named.
  const std::string other = ListenerNotHeldBy(address, {1 << 30}, "service x");
  EXPECT_EQ(other.rfind(address + " answers, but its listener belongs to ", 0), 0u) << other;
  EXPECT_NE(other.find("(pid " + std::to_string(::getpid())), std::string::npos) << other;
  EXPECT_TRUE(other.ends_with(", not to service x")) << other;
  EXPECT_NE(PortListeners(port).find("0.0.0.0:" + std::to_string(port) + " ("), std::string::npos);
}

TEST(ProcTest, V6WildcardListenerIsShownAsBrackets) {
  uint16_t port = 0;
  UniqueFd any = Listen("::", &port);
  if (!any) GTEST_SKIP() << "no IPv6 here";
  auto listeners = TcpListenersOnPort(port);
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].address, "[::]:" + std::to_string(port));
  EXPECT_NE(ListenerNotHeldBy("127.0.0.1:" + std::to_string(port), {1 << 30}, "x"), "");
  EXPECT_EQ(ListenerNotHeldBy("127.0.0.1:" + std::to_string(port), {::getpid()}, "x"), "");
}

/// A child with `max_fds` as its soft RLIMIT_NOFILE that has spent some user and some system
/// time when this returns, then sleeps until killed (Reap it).
pid_t BusyThenIdleChild(rlim_t max_fds) {
  return PausedChild([max_fds] {
    rlimit lim{max_fds, max_fds};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(1);
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    tms t{};
    const int64_t give_up = MonotonicNs() + 5'000'000'000;
    volatile uint64_t spin = 0;
    while ((::times(&t), t.tms_utime < 2 || t.tms_stime < 2) && MonotonicNs() < give_up) {
      for (int i = 0; i < 1'000'000; ++i) spin = spin + 1;           // user time
      for (int i = 0; i < 2'000; ++i) (void)!::write(null, "x", 1);  // system time
    }
  });
}

/// Fields of /proc/PID/stat after "(comm)", field 3 first.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> out;
  for (std::string f; rest >> f;) out.push_back(f);
  return out;
}

TEST(ProcessUsageTest, FiguresOfAnotherProcessAreItsOwn) {
  pid_t child = BusyThenIdleChild(77);
  ASSERT_GT(child, 0);
  auto u = ReadProcessUsage(child);
  const auto f = StatFields(child);
  auto vm_size = StatusKb(child, "VmSize");
  Reap(child);
  ASSERT_TRUE(u.ok()) << u.error().Message();
  ASSERT_GT(f.size(), 21u);
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const uint64_t utime = std::stoull(f[14 - 3]), stime = std::stoull(f[15 - 3]);
  ASSERT_GT(utime, 0u);
  ASSERT_GT(stime, 0u);
  EXPECT_DOUBLE_EQ(u->cpu_seconds, static_cast<double>(utime + stime) / ticks);
  EXPECT_EQ(u->virtual_bytes, std::stoull(f[23 - 3]));
  ASSERT_TRUE(vm_size.ok());
  EXPECT_EQ(u->virtual_bytes, *vm_size * 1024);
  EXPECT_EQ(u->max_fds, 77u) << "the child's limit, not ours";
  EXPECT_EQ(u->processes, 1u);
}

TEST(ProcessUsageTest, OwnMaxFdsIsTheSoftLimit) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  auto self = ReadProcessUsage(0);
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->max_fds, lim.rlim_cur);
  auto by_pid = ReadProcessUsage(::getpid());
  ASSERT_TRUE(by_pid.ok());
  EXPECT_EQ(by_pid->max_fds, lim.rlim_cur);
}

TEST(ProcessUsageTest, SumSkipsWhatIsNotAProcessAndTakesTheFirstLimits) {
  pid_t a = BusyThenIdleChild(77);
  pid_t b = BusyThenIdleChild(88);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  auto ua = ReadProcessUsage(a);
  auto ub = ReadProcessUsage(b);
  ProcessUsage sum = SumProcessUsage({0, -1, a, 1 << 30, b});
  Reap(a);
  Reap(b);
  ASSERT_TRUE(ua.ok() && ub.ok());
  EXPECT_EQ(sum.processes, 2u);
  EXPECT_EQ(sum.max_fds, 77u);
  EXPECT_EQ(sum.start_time_seconds, ua->start_time_seconds);
  EXPECT_EQ(sum.open_fds, ua->open_fds + ub->open_fds);
  EXPECT_EQ(sum.virtual_bytes, ua->virtual_bytes + ub->virtual_bytes);
  EXPECT_EQ(SumProcessUsage({}).processes, 0u);
}

}  // namespace
}  // namespace duende::framework
