#include "errors.h"

#include <array>
#include <string>

namespace py = pybind11;

namespace omendb::python {
namespace {

constexpr size_t kNumCodes = static_cast<size_t>(StatusCode::kInternal) + 1;

// Indexed by StatusCode; kOk's entry is the base class. Strong references
// kept for the life of the process (the module is never unloaded).
std::array<PyObject*, kNumCodes> g_classes{};

struct ClassSpec {
  StatusCode code;
  const char* name;
  PyObject* extra_base;  // a built-in exception the class also derives from, or null
  const char* doc;
};

}  // namespace

void ThrowInvalid(const std::string& message) {
  throw StatusError(Status::InvalidArgument(message));
}

void RegisterErrors(py::module_& m) {
  PyObject* base = PyErr_NewExceptionWithDoc(
      "omendb.Error",
      "Base class of every error OmenDB reports. str(e) is the library's message; "
      "e.code names the error kind (e.g. 'corruption').",
      PyExc_Exception, nullptr);
  if (base == nullptr) throw py::error_already_set();
  g_classes[0] = base;
  m.attr("Error") = py::handle(base);
  PyObject_SetAttrString(base, "code", py::str("error").ptr());

  const ClassSpec specs[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "A malformed argument: wrong shape or dimension, NaN, k = 0, a bad filter or option."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_KeyError,
       "A named thing (collection, id, file) does not exist. Also a KeyError."},
      {StatusCode::kAlreadyExists, "AlreadyExistsError", nullptr,
       "Creating something that exists (a collection name, a database with error_if_exists)."},
      {StatusCode::kCorruption, "CorruptionError", nullptr,
       "Stored data failed a check (checksum, magic, bounds); the message names the file."},
      {StatusCode::kIOError, "IOError", PyExc_OSError,
       "The operating system reported an I/O failure. Also an OSError."},
      {StatusCode::kNotSupported, "NotSupportedError", nullptr,
       "A valid request this build or file format cannot serve."},
      {StatusCode::kResourceExhausted, "ResourceExhaustedError", nullptr,
       "Out of memory, disk space or another finite resource."},
      {StatusCode::kFailedPrecondition, "FailedPreconditionError", nullptr,
       "The object does not allow the call in its state (e.g. the database is closed)."},
      {StatusCode::kBusy, "BusyError", nullptr,
       "Another party holds a required lock (the database is open in another process)."},
      {StatusCode::kInternal, "InternalError", nullptr,
       "An invariant was broken inside the library (a bug)."},
  };
  for (const ClassSpec& s : specs) {
    py::tuple bases = s.extra_base != nullptr
                          ? py::make_tuple(py::handle(base), py::handle(s.extra_base))
                          : py::make_tuple(py::handle(base));
    std::string qualified = std::string("omendb.") + s.name;
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), s.doc, bases.ptr(), nullptr);
    if (cls == nullptr) throw py::error_already_set();
    PyObject_SetAttrString(cls, "code", py::str(StatusCodeName(s.code)).ptr());
    if (s.extra_base == PyExc_KeyError) {
      // KeyError prints the repr of its argument; show the message as is.
      py::object plain_str = py::handle(PyExc_Exception).attr("__str__");
      PyObject_SetAttrString(cls, "__str__", plain_str.ptr());
    }
    g_classes[static_cast<size_t>(s.code)] = cls;
    m.attr(s.name) = py::handle(cls);
  }

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      SetPythonError(e.status());
    }
  });
}

void SetPythonError(const Status& status) {
  size_t i = static_cast<size_t>(status.code());
  PyObject* cls = i < kNumCodes && g_classes[i] != nullptr ? g_classes[i] : g_classes[0];
  PyErr_SetString(cls, status.message().c_str());
}

void SetPythonErrorFromCurrentException() {
  try {
    throw;
  } catch (const StatusError& e) {
    SetPythonError(e.status());
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

}  // namespace omendb::python
