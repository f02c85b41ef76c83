// /proc readers: processes, their sockets, TCP listeners.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "duende/framework/address.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/proc.h"

namespace duende::framework {
namespace {

bool IsPidName(const char* name) {
  if (*name == '\0') return false;
  for (const char* c = name; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return false;
  }
  return true;
}

// "0100007F:1F90" (little-endian hex as the kernel prints it) -> "127.0.0.1:8080"; v6 likewise.
std::string FormatAddress(const std::string& hex_addr, uint16_t port) {
  if (hex_addr.size() == 8) {
    uint32_t a = static_cast<uint32_t>(std::strtoul(hex_addr.c_str(), nullptr, 16));
    return std::to_string(a & 0xff) + "." + std::to_string((a >> 8) & 0xff) + "." +
           std::to_string((a >> 16) & 0xff) + "." + std::to_string((a >> 24) & 0xff) + ":" +
           std::to_string(port);
  }
  bool any = hex_addr.find_first_not_of('0') == std::string::npos;
  return (any ? std::string("[::]") : "[" + hex_addr + "]") + ":" + std::to_string(port);
}

}  // namespace

Result<ProcessInfo> ReadProcessInfo(pid_t pid) {
  if (pid <= 0) return ErrnoError("no process " + std::to_string(pid), ESRCH);
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return ErrnoError("no process " + std::to_string(pid), ESRCH);
  // "PID (comm) S PPID PGRP SESSION ..."; comm may hold spaces and parentheses.
  size_t open = text->find('(');
  size_t close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 > text->size()) {
    return ErrnoError("unreadable /proc/" + std::to_string(pid) + "/stat", EINVAL);
  }
  ProcessInfo p;
  p.pid = pid;
  p.comm = text->substr(open + 1, close - open - 1);
  std::istringstream rest(text->substr(close + 2));
  rest >> p.state >> p.ppid >> p.pgid >> p.sid;
  // Fields 3-6 are read; `i` numbers the next ones as proc(5) does, up to 22 (starttime).
  std::string field;
  for (int i = 7; i <= 22 && rest >> field; ++i) {
    if (i == 22) p.start_time = std::strtoull(field.c_str(), nullptr, 10);
  }
  return p;
}

std::vector<ProcessInfo> ListProcesses() {
  std::vector<ProcessInfo> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (!IsPidName(e->d_name)) continue;
    auto p = ReadProcessInfo(static_cast<pid_t>(std::atoi(e->d_name)));
    if (p.ok()) out.push_back(std::move(*p));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
  return out;
}

namespace {
std::string ProcPath(pid_t pid, const char* leaf) {
  return (pid == 0 ? std::string("/proc/self/") : "/proc/" + std::to_string(pid) + "/") + leaf;
}
}  // namespace

Result<std::map<std::string, uint64_t, std::less<>>> ReadStatusKb(pid_t pid) {
  auto text = ReadSmallFile(ProcPath(pid, "status"));
  if (!text.ok()) return text.error();
  std::map<std::string, uint64_t, std::less<>> out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || !line.ends_with(" kB")) continue;
    out[line.substr(0, colon)] = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
  }
  return out;
}

Result<uint64_t> StatusKb(pid_t pid, std::string_view key) {
  auto all = ReadStatusKb(pid);
  if (!all.ok()) return all.error();
  auto it = all->find(key);
  if (it == all->end()) {
    return ErrnoError("no " + std::string(key) + " line in " + ProcPath(pid, "status"), ENODATA);
  }
  return it->second;
}

Result<int> CountOpenFds(pid_t pid) {
  std::string path = ProcPath(pid, "fd");
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return ErrnoError("unable to list " + path);
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

std::string ProcessExe(pid_t pid) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::string DescribeProcess(pid_t pid) {
  auto p = ReadProcessInfo(pid);
  if (!p.ok()) return "pid " + std::to_string(pid);
  std::string exe = ProcessExe(pid);
  return p->comm + " (pid " + std::to_string(pid) + (exe.empty() ? "" : ", " + exe) + ")";
}

std::vector<TcpListener> TcpListenersOnPort(uint16_t port) {
  std::vector<TcpListener> out;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = ReadSmallFile(file);
    if (!text.ok()) continue;
    std::istringstream in(*text);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 INODE"
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retrans, uid, timeout, inode;
      if (!(f >> slot >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >>
            inode)) {
        continue;
      }
      if (state != "0A") continue;  // TCP_LISTEN
      size_t colon = local.find(':');
      if (colon == std::string::npos) continue;
      auto p = static_cast<uint16_t>(std::strtoul(local.c_str() + colon + 1, nullptr, 16));
      if (p != port) continue;
      TcpListener l;
      l.inode = std::strtoull(inode.c_str(), nullptr, 10);
      l.port = p;
      l.address = FormatAddress(local.substr(0, colon), p);
      if (l.inode != 0) out.push_back(std::move(l));
    }
  }
  return out;
}

std::set<uint64_t> SocketInodes(pid_t pid) {
  std::set<uint64_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  char buf[64];
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string link = dir + "/" + e->d_name;
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    std::string target(buf, static_cast<size_t>(n));
    if (target.rfind("socket:[", 0) == 0) {
      out.insert(std::strtoull(target.c_str() + 8, nullptr, 10));
    }
  }
  ::closedir(d);
  return out;
}

std::vector<pid_t> SocketHolders(const std::set<uint64_t>& inodes,
                                 const std::vector<pid_t>& among) {
  std::vector<pid_t> out;
  if (inodes.empty()) return out;
  std::vector<pid_t> pids = among;
  if (pids.empty()) {
    for (const auto& p : ListProcesses()) pids.push_back(p.pid);
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  for (pid_t pid : pids) {
    for (uint64_t inode : SocketInodes(pid)) {
      if (inodes.count(inode) != 0) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

std::string ListenerNotHeldBy(const std::string& address, const std::vector<pid_t>& members,
                              const std::string& whose) {
  auto hp = SplitHostPort(address);
  if (!hp) return "";
  std::string host = hp->host == "localhost" ? "127.0.0.1" : hp->host;
  std::set<uint64_t> inodes;
  for (const auto& l : TcpListenersOnPort(hp->port)) {
    // Listeners that could take a connection to `host`: that address or a wildcard.
    std::string lhost = l.address.substr(0, l.address.rfind(':'));
    if (lhost == host || lhost == "0.0.0.0" || lhost == "[::]" || lhost == "[" + host + "]") {
      inodes.insert(l.inode);
    }
  }
  if (inodes.empty()) return "";
  if (!members.empty() && !SocketHolders(inodes, members).empty()) return "";
  auto holders = SocketHolders(inodes);
  return address + " answers, but its listener belongs to " +
         (holders.empty() ? std::string("a process not visible here")
                          : DescribeProcess(holders.front())) +
         ", not to " + whose;
}

std::string PortListeners(uint16_t port) {
  std::string out;
  for (const auto& l : TcpListenersOnPort(port)) {
    auto holders = SocketHolders({l.inode});
    out += (out.empty() ? "" : ", ") + l.address + " (" +
           (holders.empty() ? std::string("held by a process not visible here")
                            : DescribeProcess(holders.front())) +
           ")";
  }
  return out;
}

}  // namespace duende::framework
