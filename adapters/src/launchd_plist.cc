#include "duende/adapters/launchd_plist.h"

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <variant>

#include "duende/framework/process.h"
#include "duende/reporters/markup.h"
#include "text_util.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::MessageError;
using framework::Result;
using Policy = framework::RestartConfig::Policy;

namespace {

constexpr uint64_t kInfinity = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Plist integers are signed 64-bit.
uint64_t Clamp(uint64_t v) { return v > kInfinity ? kInfinity : v; }

// A parsed plist value (only the types the renderer writes).
struct Value {
  enum class Type { kString, kInteger, kBool, kArray, kDict } type = Type::kString;
  std::string text;  // string, or integer digits
  bool flag = false;
  std::vector<Value> items;  // array
  // A dict, in order. Entry is defined below: a pair<string, Value> member of Value itself
  // would need Value complete (clang rejects it; gcc lets it through).
  struct Entry;
  std::vector<Entry> entries;

  const Value* Get(std::string_view key) const;
};

struct Value::Entry {
  std::string key;
  Value value;
};

const Value* Value::Get(std::string_view key) const {
  for (const auto& e : entries) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

std::string Unescape(std::string_view s) {
  static const std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'},   {"&lt;", '<'},  {"&gt;", '>'},   {"&quot;", '"'},
      {"&apos;", '\''}, {"&#9;", '\t'}, {"&#10;", '\n'}, {"&#13;", '\r'}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool matched = false;
    if (s[i] == '&') {
      for (const auto& [e, c] : kEntities) {
        if (s.substr(i, e.size()) == e) {
          out += c;
          i += e.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) out += s[i++];
  }
  return out;
}

// A small reader for the XML subset plists use: elements, text, <?...?> and <!...>.
class PlistReader {
 public:
  explicit PlistReader(std::string_view text) : s_(text) {}

  Result<Value> ReadDocument() {
    for (;;) {
      SkipSpace();
      if (s_.substr(pos_, 2) == "<?" || s_.substr(pos_, 2) == "<!") {
        size_t end = s_.find('>', pos_);
        if (end == std::string_view::npos) return Fail("unterminated declaration");
        pos_ = end + 1;
        continue;
      }
      break;
    }
    auto tag = ReadTag();
    if (!tag.ok()) return tag.error();
    if (tag->rfind("plist", 0) != 0) return Fail("root element is not <plist>");
    auto v = ReadValue();
    if (!v.ok()) return v;
    auto close = ReadTag();
    if (!close.ok() || *close != "/plist") return Fail("missing </plist>");
    return v;
  }

 private:
  framework::Error Fail(const std::string& why) const {
    return MessageError("plist: " + why + " at offset " + std::to_string(pos_));
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // Reads "<name ...>" and returns "name ..." (a self-closing tag keeps its trailing '/').
  Result<std::string> ReadTag() {
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != '<') return Fail("expected a tag");
    size_t end = s_.find('>', pos_);
    if (end == std::string_view::npos) return Fail("unterminated tag");
    std::string tag(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return tag;
  }

  Result<std::string> ReadText(const std::string& closing) {
    size_t end = s_.find("</" + closing + ">", pos_);
    if (end == std::string_view::npos) return Fail("missing </" + closing + ">");
    std::string text = Unescape(s_.substr(pos_, end - pos_));
    pos_ = end + closing.size() + 3;
    return text;
  }

  Result<Value> ReadValue() {
    auto tag = ReadTag();
    if (!tag.ok()) return tag.error();
    Value v;
    if (*tag == "string" || *tag == "integer") {
      v.type = *tag == "string" ? Value::Type::kString : Value::Type::kInteger;
      auto t = ReadText(*tag);
      if (!t.ok()) return t.error();
      v.text = *t;
    } else if (*tag == "string/") {
      v.type = Value::Type::kString;
    } else if (*tag == "true/" || *tag == "false/") {
      v.type = Value::Type::kBool;
      v.flag = *tag == "true/";
    } else if (*tag == "array" || *tag == "dict") {
      bool dict = *tag == "dict";
      v.type = dict ? Value::Type::kDict : Value::Type::kArray;
      for (;;) {
        SkipSpace();
        if (s_.substr(pos_, 2) == "</") {
          auto close = ReadTag();
          if (!close.ok()) return close.error();
          if (*close != "/" + *tag) return Fail("mismatched </" + *close + ">");
          break;
        }
        if (dict) {
          auto k = ReadTag();
          if (!k.ok()) return k.error();
          if (*k != "key") return Fail("expected <key> in <dict>");
          auto key = ReadText("key");
          if (!key.ok()) return key.error();
          auto item = ReadValue();
          if (!item.ok()) return item;
          v.entries.push_back({*key, std::move(*item)});
        } else {
          auto item = ReadValue();
          if (!item.ok()) return item;
          v.items.push_back(std::move(*item));
        }
      }
    } else if (*tag == "array/" || *tag == "dict/") {
      v.type = *tag == "dict/" ? Value::Type::kDict : Value::Type::kArray;
    } else {
      return Fail("unexpected <" + *tag + ">");
    }
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

class PlistWriter {
 public:
  // Escaped as attribute values are (quotes too, tab/CR/newline as references), which element
  // text allows and keeps every string on its line.
  void Key(std::string_view k) { Line("<key>" + reporters::XmlEscape(k, true) + "</key>"); }
  void String(std::string_view v) {
    Line("<string>" + reporters::XmlEscape(v, true) + "</string>");
  }
  void Integer(uint64_t v) { Line("<integer>" + std::to_string(Clamp(v)) + "</integer>"); }
  void Bool(bool v) { Line(v ? "<true/>" : "<false/>"); }
  void Open(const char* tag) {
    Line(std::string("<") + tag + ">");
    ++depth_;
  }
  void Close(const char* tag) {
    --depth_;
    Line(std::string("</") + tag + ">");
  }
  void Line(const std::string& s) {
    out_ << std::string(static_cast<size_t>(depth_) * 2, ' ') << s << '\n';
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
  int depth_ = 0;
};

struct Limits {
  std::optional<uint64_t> files, processes, core;
  bool memlock = false;
};

Limits LimitsOf(const DaemonConfig& c) {
  return {c.resources.open_files, c.resources.processes, c.resources.core_size,
          c.resources.lock_memory};
}

}  // namespace

std::string LaunchdLabel(const DaemonConfig& config, const LaunchdRenderOptions& options) {
  return options.label_prefix + config.name;
}

Translation TranslateForLaunchd(const DaemonConfig& c) {
  DaemonConfig t = internal::Skeleton(c);
  t.env = c.env;
  t.working_dir = c.working_dir;
  t.user = c.user;
  t.group = c.group;
  // ExitTimeOut= and ThrottleInterval= are whole seconds; launchd waits at least 1s between
  // spawns.
  t.shutdown_timeout =
      std::chrono::seconds(std::max<int64_t>(1, internal::CeilSeconds(c.shutdown_timeout)));
  t.restart.policy = c.restart.policy;
  t.restart.backoff.initial =
      std::chrono::seconds(std::max<int64_t>(1, internal::CeilSeconds(c.restart.backoff.initial)));
  if (t.restart.backoff.max < t.restart.backoff.initial) {
    t.restart.backoff.max = t.restart.backoff.initial;
  }
  if (c.resources.open_files) t.resources.open_files = Clamp(*c.resources.open_files);
  if (c.resources.processes) t.resources.processes = Clamp(*c.resources.processes);
  if (c.resources.core_size) t.resources.core_size = Clamp(*c.resources.core_size);
  t.resources.lock_memory = c.resources.lock_memory;
  t.resources.lock_memory_required = c.resources.lock_memory_required;
  t.log.file = c.log.file;
  Translation out;
  out.config = std::move(t);
  return out;
}

Result<std::string> RenderLaunchdPlist(const DaemonConfig& config,
                                       const LaunchdRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const DaemonConfig c = TranslateForLaunchd(config).config;
  PlistWriter w;
  w.Line("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
  w.Line(
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">");
  w.Line("<plist version=\"1.0\">");
  w.Open("dict");
  w.Key("Label");
  w.String(LaunchdLabel(c, options));
  w.Key("ProgramArguments");
  w.Open("array");
  for (const auto& a : c.command) w.String(a);
  w.Close("array");
  auto env = internal::PlatformEnv(c);
  if (!env.empty()) {
    w.Key("EnvironmentVariables");
    w.Open("dict");
    for (const auto& [k, v] : env) {
      w.Key(k);
      w.String(v);
    }
    w.Close("dict");
  }
  if (!c.working_dir.empty()) {
    w.Key("WorkingDirectory");
    w.String(c.working_dir);
  }
  if (!c.user.empty()) {
    w.Key("UserName");
    w.String(c.user);
  }
  if (!c.group.empty()) {
    w.Key("GroupName");
    w.String(c.group);
  }
  w.Key("RunAtLoad");
  w.Bool(true);
  w.Key("KeepAlive");
  switch (c.restart.policy) {
    case Policy::kAlways:
      w.Bool(true);
      break;
    case Policy::kNever:
      w.Bool(false);
      break;
    case Policy::kOnFailure:
      // Restart only when it did not exit 0 (launchd's "on-failure").
      w.Open("dict");
      w.Key("SuccessfulExit");
      w.Bool(false);
      w.Close("dict");
      break;
  }
  w.Key("ThrottleInterval");
  w.Integer(static_cast<uint64_t>(internal::CeilSeconds(c.restart.backoff.initial)));
  w.Key("ExitTimeOut");
  w.Integer(static_cast<uint64_t>(internal::CeilSeconds(c.shutdown_timeout)));
  Limits l = LimitsOf(c);
  if (l.files || l.processes || l.core || l.memlock) {
    for (const char* which : {"SoftResourceLimits", "HardResourceLimits"}) {
      w.Key(which);
      w.Open("dict");
      if (l.core) {
        w.Key("Core");
        w.Integer(*l.core);
      }
      if (l.memlock) {
        w.Key("MemoryLock");
        w.Integer(kInfinity);
      }
      if (l.files) {
        w.Key("NumberOfFiles");
        w.Integer(*l.files);
      }
      if (l.processes) {
        w.Key("NumberOfProcesses");
        w.Integer(*l.processes);
      }
      w.Close("dict");
    }
  }
  if (!c.log.file.empty()) {
    w.Key("StandardOutPath");
    w.String(c.log.file);
    w.Key("StandardErrorPath");
    w.String(c.log.file);
  }
  w.Close("dict");
  w.Line("</plist>");
  return w.str();
}

Result<DaemonConfig> ParseLaunchdPlist(std::string_view text) {
  PlistReader reader(text);
  auto root = reader.ReadDocument();
  if (!root.ok()) return root.error();
  if (root->type != Value::Type::kDict) return MessageError("plist: top level is not a <dict>");
  DaemonConfig c;
  auto str = [&](const char* key) -> std::string {
    const Value* v = root->Get(key);
    return v != nullptr && v->type == Value::Type::kString ? v->text : "";
  };
  auto integer = [](const Value* v) -> std::optional<uint64_t> {
    if (v == nullptr || v->type != Value::Type::kInteger) return std::nullopt;
    return internal::ParseUint(v->text);
  };
  std::string label = str("Label");
  size_t dot = label.rfind('.');
  // The name is what follows the prefix; the default prefix has two dots ("org.duende.").
  c.name = label.rfind("org.duende.", 0) == 0 ? label.substr(11) : label.substr(dot + 1);
  if (const Value* args = root->Get("ProgramArguments")) {
    for (const Value& a : args->items) c.command.push_back(a.text);
  }
  if (const Value* env = root->Get("EnvironmentVariables")) {
    for (const auto& e : env->entries) c.env.emplace_back(e.key, e.value.text);
  }
  c.working_dir = str("WorkingDirectory");
  c.user = str("UserName");
  c.group = str("GroupName");
  if (const Value* k = root->Get("KeepAlive")) {
    if (k->type == Value::Type::kBool) {
      c.restart.policy = k->flag ? Policy::kAlways : Policy::kNever;
    } else if (k->type == Value::Type::kDict) {
      c.restart.policy = Policy::kOnFailure;
    }
  }
  if (auto n = integer(root->Get("ThrottleInterval"))) {
    c.restart.backoff.initial = std::chrono::seconds(*n);
    if (c.restart.backoff.max < c.restart.backoff.initial) {
      c.restart.backoff.max = c.restart.backoff.initial;
    }
  }
  if (auto n = integer(root->Get("ExitTimeOut"))) c.shutdown_timeout = std::chrono::seconds(*n);
  if (const Value* hard = root->Get("HardResourceLimits")) {
    c.resources.core_size = integer(hard->Get("Core"));
    c.resources.open_files = integer(hard->Get("NumberOfFiles"));
    c.resources.processes = integer(hard->Get("NumberOfProcesses"));
    c.resources.lock_memory = integer(hard->Get("MemoryLock")).value_or(0) == kInfinity;
  }
  c.log.file = str("StandardOutPath");
  internal::TakeMlockEnv(&c);
  return c;
}

LaunchctlCommands LaunchctlFor(const DaemonConfig& config, const LaunchdRenderOptions& options) {
  const std::string label = LaunchdLabel(config, options);
  const std::string target = options.domain + "/" + label;
  LaunchctlCommands c;
  c.bootstrap = {"launchctl", "bootstrap", options.domain,
                 options.plist_dir + "/" + label + ".plist"};
  c.kickstart = {"launchctl", "kickstart", "-k", target};
  c.kill = {"launchctl", "kill", framework::SignalName(config.stop_signal), target};
  c.print = {"launchctl", "print", target};
  c.bootout = {"launchctl", "bootout", target};
  return c;
}

std::string RenderLaunchctlCommands(const DaemonConfig& config,
                                    const LaunchdRenderOptions& options) {
  LaunchctlCommands c = LaunchctlFor(config, options);
  auto line = [](const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) out += (out.empty() ? "" : " ") + internal::ShellQuote(a);
    return out + "\n";
  };
  return "# load the daemon (RunAtLoad starts it)\n" + line(c.bootstrap) + "# restart it now\n" +
         line(c.kickstart) + "# send the stop signal\n" + line(c.kill) +
         "# state, pid, runs, last exit code\n" + line(c.print) + "# stop and unload\n" +
         line(c.bootout);
}

}  // namespace duende::adapters
