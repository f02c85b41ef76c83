// Result<T>: the value of an operation that can fail in normal operation, or the Error.
//
// A small project-owned type: g++ 12 has std::expected only under -std=c++23 and clang 14
// tooling (clang-tidy, libclang) cannot parse libstdc++'s <expected>.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace duende::framework {

/// An error: the errno-level code a caller can act on, and a human context in s6's shape
/// ("unable to spawn fixtures/kvd: No such file or directory" is Message()).
struct Error {
  std::error_code code;
  std::string context;
  /// True when `context` is the whole message (validation errors): Message() then does not
  /// append the code's text.
  bool self_contained = false;

  /// "context: strerror(code)", or just the context when the code is empty or the error is
  /// self-contained (validation errors carry their whole message in the context).
  std::string Message() const {
    if (!code || self_contained) return context;
    if (context.empty()) return code.message();
    return context + ": " + code.message();
  }
};

/// An Error from errno (or the given errno value) with a context such as "unable to open x".
inline Error ErrnoError(std::string context, int err = errno) {
  return Error{std::error_code(err, std::system_category()), std::move(context)};
}

/// An Error with only a message (no errno), e.g. for invalid input.
inline Error MessageError(std::string message, std::errc code = std::errc::invalid_argument) {
  return Error{std::make_error_code(code), std::move(message), true};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

/// Returns early from the enclosing function with the error of `expr` if it failed.
#define DUENDE_TRY(expr)                                            \
  do {                                                              \
    if (auto duende_try_result_ = (expr); !duende_try_result_.ok()) \
      return duende_try_result_.error();                            \
  } while (false)

}  // namespace duende::framework
