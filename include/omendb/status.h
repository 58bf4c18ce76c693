// Status and Result<T>: how every fallible OmenDB call reports failure.
//
// The library never throws across its API and never aborts on input from the
// user, the disk or the OS; such failures come back as a non-OK Status. An OK
// Status holds no heap memory, so returning one on a hot path costs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace omendb {

// Canonical error codes (names follow abseil's StatusCode).
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (bad dimension, NaN, k = 0, ...)
  kNotFound,            // a named thing (file, id, collection) does not exist
  kAlreadyExists,       // creating something that exists
  kCorruption,          // stored data failed a check (checksum, magic, bounds)
  kIOError,             // the operating system reported an I/O failure
  kNotSupported,        // valid request this build or format cannot serve
  kResourceExhausted,   // out of memory, disk space or another finite resource
  kFailedPrecondition,  // the object is not in a state that allows the call (e.g. empty index)
  kBusy,                // another party holds a required lock
  kInternal,            // an invariant was broken inside the library (a bug)
};

// Returns the lower-case name of `code`, e.g. "invalid argument". Never null.
const char* StatusCodeName(StatusCode code);

// The outcome of an operation: OK, or an error code with a human-readable
// message. Cheap to copy when OK. Thread-compatible (const methods may be
// called concurrently).
class [[nodiscard]] Status {
 public:
  // Constructs OK.
  Status() = default;
  Status(StatusCode code, std::string_view message) : code_(code), message_(message) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
  static Status NotFound(std::string_view m) { return {StatusCode::kNotFound, m}; }
  static Status AlreadyExists(std::string_view m) { return {StatusCode::kAlreadyExists, m}; }
  static Status Corruption(std::string_view m) { return {StatusCode::kCorruption, m}; }
  static Status IOError(std::string_view m) { return {StatusCode::kIOError, m}; }
  static Status NotSupported(std::string_view m) { return {StatusCode::kNotSupported, m}; }
  static Status ResourceExhausted(std::string_view m) {
    return {StatusCode::kResourceExhausted, m};
  }
  static Status FailedPrecondition(std::string_view m) {
    return {StatusCode::kFailedPrecondition, m};
  }
  static Status Busy(std::string_view m) { return {StatusCode::kBusy, m}; }
  static Status Internal(std::string_view m) { return {StatusCode::kInternal, m}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }
  bool IsIOError() const { return code_ == StatusCode::kIOError; }

  // "OK", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>" (OK stays OK).
  Status WithContext(std::string_view prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value of type T or a non-OK Status. Accessing value() of an error
// Result is a programming error (checked by assert in debug builds).
template <class T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or from a non-OK Status, so functions can `return v;`
  // or `return Status::NotFound(...)`.
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK if this holds a value, else the error.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace omendb

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define OMENDB_RETURN_IF_ERROR(expr)               \
  do {                                             \
    ::omendb::Status omendb_status_ = (expr);      \
    if (!omendb_status_.ok()) return omendb_status_; \
  } while (0)

#define OMENDB_CONCAT_INNER_(a, b) a##b
#define OMENDB_CONCAT_(a, b) OMENDB_CONCAT_INNER_(a, b)

// `OMENDB_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result's value,
// or returns the Result's Status from the enclosing function.
#define OMENDB_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto OMENDB_CONCAT_(omendb_result_, __LINE__) = (expr);                   \
  if (!OMENDB_CONCAT_(omendb_result_, __LINE__).ok())                       \
    return OMENDB_CONCAT_(omendb_result_, __LINE__).status();               \
  lhs = std::move(OMENDB_CONCAT_(omendb_result_, __LINE__)).value()
