#include "duende/framework/temp_dir.h"

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace duende::framework {

std::string TempDir() {
  const char* t = std::getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? t : "/tmp";
}

Result<std::string> MakePrivateTempDir(const std::string& prefix) {
  std::string tmpl = TempDir() + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return ErrnoError("unable to create a private directory " + tmpl);
  }
  // Resolved once, here: files inside are later opened through real directories only.
  char real[PATH_MAX];
  if (::realpath(buf.data(), real) == nullptr) return ErrnoError("unable to resolve " + tmpl);
  return std::string(real);
}

Result<PrivateTempDir> PrivateTempDir::Make(const std::string& prefix) {
  auto path = MakePrivateTempDir(prefix);
  if (!path.ok()) return path.error();
  PrivateTempDir d;
  d.path_ = std::move(*path);
  return d;
}

PrivateTempDir::PrivateTempDir(PrivateTempDir&& other) noexcept : path_(other.Release()) {}

namespace {

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace

// Not through this->~PrivateTempDir(): that ends path_'s lifetime, and assigning to it after
// is undefined (it was a double free).
PrivateTempDir& PrivateTempDir::operator=(PrivateTempDir&& other) noexcept {
  if (this != &other) {
    RemoveTree(path_);
    path_ = other.Release();
  }
  return *this;
}

PrivateTempDir::~PrivateTempDir() { RemoveTree(path_); }

std::string PrivateTempDir::Release() {
  std::string p = std::move(path_);
  path_.clear();
  return p;
}

}  // namespace duende::framework
