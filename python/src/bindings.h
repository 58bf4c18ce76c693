// The parts of the omendb._omendb extension module, each adding its classes
// and functions to the module (called once from the module's init).
#pragma once

#include <pybind11/pybind11.h>

namespace omendb::python {

// omendb.open, Database, Collection, Record, Filter, NO_ID and the
// _native_search_qps benchmark hook (db_bindings.cc).
void BindDatabase(pybind11::module_& m);

// HnswIndex: the bare graph index behind omendb.hnswlib_compat
// (hnsw_bindings.cc).
void BindHnswIndex(pybind11::module_& m);

}  // namespace omendb::python
