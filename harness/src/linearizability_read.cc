// History files for the linearizability checker: duende's JSONL (one completed operation per
// line) and Jepsen's event histories (history.edn, jepsen.util log lines), whose invoke and
// completion events are paired per process here.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "duende/framework/read_limits.h"
#include "duende/harness/linearizability_history.h"
#include "edn.h"

namespace duende::harness::linearizability {
namespace {

constexpr size_t kMaxHistoryBytes = size_t{1} << 30;

framework::Error At(const std::string& name, uint32_t line, uint32_t col,
                    const std::string& message) {
  return framework::MessageError(name + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                 ": " + message);
}

bool ParseFunction(std::string_view s, Function* f) {
  for (Function x : {Function::kRead, Function::kWrite, Function::kCas}) {
    if (s == FunctionName(x)) {
      *f = x;
      return true;
    }
  }
  return false;
}

// Splits text into lines (without '\n'), numbered from 1.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool Next(std::string_view* line, uint32_t* number) {
    if (pos_ >= text_.size()) return false;
    const size_t end = std::min(text_.find('\n', pos_), text_.size());
    *line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    *number = ++number_;
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  uint32_t number_ = 0;
};

// ---- duende JSONL --------------------------------------------------------------------------

// The 1-based column of member `key` in `line` (its quoted name), or 1.
uint32_t ColumnOf(std::string_view line, const std::string& key) {
  const size_t at = line.find('"' + key + '"');
  return at == std::string_view::npos ? 1 : static_cast<uint32_t>(at + 1);
}

framework::Result<Value> JsonValue(const nlohmann::json& j, const std::string& what) {
  if (j.is_null()) return Value();
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.is_number() || j.is_boolean()) return Value(j.dump());
  return framework::MessageError(what + " must be a number, a string or null, not " + j.dump());
}

framework::Result<History> ParseJsonl(std::string_view text, const std::string& name, Model model) {
  History h;
  h.format = HistoryFormat::kJsonl;
  LineReader lines(text);
  std::string_view line;
  uint32_t line_no = 0;
  while (lines.Next(&line, &line_no)) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      const size_t cut = what.find("; last read");
      return At(name, line_no, static_cast<uint32_t>(std::max<size_t>(e.byte, 1)),
                "not JSON: " + (cut == std::string::npos ? what : what.substr(0, cut)) +
                    " (each line is one operation, an object such as "
                    "{\"client\":0,\"f\":\"write\",\"value\":3,\"invoke_ns\":10,"
                    "\"complete_ns\":20,\"outcome\":\"ok\"})");
    }
    auto fail = [&](const std::string& key, const std::string& message) {
      return At(name, line_no, ColumnOf(line, key), message);
    };
    if (!j.is_object()) return fail("", "each line must be a JSON object (one operation)");
    Operation op;
    op.line = line_no;
    auto client = j.find("client");
    if (client == j.end() || !client->is_number_unsigned() ||
        client->get<uint64_t>() > UINT32_MAX) {
      return fail("client", "\"client\" must be the client's number (0 to 4294967295)");
    }
    op.client = client->get<uint32_t>();
    auto f = j.find("f");
    if (f == j.end() || !f->is_string() || !ParseFunction(f->get<std::string>(), &op.f)) {
      return fail("f", "\"f\" must be \"read\", \"write\" or \"cas\"");
    }
    if (op.f == Function::kCas && model == Model::kRegister) {
      return fail("f", "a cas under model register: check it with --model cas-register");
    }
    auto outcome = j.find("outcome");
    const std::string o =
        outcome != j.end() && outcome->is_string() ? outcome->get<std::string>() : std::string();
    if (o == "ok") {
      op.outcome = Outcome::kOk;
    } else if (o == "fail") {
      op.outcome = Outcome::kFail;
    } else if (o == "info") {
      op.outcome = Outcome::kInfo;
    } else {
      return fail("outcome",
                  "\"outcome\" must be \"ok\", \"fail\" or \"info\" (indeterminate: a timeout)");
    }
    auto invoke = j.find("invoke_ns");
    if (invoke == j.end() || !invoke->is_number_integer()) {
      return fail("invoke_ns", "\"invoke_ns\" must be the invocation time, integer nanoseconds");
    }
    op.invoke_ns = invoke->get<int64_t>();
    auto complete = j.find("complete_ns");
    if (complete != j.end() && !complete->is_null()) {
      if (!complete->is_number_integer()) {
        return fail("complete_ns", "\"complete_ns\" must be the completion time, integer ns");
      }
      op.complete_ns = complete->get<int64_t>();
    } else if (op.outcome != Outcome::kInfo) {
      return fail("complete_ns",
                  "\"complete_ns\" is missing: only an \"info\" operation may leave it out");
    }
    if (op.outcome != Outcome::kInfo && op.complete_ns < op.invoke_ns) {
      return fail("complete_ns", "\"complete_ns\" is before \"invoke_ns\"");
    }
    auto value = j.find("value");
    if (op.f == Function::kCas) {
      if (value == j.end() || !value->is_array() || value->size() != 2) {
        return fail("value", "a cas \"value\" must be [expected, new], such as [1, 2]");
      }
      auto a = JsonValue((*value)[0], "the expected value");
      auto b = JsonValue((*value)[1], "the new value");
      if (!a.ok()) return fail("value", a.error().context);
      if (!b.ok()) return fail("value", b.error().context);
      op.value = *a;
      op.new_value = *b;
    } else if (value != j.end()) {
      auto v = JsonValue(*value, "\"value\"");
      if (!v.ok()) return fail("value", v.error().context);
      op.value = *v;
    } else if (op.f == Function::kWrite) {
      return fail("f", "a write needs the \"value\" it wrote");
    }
    auto key = j.find("key");
    if (key != j.end()) {
      if (key->is_string()) {
        op.key = key->get<std::string>();
      } else if (key->is_number_integer()) {
        op.key = key->dump();
      } else {
        return fail("key", "\"key\" must be a string or an integer");
      }
    }
    if (model == Model::kKv && key == j.end()) {
      return fail("", "model kv needs the register's \"key\" on every operation");
    }
    h.ops.push_back(std::move(op));
  }
  return h;
}

