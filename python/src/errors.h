// How the bindings turn an omendb::Status into a Python exception.
//
// The library never throws; binding code that meets a non-OK Status throws
// StatusError (a C++ exception that never leaves the bindings), and the
// translator registered by RegisterErrors raises the Python class of the
// Status's code with the library's message.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <utility>

#include "omendb/status.h"

namespace omendb::python {

// Carries a non-OK Status from binding code to the exception translator.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws StatusError(status) if status is not OK.
inline void Check(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

// The value of `result`, or throws StatusError with its Status.
template <class T>
T Unwrap(Result<T>&& result) {
  if (!result.ok()) throw StatusError(result.status());
  return std::move(result).value();
}

// Throws StatusError(InvalidArgument(message)): the way binding code reports
// a malformed Python argument (raised as omendb.InvalidArgumentError, a
// ValueError).
[[noreturn]] void ThrowInvalid(const std::string& message);

// Creates omendb.Error and one subclass per StatusCode in module `m`, and
// registers the translator for StatusError. Classes (Python bases):
//   Error(Exception)                       every error the library reports
//   InvalidArgumentError(Error, ValueError)
//   NotFoundError(Error, KeyError)
//   AlreadyExistsError(Error)
//   CorruptionError(Error)
//   IOError(Error, OSError)
//   NotSupportedError(Error)
//   ResourceExhaustedError(Error)
//   FailedPreconditionError(Error)
//   BusyError(Error)
//   InternalError(Error)
// Each class has a `code` attribute: the library's name of the code
// ("corruption", "not found", ...).
void RegisterErrors(pybind11::module_& m);

// Sets the Python error indicator to the omendb.Error subclass of
// status.code() with the library's message (what the translator does), for
// functions called by Python directly rather than through pybind11.
void SetPythonError(const Status& status);

// Sets the Python error indicator from the exception being handled (call in
// a catch (...) block): StatusError as above, pybind11's exceptions as
// pybind11 would, anything else as RuntimeError.
void SetPythonErrorFromCurrentException();

}  // namespace omendb::python
