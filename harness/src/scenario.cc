#include "duende/harness/scenario.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/harness/check_kinds.h"
#include "duende/harness/load_protocol.h"
#include "variables.h"

namespace duende::harness {
namespace {

using framework::Diagnostics;
using framework::SourcePos;
using framework::TomlReader;

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

void CheckName(TomlReader& r, const char* key, const std::string& name) {
  if (!name.empty() && !ValidName(name)) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() + " is \"" + name +
                    "\"; use only letters, digits, '_', '-' and '.'");
  }
}

const std::vector<std::string> kProbeKinds = {"tcp", "http", "command", "request"};

ProbeSpec::Kind ProbeKindFrom(const std::string& s) {
  if (s == "http") return ProbeSpec::Kind::kHttp;
  if (s == "command") return ProbeSpec::Kind::kCommand;
  if (s == "request") return ProbeSpec::Kind::kRequest;
  return ProbeSpec::Kind::kTcp;
}

// Patterns may hold the load's templates ({seq}, {key}, {n}), replaced by literal values at run
// time; they are checked with a stand-in value.
void CheckRegex(TomlReader& r, const char* key, const std::string& pattern) {
  std::string p = pattern;
  for (const char* tmpl : {"{seq}", "{key}", "{n}"}) {
    for (size_t at = p.find(tmpl); at != std::string::npos; at = p.find(tmpl)) {
      p.replace(at, std::string_view(tmpl).size(), "x");
    }
  }
  try {
    std::regex re(p);
  } catch (const std::regex_error& e) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() +
                    " is not a valid regular expression (" + e.what() + ")");
  }
}

// Every "{name}" in a string that the runner expands (commands, env, addresses, probes, file
// templates) must be a run variable; a typo would otherwise reach the target as literal text.
void CheckRunVariables(TomlReader& r, std::string_view key, const std::string& text,
                       const std::vector<std::string>& files, const std::string& inside = "",
                       const std::string& where = "") {
  for (const auto& ref : internal::FindVariables(text)) {
    std::string hint;
    if (internal::IsRunVariable(ref.name, files, &hint)) continue;
    r.Fail(key, "unknown variable {" + ref.name + "} in '" + std::string(key) + "'" + inside +
                    " of " + (where.empty() ? r.where() : where) + "; " + hint);
  }
}

void CheckRunVariables(TomlReader& r, std::string_view key, const std::vector<std::string>& argv,
                       const std::vector<std::string>& files) {
  for (const auto& a : argv) CheckRunVariables(r, key, a, files);
}

// Load templates know {seq}, {key}, {n}, {value} and {len} (expanded per request).
void CheckLoadPlaceholders(TomlReader& r, const char* key, const std::string& text) {
  std::string unknown = UnknownPlaceholder(text);
  if (unknown.empty()) return;
  r.Fail(key, "unknown placeholder " + unknown + " in '" + key + "' of " + r.where() +
                  "; load templates use {seq}, {key}, {n}, {value} and {len}");
}

// tcp-line framing keys, shared by [load], [load.readback] and request probes.
void ReadTerminator(TomlReader& r, std::string* terminator) {
  if (auto t = r.String("terminator")) {
    if (ValidateTerminator(*t).ok()) {
      *terminator = *t;
    } else {
      r.Fail("terminator",
             "'terminator' in " + r.where() + " must be \"\\n\" (the default) or \"\\r\\n\"");
    }
  }
}

void ReadFraming(TomlReader& r, uint32_t* lines, std::string* end) {
  if (auto n = r.Int("reply_lines", 1, kMaxReplyLines)) *lines = static_cast<uint32_t>(*n);
  if (auto e = r.String("reply_end")) {
    if (e->empty() || e->find_first_of("\r\n") != std::string::npos) {
      r.Fail("reply_end", "'reply_end' in " + r.where() +
                              " is the line that ends a reply, e.g. \"END\" (one line, not empty)");
    } else {
      *end = *e;
    }
  }
  if (r.Has("reply_lines") && r.Has("reply_end")) {
    r.Fail("reply_lines", "give either 'reply_lines' or 'reply_end' in " + r.where() +
                              ", not both (a reply ends after a count of lines or at an end line)");
  }
}