// ---- Jepsen events -------------------------------------------------------------------------

struct Event {
  uint32_t process = 0;
  edn::Node type;
  edn::Node f;
  edn::Node value;  // kNil when absent
  uint32_t line = 0;
  uint32_t col = 0;
};

Value NodeValue(const edn::Node& n) {
  switch (n.kind) {
    case edn::Node::Kind::kNil:
      return {};
    case edn::Node::Kind::kString:
    case edn::Node::Kind::kNumber:
    case edn::Node::Kind::kBool:
    case edn::Node::Kind::kSymbol:
      return n.text;
    default:
      return edn::ToText(n);
  }
}

// Reads the :process of an op; nullopt for a nemesis (a keyword process), which is skipped.
framework::Result<std::optional<uint32_t>> Process(const edn::Node& n, const std::string& name) {
  if (n.kind == edn::Node::Kind::kKeyword) return std::optional<uint32_t>();
  if (n.kind == edn::Node::Kind::kNumber &&
      n.text.find_first_not_of("0123456789") == std::string::npos && n.text.size() <= 10) {
    const uint64_t p = std::stoull(n.text);
    if (p <= UINT32_MAX) return std::optional<uint32_t>(static_cast<uint32_t>(p));
  }
  return At(name, n.line, n.col,
            "a process must be a client's number (0, 1, ...) or a keyword such as :nemesis, "
            "not " +
                edn::ToText(n));
}

// Splits a kv tuple [key value].
framework::Result<std::pair<std::string, edn::Node>> Tuple(const edn::Node& v,
                                                           const std::string& name, uint32_t line,
                                                           uint32_t col) {
  if (!v.IsSequence() || v.items.size() != 2) {
    return At(name, v.line != 0 ? v.line : line, v.col != 0 ? v.col : col,
              "model kv needs each value as a [key value] tuple (jepsen.independent), such as "
              "[:x 3] or [1 [2 3]] for a cas; found " +
                  edn::ToText(v));
  }
  const edn::Node& k = v.items[0];
  std::string key = k.kind == edn::Node::Kind::kString ? k.text : edn::ToText(k);
  return std::make_pair(key, v.items[1]);
}

