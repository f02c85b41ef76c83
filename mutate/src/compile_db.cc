#include "duende/mutate/compile_db.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "duende/framework/read_limits.h"

namespace duende::mutate {

namespace fs = std::filesystem;

std::vector<std::string> SplitCommand(const std::string& command) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < command.size()) {
        cur += command[++i];
      } else {
        cur += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      have = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      cur += command[++i];
      have = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

std::vector<std::string> CompileEntry::ParseArgs() const {
  std::vector<std::string> out;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-o" || a == "-MF" || a == "-MT" || a == "-MQ") {
      ++i;
      continue;
    }
    if (a == "-c" || a == "-MD" || a == "-MMD" || a == "--") continue;
    // The source file: compare normalized absolute paths.
    std::error_code ec;
    fs::path p = fs::path(a).is_absolute() ? fs::path(a) : fs::path(directory) / a;
    if (a[0] != '-' && fs::weakly_canonical(p, ec) == fs::path(file)) continue;
    // Relative paths are relative to the entry's directory. (libclang's -working-directory
    // would change the whole process's working directory.)
    bool absolutized = false;
    for (const char* flag : {"-I", "-isystem", "-iquote", "-include", "-idirafter"}) {
      std::string f = flag;
      if (a == f && i + 1 < argv.size()) {
        const std::string& v = argv[++i];
        out.push_back(a);
        out.push_back(v[0] == '/' ? v : (fs::path(directory) / v).string());
        absolutized = true;
        break;
      }
      if (a.rfind(f, 0) == 0 && a.size() > f.size() && a[f.size()] != '/' && f == "-I") {
        out.push_back(f + (fs::path(directory) / a.substr(f.size())).string());
        absolutized = true;
        break;
      }
    }
    if (!absolutized) out.push_back(a);
  }
  // The build's -Werror meets clang-only warnings here: only errors matter for the AST.
  out.push_back("-w");
  out.push_back("-Wno-error");
  return out;
}

framework::Result<std::vector<CompileEntry>> LoadCompileDb(const std::string& path) {
  // compile_commands.json of a large project runs to tens of MiB; 256 MiB is a ceiling, not a
  // size anyone reaches.
  auto text = framework::ReadFileLimited(path, 256u << 20);
  if (!text.ok()) return text.error();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return framework::MessageError(path + ": not a compilation database: " + e.what());
  }
  if (!doc.is_array()) {
    return framework::MessageError(path +
                                   ": not a compilation database: expected a JSON array "
                                   "(generate it with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)");
  }
  std::vector<CompileEntry> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& e = doc[i];
    if (!e.is_object() || !e.contains("directory") || !e.contains("file") ||
        !(e.contains("arguments") || e.contains("command"))) {
      return framework::MessageError(path + ": entry " + std::to_string(i + 1) +
                                     " lacks 'directory', 'file' or 'command'");
    }
    CompileEntry entry;
    entry.directory = e["directory"].get<std::string>();
    fs::path f = e["file"].get<std::string>();
    if (f.is_relative()) f = fs::path(entry.directory) / f;
    std::error_code ec;
    entry.file = fs::weakly_canonical(f, ec).string();
    if (e.contains("arguments")) {
      entry.argv = e["arguments"].get<std::vector<std::string>>();
    } else {
      entry.argv = SplitCommand(e["command"].get<std::string>());
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace duende::mutate
