#include "duende/framework/rotating_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "duende/framework/io.h"

namespace duende::framework {
namespace {

Result<UniqueFd> OpenAppend(const std::string& path, uint64_t* size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("unable to open " + path);
  UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoError("unable to stat " + path);
  *size = static_cast<uint64_t>(st.st_size);
  return owned;
}

}  // namespace

RotatingFile::RotatingFile(std::string path, uint64_t max_bytes, uint32_t keep, UniqueFd fd,
                           uint64_t size)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep), fd_(std::move(fd)), size_(size) {}

RotatingFile::RotatingFile(RotatingFile&& other) noexcept
    : path_(std::move(other.path_)),
      max_bytes_(other.max_bytes_),
      keep_(other.keep_),
      fd_(std::move(other.fd_)),
      size_(other.size_) {}

RotatingFile& RotatingFile::operator=(RotatingFile&& other) noexcept {
  if (this != &other) {
    path_ = std::move(other.path_);
    max_bytes_ = other.max_bytes_;
    keep_ = other.keep_;
    fd_ = std::move(other.fd_);
    size_ = other.size_;
  }
  return *this;
}

Result<RotatingFile> RotatingFile::Open(const std::string& path, uint64_t max_bytes,
                                        uint32_t keep) {
  uint64_t size = 0;
  auto fd = OpenAppend(path, &size);
  if (!fd.ok()) return fd.error();
  return RotatingFile(path, max_bytes, keep, std::move(fd.value()), size);
}

int RotatingFile::fd() const {
  std::lock_guard lock(mu_);
  return fd_.get();
}

uint64_t RotatingFile::size() const {
  std::lock_guard lock(mu_);
  return size_;
}

Result<void> RotatingFile::Rotate() {
  std::lock_guard lock(mu_);
  return RotateLocked();
}

Result<void> RotatingFile::RotateLocked() {
  if (keep_ == 0) {
    if (::ftruncate(fd_.get(), 0) != 0) return ErrnoError("unable to truncate " + path_);
    size_ = 0;
    return {};
  }
  // Shift from the oldest down so nothing is overwritten before it moved; path.keep drops off.
  for (uint32_t i = keep_; i >= 1; --i) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("unable to rename " + from + " to " + to);
    }
  }
  uint64_t size = 0;
  auto fd = OpenAppend(path_, &size);
  if (!fd.ok()) return fd.error();
  fd_ = std::move(fd.value());
  size_ = size;
  return {};
}

Result<void> RotatingFile::Write(std::string_view data) {
  std::lock_guard lock(mu_);
  if (max_bytes_ > 0 && size_ > 0 && size_ + data.size() > max_bytes_) {
    DUENDE_TRY(RotateLocked());
  }
  auto written = WriteAll(fd_.get(), data);
  if (!written.ok()) return ErrnoError("unable to write " + path_, written.error().code.value());
  size_ += data.size();
  return {};
}

}  // namespace duende::framework