framework::Result<History> Pair(const std::vector<Event>& events, const std::string& name,
                                Model model, HistoryFormat format) {
  History h;
  h.format = format;
  h.times_are_positions = true;
  struct Pending {
    const Event* invoke = nullptr;
    int64_t position = 0;
  };
  std::vector<std::pair<uint32_t, Pending>> pending;  // few processes: a flat map
  auto find = [&](uint32_t p) {
    return std::find_if(pending.begin(), pending.end(), [&](auto& x) { return x.first == p; });
  };
  auto make = [&](const Event& inv, const Event* done, int64_t invoke_pos,
                  int64_t done_pos) -> framework::Result<Operation> {
    Operation op;
    op.client = inv.process;
    op.line = inv.line;
    op.invoke_ns = invoke_pos;
    op.complete_ns = done_pos;
    ParseFunction(inv.f.text, &op.f);
    op.outcome = Outcome::kInfo;
    if (done != nullptr) {
      op.outcome = done->type.IsKeyword("ok")     ? Outcome::kOk
                   : done->type.IsKeyword("fail") ? Outcome::kFail
                                                  : Outcome::kInfo;
    }
    // Reads take the value of their completion; writes and cas that of their invocation
    // (or of the completion, when the invocation has none).
    const bool read_ok = op.f == Function::kRead && op.outcome == Outcome::kOk;
    const Event& src =
        read_ok || (inv.value.kind == edn::Node::Kind::kNil && done != nullptr) ? *done : inv;
    edn::Node v = src.value;
    if (model == Model::kKv) {
      auto t = Tuple(v, name, src.line, src.col);
      if (!t.ok()) return t.error();
      op.key = t->first;
      v = t->second;
    }
    if (op.f == Function::kRead && !read_ok) v = edn::Node();
    if (op.f == Function::kCas) {
      if (!v.IsSequence() || v.items.size() != 2) {
        if (op.outcome == Outcome::kFail) return op;  // never took effect: its value is moot
        return At(name, v.line != 0 ? v.line : inv.line, v.col != 0 ? v.col : inv.col,
                  "a :cas value must be [expected new], such as [1 2]; found " + edn::ToText(v));
      }
      op.value = NodeValue(v.items[0]);
      op.new_value = NodeValue(v.items[1]);
    } else {
      op.value = NodeValue(v);
    }
    return op;
  };
  int64_t position = 0;
  for (const Event& e : events) {
    ++position;
    Function f;
    if (e.f.kind != edn::Node::Kind::kKeyword || !ParseFunction(e.f.text, &f)) {
      return At(
          name, e.f.line, e.f.col,
          "unknown :f " + edn::ToText(e.f) + ": the register models know :read, :write and :cas");
    }
    if (f == Function::kCas && model == Model::kRegister) {
      return At(name, e.f.line, e.f.col,
                "a :cas under model register: check it with --model cas-register");
    }
    auto it = find(e.process);
    if (e.type.IsKeyword("invoke")) {
      if (it != pending.end()) {
        return At(name, e.line, e.col,
                  "process " + std::to_string(e.process) + " invokes " + edn::ToText(e.f) +
                      " while its " + edn::ToText(it->second.invoke->f) + " of line " +
                      std::to_string(it->second.invoke->line) +
                      " has not completed (a process runs one operation at a time)");
      }
      pending.push_back({e.process, Pending{&e, position}});
    } else if (e.type.IsKeyword("ok") || e.type.IsKeyword("fail") || e.type.IsKeyword("info")) {
      if (it == pending.end()) {
        return At(name, e.line, e.col,
                  "process " + std::to_string(e.process) + " completes " + edn::ToText(e.f) +
                      " with " + edn::ToText(e.type) + " but invoked nothing before");
      }
      if (it->second.invoke->f.text != e.f.text) {
        return At(name, e.f.line, e.f.col,
                  "process " + std::to_string(e.process) + " completes " + edn::ToText(e.f) +
                      " but invoked " + edn::ToText(it->second.invoke->f) + " at line " +
                      std::to_string(it->second.invoke->line));
      }
      auto op = make(*it->second.invoke, &e, it->second.position, position);
      if (!op.ok()) return op.error();
      h.ops.push_back(std::move(*op));
      pending.erase(it);
    } else {
      return At(name, e.type.line, e.type.col,
                "unknown :type " + edn::ToText(e.type) + ": use :invoke, :ok, :fail or :info");
    }
  }
  // Invoked and never completed: the history ended first, so the op is indeterminate.
  for (auto& [process, p] : pending) {
    auto op = make(*p.invoke, nullptr, p.position, position + 1);
    if (!op.ok()) return op.error();
    h.ops.push_back(std::move(*op));
  }
  return h;
}

framework::Result<History> ParseEdn(std::string_view text, const std::string& name, Model model) {
  auto forms = edn::ReadAll(text, name);
  if (!forms.ok()) return forms.error();
  const std::vector<edn::Node>* maps = &*forms;
  if (forms->size() == 1 && (*forms)[0].IsSequence()) maps = &(*forms)[0].items;
  std::vector<Event> events;
  events.reserve(maps->size());
  for (const edn::Node& m : *maps) {
    if (m.kind != edn::Node::Kind::kMap) {
      return At(name, m.line, m.col,
                "each operation must be a map such as {:type :invoke, :f :read, :value nil, "
                ":process 0}, not " +
                    edn::ToText(m).substr(0, 60));
    }
    const edn::Node* process = m.Get("process");
    const edn::Node* type = m.Get("type");
    const edn::Node* f = m.Get("f");
    if (process == nullptr || type == nullptr || f == nullptr) {
      return At(name, m.line, m.col,
                std::string("this operation has no ") +
                    (process == nullptr ? ":process"
                     : type == nullptr  ? ":type"
                                        : ":f") +
                    " (every op needs :process, :type and :f)");
    }
    auto p = Process(*process, name);
    if (!p.ok()) return p.error();
    if (!p->has_value()) continue;  // the nemesis
    Event e;
    e.process = **p;
    e.type = *type;
    e.f = *f;
    if (const edn::Node* v = m.Get("value")) e.value = *v;
    e.line = m.line;
    e.col = m.col;
    events.push_back(std::move(e));
  }
  return Pair(events, name, model, HistoryFormat::kEdn);
}

