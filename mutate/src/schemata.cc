#include "duende/mutate/schemata.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace duende::mutate {
namespace {

constexpr std::string_view kPrelude =
    "extern \"C\" bool duende_mutant_check(unsigned id) noexcept;  // duende mutate schemata\n"
    "#line 1\n";

struct Site {
  uint32_t begin = 0;
  uint32_t end = 0;
  bool guard = false;
  std::vector<const Mutant*> mutants;
  std::vector<Site*> children;
};

class Renderer {
 public:
  Renderer(std::string_view original, SchemataFile* out) : src_(original), out_(out) {}

  void RenderRange(const std::vector<Site*>& sites, uint32_t begin, uint32_t end) {
    uint32_t pos = begin;
    for (Site* s : sites) {
      out_->text.append(src_.substr(pos, s->begin - pos));
      RenderSite(*s);
      pos = s->end;
    }
    out_->text.append(src_.substr(pos, end - pos));
  }

 private:
  uint32_t Here() const { return static_cast<uint32_t>(out_->text.size()); }

  void RenderSite(const Site& s) {
    std::string& t = out_->text;
    uint32_t site_start = Here();
    if (s.guard) {
      t += "{";
      for (const Mutant* m : s.mutants) {
        uint32_t b = Here();
        t += " if (duende_mutant_check(" + std::to_string(m->id) + "u)) return;";
        out_->spans.push_back({m->id, b, Here(), true});
      }
      RenderRange(s.children, s.begin + 1, s.end);
    } else {
      t += "(";
      for (const Mutant* m : s.mutants) {
        t += "duende_mutant_check(" + std::to_string(m->id) + "u) ? (";
        uint32_t b = Here();
        t += m->alt_prefix;
        t.append(src_.substr(s.begin, m->begin - s.begin));
        t += m->code;
        t.append(src_.substr(m->end, s.end - m->end));
        t += m->alt_suffix;
        out_->spans.push_back({m->id, b, Here(), true});
        t += ") : ";
      }
      t += "(";
      RenderRange(s.children, s.begin, s.end);
      t += "))";
    }
    for (const Mutant* m : s.mutants) out_->spans.push_back({m->id, site_start, Here(), false});
  }

  std::string_view src_;
  SchemataFile* out_;
};

}  // namespace

SchemataFile RenderSchemata(std::string_view original, const std::vector<const Mutant*>& mutants,
                            uint32_t id_limit) {
  SchemataFile out;
  // Group mutants into sites (same range and kind), then nest the sites by containment.
  std::map<std::tuple<uint32_t, int64_t, bool>, Site> by_range;
  for (const Mutant* m : mutants) {
    auto key = std::make_tuple(m->site_begin, -static_cast<int64_t>(m->site_end), m->guard_site);
    Site& s = by_range[key];
    s.begin = m->site_begin;
    s.end = m->site_end;
    s.guard = m->guard_site;
    s.mutants.push_back(m);
  }
  std::vector<Site*> roots;
  std::vector<Site*> stack;
  for (auto& [key, site] : by_range) {
    while (!stack.empty() && stack.back()->end <= site.begin) stack.pop_back();
    if (!stack.empty() && site.end > stack.back()->end) {
      // Partial overlap: cannot nest. Leave these mutants to the rebuild fallback.
      for (const Mutant* m : site.mutants) out.unplaced.push_back(m->id);
      continue;
    }
    if (!stack.empty() && stack.back()->begin == site.begin && stack.back()->end == site.end) {
      // Same range, other kind (a body guard never shares an expression's range).
      for (const Mutant* m : site.mutants) out.unplaced.push_back(m->id);
      continue;
    }
    (stack.empty() ? roots : stack.back()->children).push_back(&site);
    stack.push_back(&site);
  }
  out.text = kPrelude;
  out.body_offset = static_cast<uint32_t>(out.text.size());
  Renderer r(original, &out);
  r.RenderRange(roots, 0, static_cast<uint32_t>(original.size()));
  out.text += "\n";
  out.text += RuntimeSource(id_limit);
  return out;
}

std::vector<uint32_t> BlameError(const SchemataFile& file, uint32_t line, uint32_t column) {
  std::string_view body(file.text);
  body.remove_prefix(file.body_offset);
  LineIndex lines(body);
  auto off = lines.OffsetOf(line, column);
  if (!off) return {};
  uint32_t o = *off + file.body_offset;
  // The innermost mutant alternative containing the position is the culprit; else every
  // mutant of the innermost site (an error in the ?: itself).
  const SchemataFile::Span* best = nullptr;
  for (const auto& s : file.spans) {
    if (!s.alternative || o < s.begin || o >= s.end) continue;
    if (best == nullptr || s.end - s.begin < best->end - best->begin) best = &s;
  }
  if (best != nullptr) return {best->id};
  uint32_t width = UINT32_MAX;
  for (const auto& s : file.spans) {
    if (!s.alternative && o >= s.begin && o < s.end) width = std::min(width, s.end - s.begin);
  }
  std::vector<uint32_t> ids;
  for (const auto& s : file.spans) {
    if (!s.alternative && o >= s.begin && o < s.end && s.end - s.begin == width) {
      ids.push_back(s.id);
    }
  }
  return ids;
}

std::string RuntimeSource(uint32_t id_limit) {
  std::string n = std::to_string(id_limit == 0 ? 1 : id_limit);
  // Weak: every mutated file carries a copy and the linker keeps one. Only async-signal-safe
  // calls after the first use (it also runs in vfork children between vfork and exec); the
  // trace write is one small O_APPEND write, so processes sharing the file do not interleave.
  return R"(// duende mutate: the run-time switch of the mutant schemata.
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
extern "C" __attribute__((weak)) bool duende_mutant_check(unsigned id) noexcept {
  static const long active = [] {
    const char* s = std::getenv("DUENDE_MUTANT");
    return s != nullptr ? std::atol(s) : -1L;
  }();
  static const char* const trace_path = std::getenv("DUENDE_MUTANT_TRACE");
  static const pid_t owner = ::getpid();
  static const int trace_fd =
      trace_path != nullptr ? ::open(trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)
                            : -1;
  static unsigned char seen[)" +
         n + R"(];
  if (trace_fd >= 0 && id < )" +
         n +
         R"(u && __atomic_exchange_n(&seen[id], static_cast<unsigned char>(1), __ATOMIC_RELAXED) == 0) {
    char buf[16];
    int len = 0;
    char digits[12];
    int nd = 0;
    unsigned v = id;
    do {
      digits[nd++] = static_cast<char>('0' + v % 10u);
      v /= 10u;
    } while (v != 0u);
    while (nd > 0) buf[len++] = digits[--nd];
    buf[len++] = '\n';
    // In a forked or vforked child the descriptor number may mean something else by now
    // (dup2 onto it before exec): open the file afresh there.
    const bool fresh = ::getpid() != owner;
    const int fd = fresh ? ::open(trace_path, O_WRONLY | O_APPEND | O_CLOEXEC) : trace_fd;
    if (fd >= 0 && ::write(fd, buf, static_cast<size_t>(len)) < 0) {
    }
    if (fresh && fd >= 0) ::close(fd);
  }
  return active >= 0 && static_cast<unsigned long>(active) == id;
}
)";
}

}  // namespace duende::mutate