ProbeSpec ReadProbe(TomlReader& r, size_t index) {
  ProbeSpec p;
  p.pos = r.pos();
  p.name = r.String("name").value_or("probe-" + std::to_string(index));
  p.kind = ProbeKindFrom(r.Enum("kind", kProbeKinds, true).value_or("tcp"));
  bool needs_address = p.kind != ProbeSpec::Kind::kCommand;
  p.address = r.String("address", needs_address).value_or("");
  p.path = r.String("path").value_or("/");
  p.command = r.StringArray("command", p.kind == ProbeSpec::Kind::kCommand)
                  .value_or(std::vector<std::string>{});
  p.send = r.String("send", p.kind == ProbeSpec::Kind::kRequest).value_or("");
  p.expect = r.String("expect").value_or("");
  if (!p.expect.empty()) CheckRegex(r, "expect", p.expect);
  if (p.kind == ProbeSpec::Kind::kRequest) {
    p.protocol = r.Enum("protocol", {"tcp-line", "redis"}).value_or("tcp-line");
    ReadTerminator(r, &p.terminator);
    ReadFraming(r, &p.reply_lines, &p.reply_end);
  }
  if (!p.expect.empty() && p.kind != ProbeSpec::Kind::kRequest &&
      p.kind != ProbeSpec::Kind::kHttp) {
    r.Fail("expect", "'expect' in " + r.where() + " applies to kind = \"request\" or \"http\"");
  }
  p.timeout = r.Duration("timeout").value_or(std::chrono::seconds(1));
  r.Finish();
  return p;
}

void CheckProbeVariables(TomlReader& r, const ProbeSpec& p, const std::vector<std::string>& files) {
  CheckRunVariables(r, "address", p.address, files);
  CheckRunVariables(r, "command", p.command, files);
  CheckRunVariables(r, "send", p.send, files);
}

// A target's [target.readiness] / [target.liveness]: the framework's probe table, whose
// strings may hold run variables and whose address defaults to the target's.
void ReadTargetProbe(TomlReader& r, framework::ProbeConfig* p, bool readiness,
                     const std::string& target_address, const std::vector<std::string>& files) {
  using K = framework::ProbeConfig::Kind;
  framework::ReadProbeConfig(r, p, readiness,
                             {.variables = true, .address_from_owner = !target_address.empty()});
  if ((p->kind == K::kTcp || p->kind == K::kHttp) && p->address.empty() && target_address.empty() &&
      !r.Has("address")) {
    r.Fail("address", "missing 'address' in " + r.where() +
                          " (add address = \"127.0.0.1:PORT\" here or to the target)");
  }
  CheckRunVariables(r, "address", p->address, files);
  CheckRunVariables(r, "command", p->command, files);
}

// "path/inside/run_dir": relative, without "." or ".." components.
bool SafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == ".." || !ValidName(part)) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

constexpr size_t kMaxTemplateBytes = 1 << 20;