// `... jepsen.util - 3 :invoke :read nil` (older Jepsen) or `... jepsen.util: 3 ...`.
framework::Result<History> ParseJepsenLog(std::string_view text, const std::string& name,
                                          Model model) {
  std::vector<Event> events;
  LineReader lines(text);
  std::string_view line;
  uint32_t line_no = 0;
  while (lines.Next(&line, &line_no)) {
    size_t at = line.find("jepsen.util");
    if (at == std::string_view::npos) continue;
    at += std::string_view("jepsen.util").size();
    // " - " (older Jepsen) or ": " (newer) before the process, which may itself be a keyword.
    auto blank = [&](size_t i) { return i < line.size() && (line[i] == ' ' || line[i] == '\t'); };
    if (at < line.size() && line[at] == ':') ++at;
    while (blank(at)) ++at;
    if (at < line.size() && line[at] == '-' && blank(at + 1)) ++at;
    std::vector<edn::Node> parts;
    size_t used = 0;
    for (int i = 0; i < 4 && at < line.size(); ++i) {
      while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
      if (at >= line.size()) break;
      auto n = edn::ReadFirst(line.substr(at), name, line_no, static_cast<uint32_t>(at + 1), &used);
      if (!n.ok()) return n.error();
      parts.push_back(std::move(*n));
      at += used;
    }
    if (parts.size() < 3) {
      return At(name, line_no, static_cast<uint32_t>(std::min(at, line.size()) + 1),
                "a jepsen.util line needs PROCESS :TYPE :F [VALUE], such as "
                "\"INFO  jepsen.util - 3 :invoke :read nil\"");
    }
    auto p = Process(parts[0], name);
    if (!p.ok()) return p.error();
    if (!p->has_value()) continue;
    if (parts[1].kind != edn::Node::Kind::kKeyword) {
      return At(name, parts[1].line, parts[1].col,
                "the type must be :invoke, :ok, :fail or :info, not " + edn::ToText(parts[1]));
    }
    Event e;
    e.process = **p;
    e.type = parts[1];
    e.f = parts[2];
    if (parts.size() > 3) e.value = parts[3];
    e.line = line_no;
    e.col = parts[0].col;
    events.push_back(std::move(e));
  }
  return Pair(events, name, model, HistoryFormat::kJepsenLog);
}

HistoryFormat Detect(std::string_view text, const std::string& name) {
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           std::string_view(name).substr(name.size() - suffix.size()) == suffix;
  };
  if (ends(".jsonl") || ends(".json")) return HistoryFormat::kJsonl;
  if (ends(".edn")) return HistoryFormat::kEdn;
  if (ends(".log") || ends(".txt")) return HistoryFormat::kJepsenLog;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text.substr(first, 2) == "{\"") {
    return HistoryFormat::kJsonl;
  }
  if (text.find("jepsen.util") != std::string_view::npos) return HistoryFormat::kJepsenLog;
  return HistoryFormat::kEdn;
}

}  // namespace

const char* HistoryFormatName(HistoryFormat format) {
  switch (format) {
    case HistoryFormat::kAuto:
      return "auto";
    case HistoryFormat::kJsonl:
      return "jsonl";
    case HistoryFormat::kEdn:
      return "edn";
    case HistoryFormat::kJepsenLog:
      return "jepsen-log";
  }
  return "?";
}

bool ParseHistoryFormat(std::string_view name, HistoryFormat* format) {
  for (HistoryFormat f : {HistoryFormat::kAuto, HistoryFormat::kJsonl, HistoryFormat::kEdn,
                          HistoryFormat::kJepsenLog}) {
    if (name == HistoryFormatName(f)) {
      *format = f;
      return true;
    }
  }
  return false;
}

framework::Result<History> ParseHistory(std::string_view text, const std::string& name, Model model,
                                        HistoryFormat format) {
  if (format == HistoryFormat::kAuto) format = Detect(text, name);
  switch (format) {
    case HistoryFormat::kJsonl:
      return ParseJsonl(text, name, model);
    case HistoryFormat::kEdn:
      return ParseEdn(text, name, model);
    default:
      return ParseJepsenLog(text, name, model);
  }
}

framework::Result<History> ReadHistoryFile(const std::string& path, Model model,
                                           HistoryFormat format) {
  auto text = framework::ReadFileLimited(path, kMaxHistoryBytes);
  if (!text.ok()) return text.error();
  return ParseHistory(*text, path, model, format);
}

}  // namespace duende::harness::linearizability
