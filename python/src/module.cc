// omendb._omendb: the compiled part of the `omendb` Python package. The
// package's __init__.py re-exports it; see docs/python.md for the API.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "convert.h"
#include "errors.h"

namespace py = pybind11;

PYBIND11_MODULE(_omendb, m) {
  m.doc() = "OmenDB's compiled bindings (use the `omendb` package).";
  omendb::python::RegisterErrors(m);
  omendb::python::BindDatabase(m);
  omendb::python::BindHnswIndex(m);
  m.def("_last_input_address", &omendb::python::LastInputAddress,
        "Test hook: the address of the float32 data the last vector argument on this thread "
        "was read from (equal to arr.ctypes.data when a numpy array was used in place).");
}