// `where` names the table in messages ("[[target.file]] #1 of target nginx").
FileSpec ReadFile(TomlReader& r, const std::vector<std::string>& files, const std::string& where) {
  FileSpec f;
  f.pos = r.pos();
  f.name = r.String("name", true).value_or("");
  CheckName(r, "name", f.name);
  f.path = r.String("path").value_or("files/" + f.name);
  if (!SafeRelativePath(f.path)) {
    r.Fail("path", "'path' in " + where + " is \"" + f.path +
                       "\"; give a path inside the run directory such as \"nginx/nginx.conf\" "
                       "(relative, no '..', letters, digits, '_', '-', '.')");
  }
  auto inline_text = r.String("template");
  auto file = r.String("template_file");
  if (inline_text && file) {
    r.Fail("template_file", "give either 'template' or 'template_file' in " + where + ", not both");
  } else if (inline_text) {
    f.text = *inline_text;
    CheckRunVariables(r, "template", f.text, files, "", where);
  } else if (file) {
    namespace fs = std::filesystem;
    fs::path p(*file);
    if (p.is_relative()) p = fs::path(r.file()).parent_path() / p;
    f.template_file = p.lexically_normal().string();
    std::error_code ec;
    const bool exists = fs::is_regular_file(f.template_file, ec);
    const uintmax_t size = exists ? fs::file_size(f.template_file, ec) : 0;
    std::ifstream in(f.template_file, std::ios::binary);
    std::string text;
    if (exists && size <= kMaxTemplateBytes) {
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (!exists) {
      r.Fail("template_file", "'template_file' in " + where + " is \"" + *file +
                                  "\", which does not exist (looked at " + f.template_file +
                                  "; the path is relative to the scenario file)");
    } else if (!in.good() && !in.eof()) {
      r.Fail("template_file", "'template_file' in " + where + " is \"" + *file +
                                  "\", which cannot be read (" + f.template_file + ")");
    } else if (size > kMaxTemplateBytes) {
      r.Fail("template_file", "'template_file' " + f.template_file + " is larger than 1 MiB");
    } else {
      f.text = std::move(text);
      CheckRunVariables(r, "template_file", f.text, files, " (" + f.template_file + ")", where);
    }
  } else {
    r.Fail("template", "missing 'template' in " + where +
                           " (add template = \"\"\"...\"\"\" or template_file = \"name.conf\")");
  }
  if (const toml::node* m = r.Raw("mode")) {
    int64_t mode = -1;
    if (m->is_integer()) {
      mode = m->as_integer()->get();
    } else if (auto str = m->value<std::string>();
               str && !str->empty() && str->find_first_not_of("01234567") == std::string::npos &&
               str->size() <= 4) {
      mode = std::stol(*str, nullptr, 8);
    }
    if (mode < 0 || mode > 0777) {
      r.Fail("mode", "'mode' in " + where + " must be permission bits such as \"0644\" or 0o600");
    } else {
      f.mode = static_cast<uint32_t>(mode);
    }
  }
  r.Finish();
  return f;
}

// The names of every [[target.file]] in the document (variables may name a file declared
// further down).
std::vector<std::string> DeclaredFiles(const toml::table& doc) {
  std::vector<std::string> names;
  const toml::array* targets = doc["target"].as_array();
  if (targets == nullptr) return names;
  for (const auto& t : *targets) {
    const toml::table* tt = t.as_table();
    const toml::array* files = tt == nullptr ? nullptr : (*tt)["file"].as_array();
    if (files == nullptr) continue;
    for (const auto& f : *files) {
      if (const toml::table* ft = f.as_table()) {
        if (auto n = (*ft)["name"].value<std::string>()) names.push_back(*n);
      }
    }
  }
  return names;
}

TargetSpec ReadTarget(TomlReader& r, const std::vector<std::string>& files) {
  TargetSpec t;
  t.pos = r.pos();
  t.command_pos = r.PosOf("command");
  t.name = r.String("name", true).value_or("");
  CheckName(r, "name", t.name);
  t.daemon.name = t.name;
  t.shell = r.Bool("shell").value_or(false);
  t.external = r.Bool("external").value_or(false);
  if (const toml::node* n = r.Raw("command")) {
    if (n->is_string()) {
      if (t.shell) {
        t.command = {"/bin/sh", "-c", *n->value<std::string>()};
      } else {
        r.Fail("command", "'command' in " + r.where() +
                              " must be an array such as [\"prog\", \"--flag\"] (a string is run "
                              "by a shell only with shell = true)");
      }
    } else {
      r.Accept("command");
    }
  }
  if (r.Has("command") && !r.table().get("command")->is_string()) {
    auto argv = r.StringArray("command");
    if (argv && argv->empty()) {
      r.Fail("command", "'command' in " + r.where() + " must not be empty");
    } else if (argv) {
      t.command = t.shell ? std::vector<std::string>{"/bin/sh", "-c", (*argv)[0]} : *argv;
      if (t.shell && argv->size() != 1) {
        r.Fail("command", "with shell = true, 'command' in " + r.where() +
                              " is one string (the shell command line)");
      }
    }
  } else if (!r.Has("command") && !t.external) {
    r.Fail("command", "missing required key 'command' in " + r.where() +
                          " (add command = [\"program\", \"args\"], or external = true)");
  }
  t.env = r.StringMap("env").value_or(std::vector<std::pair<std::string, std::string>>{});
  t.working_dir = r.String("working_dir").value_or("");
  t.fiu = r.Bool("fiu").value_or(false);
  t.clock = r.Bool("clock").value_or(false);
  t.pid_file = r.String("pid_file").value_or("");
  t.address = r.String("address").value_or("");
  t.proxy = r.Bool("proxy").value_or(false);
  t.await_ready = r.Bool("await_ready").value_or(true);
  if (t.proxy && t.address.empty()) {
    r.Fail("proxy", "proxy = true needs the target's address = \"127.0.0.1:PORT\"");
  }
  if (t.external && t.pid_file.empty() && t.address.empty()) {
    r.Fail("external", "an external target needs pid_file = \"...\" or address = \"host:port\"");
  }
  if (t.external && t.clock) {
    r.Fail("clock", "clock = true needs duende to start the target; it cannot apply to external");
  }
  if (t.external && t.fiu) {
    r.Fail("fiu", "fiu = true needs duende to start the target; it cannot apply to external");
  }
  if (auto s = r.String("stop_signal")) {
    int sig = framework::ParseSignal(*s);
    if (sig == 0) {
      r.Fail("stop_signal", "'stop_signal' in " + r.where() + " is \"" + *s +
                                "\"; use a signal name such as \"SIGTERM\" or \"INT\"");
    } else {
      t.daemon.stop_signal = sig;
    }
  }
  t.daemon.shutdown_timeout = r.Duration("stop_timeout").value_or(std::chrono::seconds(2));
  // A scenario restarts crashed targets at once unless told otherwise: the interesting part is
  // what happens around the restart, not the default 100 ms wait.
  t.daemon.restart.policy = framework::RestartConfig::Policy::kAlways;
  t.daemon.restart.backoff.initial = std::chrono::milliseconds(10);
  t.daemon.restart.backoff.max = std::chrono::seconds(1);
  t.daemon.restart.start_limit_burst = 50;
  if (auto rr = r.Table("restart")) framework::ReadRestartConfig(*rr, &t.daemon.restart);
  if (auto rr = r.Table("readiness")) {
    ReadTargetProbe(*rr, &t.daemon.health.readiness, true, t.address, files);
  }
  if (auto rr = r.Table("liveness")) {
    ReadTargetProbe(*rr, &t.daemon.health.liveness, false, t.address, files);
  }
  if (auto rr = r.Table("resources")) framework::ReadResourceConfig(*rr, &t.daemon.resources);
  for (auto& fr : r.TableArray("file")) {
    t.files.push_back(ReadFile(
        fr, files,
        "[[target.file]] #" + std::to_string(t.files.size() + 1) + " of target " + t.name));
  }
  CheckRunVariables(
      r, "command",
      t.shell && t.command.size() == 3 ? std::vector<std::string>{t.command[2]} : t.command, files);
  for (const auto& [k, v] : t.env) CheckRunVariables(r, "env", v, files);
  CheckRunVariables(r, "address", t.address, files);
  CheckRunVariables(r, "working_dir", t.working_dir, files);
  CheckRunVariables(r, "pid_file", t.pid_file, files);
  r.Finish();
  t.daemon.command = t.command;
  t.daemon.env = t.env;
  t.daemon.working_dir = t.working_dir;
  t.daemon.pid_file = t.pid_file;
  return t;
}

const std::vector<std::string> kProtocols = {"tcp-line", "http", "redis"};

LoadSpec ReadLoad(TomlReader& r) {
  LoadSpec l;
  l.pos = r.pos();
  l.target = r.String("target").value_or("");
  l.address = r.String("address").value_or("");
  l.protocol = r.Enum("protocol", kProtocols).value_or("tcp-line");
  l.mode = r.Enum("mode", {"open", "closed"}).value_or("open");
  l.rate = r.Double("rate", 0.1, 1e7).value_or(200);
  l.connections = static_cast<uint32_t>(r.Int("connections", 1, 10000).value_or(4));
  l.start = r.Duration("start").value_or(nanoseconds{0});
  l.duration = r.Duration("duration");
  l.timeout = r.Duration("timeout").value_or(std::chrono::milliseconds(500));
  const bool redis = l.protocol == "redis";
  l.request = r.String("request").value_or("SET {key} {seq}");
  // Matched against the whole reply text: any 2xx body for http, a Redis "+OK" reads "OK".
  l.expect = r.String("expect").value_or(l.protocol == "http" ? "" : redis ? "OK" : "^OK");
  CheckRegex(r, "expect", l.expect);
  l.http_path = r.String("path").value_or("/");
  l.keys = static_cast<uint32_t>(r.Int("keys", 1, 10000000).value_or(0));
  l.value = r.String("value").value_or("{seq}");
  ReadTerminator(r, &l.terminator);
  ReadFraming(r, &l.reply_lines, &l.reply_end);
  if (l.protocol != "tcp-line") {
    for (const char* key : {"terminator", "reply_lines", "reply_end"}) {
      if (r.Has(key)) {
        r.Fail(key, "'" + std::string(key) + "' in " + r.where() +
                        " applies to protocol = \"tcp-line\" only (" + l.protocol +
                        " frames its own messages)");
      }
    }
  }
  CheckLoadPlaceholders(r, "request", l.request);
  CheckLoadPlaceholders(r, "path", l.http_path);
  CheckLoadPlaceholders(r, "value", l.value);
  if (l.value.find("{value}") != std::string::npos || l.value.find("{len}") != std::string::npos) {
    r.Fail("value", "'value' in " + r.where() + " may use {seq}, {key} and {n}, not itself");
  }
  if (auto rb = r.Table("readback")) {
    l.readback_request = rb->String("request", true).value_or("");
    l.readback_expect = rb->String("expect", true).value_or("");
    CheckLoadPlaceholders(*rb, "request", l.readback_request);
    CheckLoadPlaceholders(*rb, "expect", l.readback_expect);
    if (rb->Has("expect") && !RequestTemplate(l.readback_expect, l.value).has_seq()) {
      rb->Fail("expect", "'expect' in " + rb->where() + " is \"" + l.readback_expect +
                             "\", which has no {seq}: the read-back finds the sequence number of "
                             "the last write in the reply (e.g. \"VALUE {seq}\", or {value} when "
                             "the value holds {seq})");
    }
    ReadFraming(*rb, &l.readback_reply_lines, &l.readback_reply_end);
    rb->Finish();
  }
  r.Finish();
  return l;
}

const char* const kFaultCommonKeys[] = {"name",     "kind",   "target", "at",
                                        "duration", "repeat", "every"};

FaultSpec ReadFault(TomlReader& r, const std::shared_ptr<const toml::table>& doc,
                    const FaultKindTable& kinds) {
  FaultSpec f;
  f.pos = r.pos();
  f.file = r.file();
  f.table = std::shared_ptr<const toml::table>(doc, &r.table());
  f.name = r.String("name").value_or("");
  CheckName(r, "name", f.name);
  if (kinds.kinds.empty()) {
    f.kind = r.String("kind", true).value_or("");
  } else {
    f.kind = r.Enum("kind", kinds.kinds, true).value_or("");
  }
  f.target = r.String("target").value_or("");
  f.at = r.Duration("at", true).value_or(nanoseconds{0});
  f.duration = r.Duration("duration");
  f.repeat = static_cast<uint32_t>(r.Int("repeat", 1, 10000).value_or(1));
  f.every = r.Duration("every").value_or(nanoseconds{0});
  if (f.repeat > 1 && f.every.count() == 0) {
    r.Fail("repeat", "repeat = " + std::to_string(f.repeat) + " in " + r.where() +
                         " needs every = \"1s\" (the interval between injections)");
  }
  if (f.repeat > 1 && f.duration && *f.duration >= f.every) {
    r.Fail("duration", "'duration' in " + r.where() +
                           " must be shorter than 'every' (each injection heals before the next)");
  }
  if (kinds.validate != nullptr && !f.kind.empty()) {
    kinds.validate(f.kind, r);
  } else {
    // Without a catalogue the injector checks its own parameters when the run starts.
    for (const auto& [k, v] : r.table()) r.Accept(k.str());
  }
  r.Finish();
  return f;
}

CheckSpec ReadCheck(TomlReader& r) {
  CheckSpec c;
  c.pos = r.pos();
  c.name = r.String("name").value_or("");
  std::vector<std::string> kinds;
  for (const auto& k : CheckKinds()) kinds.emplace_back(k.name);
  c.kind = r.Enum("kind", kinds, true).value_or("");
  c.target = r.String("target").value_or("");
  const CheckKind* kind = FindCheckKind(c.kind);
  if (kind == nullptr) {
    for (const auto& [k, v] : r.table()) r.Accept(k.str());
    r.Finish();
    return c;
  }
  for (const CheckParam& param : kind->params) param.read(r, param, c);
  if (!c.pattern.empty()) CheckRegex(r, "pattern", c.pattern);
  r.Finish();
  return c;
}

// Splits "a.b.c=value" into path segments and the value text.
framework::Result<std::pair<std::vector<std::string>, std::string>> SplitOverride(
    const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return framework::MessageError("--set " + text +
                                   ": expected key.path=value, e.g. --set load.rate=500");
  }
  std::vector<std::string> path;
  std::string key = text.substr(0, eq);
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string seg = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (seg.empty()) {
      return framework::MessageError("--set " + text + ": empty segment in the key path");
    }
    path.push_back(seg);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return std::make_pair(path, text.substr(eq + 1));
}

