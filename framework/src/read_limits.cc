#include "duende/framework/read_limits.h"

#include <fcntl.h>
#include <unistd.h>

#include "duende/framework/unique_fd.h"

namespace duende::framework {

Result<std::string> ReadFileLimited(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("unable to open " + path);
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("unable to read " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return MessageError(path + " is larger than " + std::to_string(max_bytes) +
                              " bytes, the most duende reads from such a file",
                          std::errc::file_too_large);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool GetLineLimited(std::istream& in, std::string* line, size_t max_bytes, size_t* cut) {
  line->clear();
  size_t skipped = 0;
  bool any = false;
  std::streambuf* sb = in.rdbuf();
  while (true) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line->size() < max_bytes) {
      line->push_back(static_cast<char>(c));
    } else {
      ++skipped;
    }
  }
  if (cut != nullptr) *cut = skipped;
  if (!any) in.setstate(std::ios::failbit);
  return any;
}

}  // namespace duende::framework