toml::table* SelectElement(toml::array& arr, const std::string& seg) {
  bool numeric = !seg.empty() && std::all_of(seg.begin(), seg.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch)) != 0;
  });
  if (numeric) {
    size_t i = std::stoul(seg);
    if (i < arr.size()) return arr[i].as_table();
    return nullptr;
  }
  for (auto& item : arr) {
    toml::table* t = item.as_table();
    if (t == nullptr) continue;
    if (auto n = (*t)["name"].value<std::string>(); n && *n == seg) return t;
    // Faults and checks without a name are known by their kind.
    if (!t->contains("name")) {
      if (auto k = (*t)["kind"].value<std::string>(); k && *k == seg) return t;
    }
  }
  return nullptr;
}

Scenario Build(toml::table root_in, const std::string& file,
               const std::vector<std::string>& overrides, const FaultKindTable& kinds,
               std::shared_ptr<Diagnostics> diags) {
  auto doc = std::make_shared<toml::table>(std::move(root_in));
  Scenario s;
  s.file = file;
  s.overrides = overrides;
  s.document = doc;
  TomlReader root = TomlReader::ForFile(*doc, file, diags);
  if (auto sc = root.Table("scenario", true)) {
    s.meta.name = sc->String("name", true).value_or("");
    CheckName(*sc, "name", s.meta.name);
    s.meta.description = sc->String("description").value_or("");
    s.meta.duration = sc->Duration("duration").value_or(std::chrono::seconds(5));
    if (auto seed = sc->Int("seed", 0, INT64_MAX)) s.meta.seed = static_cast<uint64_t>(*seed);
    sc->Finish();
  }
  auto targets = root.TableArray("target", true);
  if (targets.empty() && !root.Has("target")) {
    // Reported by TableArray already.
  }
  const std::vector<std::string> files = DeclaredFiles(*doc);
  std::set<std::string> names;
  std::set<std::string> file_names;
  std::set<std::string> file_paths;
  for (auto& t : targets) {
    s.targets.push_back(ReadTarget(t, files));
    for (const auto& f : s.targets.back().files) {
      if (!f.name.empty() && !file_names.insert(f.name).second) {
        t.Fail("file", "file name \"" + f.name +
                           "\" is used twice; [[target.file]] names are unique in a scenario");
      }
      if (!f.path.empty() && !file_paths.insert(f.path).second) {
        t.Fail("file",
               "two [[target.file]] tables write \"" + f.path + "\"; give each its own 'path'");
      }
    }
    const std::string& n = s.targets.back().name;
    if (!n.empty() && !names.insert(n).second) {
      t.Fail("name", "target name \"" + n + "\" is used twice; target names must be unique");
    }
  }
  auto has_target = [&](const std::string& n) { return names.count(n) != 0; };
  if (auto l = root.Table("load")) {
    s.load = ReadLoad(*l);
    CheckRunVariables(*l, "address", s.load->address, files);
    if (s.load->target.empty() && !s.targets.empty()) s.load->target = s.targets[0].name;
    if (!s.load->target.empty() && !has_target(s.load->target)) {
      l->Fail("target",
              "[load] names target \"" + s.load->target + "\", which is not defined" +
                  (framework::DidYouMean(s.load->target, {names.begin(), names.end()}).empty()
                       ? ""
                       : "; did you mean \"" +
                             framework::DidYouMean(s.load->target, {names.begin(), names.end()}) +
                             "\"?"));
    }
  }
  std::map<std::string, int> kind_count;
  std::set<std::string> fault_names;
  for (auto& f : root.TableArray("fault")) {
    FaultSpec spec = ReadFault(f, doc, kinds);
    if (spec.target.empty() && !s.targets.empty()) spec.target = s.targets[0].name;
    if (!spec.target.empty() && !has_target(spec.target)) {
      std::string hint = framework::DidYouMean(spec.target, {names.begin(), names.end()});
      f.Fail("target", "'target' in " + f.where() + " is \"" + spec.target +
                           "\", which is not a [[target]]" +
                           (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
    if (spec.name.empty()) spec.name = spec.kind;
    if (!fault_names.insert(spec.name).second) {
      if (f.Has("name")) {
        f.Fail("name", "fault name \"" + spec.name + "\" is used twice");
      } else {
        spec.name += "-" + std::to_string(++kind_count[spec.kind] + 1);
        fault_names.insert(spec.name);
      }
    }
    nanoseconds last = InjectionTimes(spec).back() + spec.duration.value_or(nanoseconds{0});
    if (last > s.meta.duration) {
      f.Fail(f.Has("duration") ? "duration" : "at",
             f.where() + " ends at " + framework::FormatDuration(last) +
                 ", after the scenario's duration (" + framework::FormatDuration(s.meta.duration) +
                 "); make [scenario] duration longer or the fault earlier");
    }
    s.faults.push_back(std::move(spec));
  }
  std::set<std::string> check_names;
  std::map<std::string, int> check_count;
  for (auto& c : root.TableArray("check")) {
    CheckSpec spec = ReadCheck(c);
    CheckRunVariables(c, "command", spec.command, files);
    if (!spec.target.empty() && !has_target(spec.target)) {
      c.Fail("target",
             "'target' in " + c.where() + " is \"" + spec.target + "\", which is not a [[target]]");
    }
    if (spec.name.empty()) spec.name = spec.kind;
    if (!check_names.insert(spec.name).second) {
      if (c.Has("name")) {
        c.Fail("name", "check name \"" + spec.name + "\" is used twice");
      } else {
        spec.name += "-" + std::to_string(++check_count[spec.kind] + 1);
        check_names.insert(spec.name);
      }
    }
    if (spec.kind == "no_lost_writes" && (!s.load || s.load->readback_request.empty())) {
      c.Fail("kind",
             "check no_lost_writes needs [load.readback] (request and expect) to read the "
             "acknowledged writes back");
    }
    s.checks.push_back(std::move(spec));
  }
  if (auto ss = root.Table("steady_state")) {
    s.steady_state.recover_timeout =
        ss->Duration("recover_timeout").value_or(std::chrono::seconds(5));
    size_t i = 0;
    for (auto& p : ss->TableArray("probe")) {
      s.steady_state.probes.push_back(ReadProbe(p, ++i));
      CheckProbeVariables(p, s.steady_state.probes.back(), files);
    }
    ss->Finish();
  }
  if (root.Has("explore")) {
    root.Accept("explore");
    root.Fail("explore",
              "an [explore] table makes this an exploration scenario: run it with 'duende "
              "explore FILE' ('duende validate' checks both kinds), or remove the table");
  }
  root.Finish();
  return s;
}

framework::Result<Scenario> Finish(framework::Result<toml::table> parsed, const std::string& file,
                                   const std::vector<std::string>& overrides,
                                   const FaultKindTable& kinds) {
  if (!parsed.ok()) return parsed.error();
  for (const auto& o : overrides) DUENDE_TRY(ApplyOverride(parsed.value(), o));
  auto diags = std::make_shared<Diagnostics>();
  Scenario s = Build(std::move(parsed).value(), file, overrides, kinds, diags);
  if (!diags->empty()) return diags->ToError();
  diags->PrintWarnings();
  return s;
}

}  // namespace

const char* ProbeKindName(ProbeSpec::Kind kind) {
  switch (kind) {
    case ProbeSpec::Kind::kTcp:
      return "tcp";
    case ProbeSpec::Kind::kHttp:
      return "http";
    case ProbeSpec::Kind::kCommand:
      return "command";
    case ProbeSpec::Kind::kRequest:
      return "request";
  }
  return "?";
}

const FileSpec* FindFile(const Scenario& scenario, const std::string& name) {
  for (const auto& t : scenario.targets) {
    for (const auto& f : t.files) {
      if (f.name == name) return &f;
    }
  }
  return nullptr;
}

const TargetSpec* Scenario::FindTarget(const std::string& name) const {
  for (const auto& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

framework::Result<void> ApplyOverride(toml::table& root, const std::string& override_text) {
  auto split = SplitOverride(override_text);
  if (!split.ok()) return split.error();
  auto& [path, value_text] = split.value();
  toml::table* table = &root;
  std::string walked;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const std::string& seg = path[i];
    toml::node* n = table->get(seg);
    walked += (walked.empty() ? "" : ".") + seg;
    if (n == nullptr) {
      // A missing sub-table is created so that optional tables can be set from the CLI.
      table->insert(seg, toml::table{});
      table = table->get(seg)->as_table();
      continue;
    }
    if (toml::table* t = n->as_table()) {
      table = t;
      continue;
    }
    if (toml::array* arr = n->as_array()) {
      if (i + 2 >= path.size()) {
        return framework::MessageError("--set " + override_text + ": '" + walked +
                                       "' is an array of tables; name an element, e.g. " + walked +
                                       ".0.KEY=VALUE or " + walked + ".NAME.KEY=VALUE");
      }
      toml::table* el = SelectElement(*arr, path[i + 1]);
      if (el == nullptr) {
        return framework::MessageError("--set " + override_text + ": no element '" + path[i + 1] +
                                       "' in [[" + walked + "]] (use its index or its name)");
      }
      ++i;
      walked += "." + path[i];
      table = el;
      continue;
    }
    return framework::MessageError("--set " + override_text + ": '" + walked +
                                   "' is a value, not a table");
  }
  // Parse the value as TOML; fall back to a plain string so "--set scenario.name=x" works.
  try {
    toml::table parsed = toml::parse("v = " + value_text);
    if (toml::node* v = parsed.get("v")) {
      table->insert_or_assign(path.back(), std::move(*v));
      return {};
    }
  } catch (const toml::parse_error&) {
  }
  table->insert_or_assign(path.back(), value_text);
  return {};
}

framework::Result<Scenario> LoadScenario(const std::string& path,
                                         const std::vector<std::string>& overrides,
                                         const FaultKindTable& fault_kinds) {
  return Finish(framework::ParseTomlFile(path), path, overrides, fault_kinds);
}

framework::Result<Scenario> ParseScenario(std::string_view text, const std::string& name,
                                          const std::vector<std::string>& overrides,
                                          const FaultKindTable& fault_kinds) {
  return Finish(framework::ParseTomlString(text, name), name, overrides, fault_kinds);
}

std::vector<nanoseconds> InjectionTimes(const FaultSpec& fault) {
  std::vector<nanoseconds> out;
  for (uint32_t i = 0; i < std::max<uint32_t>(1, fault.repeat); ++i) {
    out.push_back(fault.at + fault.every * i);
  }
  return out;
}

nanoseconds TimelineEnd(const Scenario& scenario) {
  nanoseconds end{0};
  for (const auto& f : scenario.faults) {
    end = std::max(end, InjectionTimes(f).back() + f.duration.value_or(nanoseconds{0}));
  }
  return end;
}

}  // namespace duende::harness
