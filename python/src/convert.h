// Conversions between Python objects and the library's types: vectors read
// in place from numpy buffers, ids, metadata dicts and filter dicts.
//
// Every function here needs the GIL. Malformed input throws StatusError
// (InvalidArgument, raised as omendb.InvalidArgumentError) with a message
// that names the argument and what was wrong with it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "omendb/filter.h"
#include "omendb/metadata.h"
#include "omendb/types.h"

namespace omendb::python {

// Rows of float32 vectors, read in place from a numpy buffer.
struct FloatRows {
  const float* data = nullptr;  // rows * dim floats, row-major
  size_t rows = 0;
  size_t dim = 0;
  bool one_row = false;    // the input was a single 1-D vector
  bool copied = false;     // the input had to be converted (dtype, order or alignment)
  pybind11::object owner;  // keeps `data` alive (the caller's array, or the converted copy)
  std::span<const float> span() const { return {data, rows * dim}; }
};

// Reads `obj` as one vector of `dim` values (1-D) or a batch (2-D, n x dim).
// A C-contiguous, aligned, native-order float32 ndarray is used in place
// (no copy); any other numeric array or sequence is converted to float32
// once. Errors: not numeric, wrong number of dimensions, wrong row length.
// `what` names the argument in messages ("vectors", "queries").
// Records the address read from for LastInputAddress().
FloatRows AsFloatRows(pybind11::handle obj, size_t dim, const char* what);

// The address of the float data the last AsFloatRows call on this thread
// returned: a test hook showing whether a numpy buffer was used in place.
uintptr_t LastInputAddress();

// Ids read from an int, a sequence of ints or an integer ndarray (1-D).
// A C-contiguous uint64 ndarray is used in place. Errors: negative values,
// values above 2^64 - 1, non-integers, more than one dimension.
struct IdList {
  const VectorId* data = nullptr;
  size_t size = 0;
  bool scalar = false;            // the input was a single int
  std::vector<VectorId> storage;  // converted ids (when not in place)
  pybind11::object owner;
  std::span<const VectorId> span() const { return {data, size}; }
};
IdList AsIds(pybind11::handle obj, const char* what);

// A Python value (bool, int, float, str, or the numpy scalar of one) as a
// metadata value. `where` prefixes error messages.
MetadataValue AsMetadataValue(pybind11::handle value, const std::string& where);

// A dict {str: value} as Metadata (None values are left out). Validated
// with ValidateMetadata.
Metadata AsMetadata(pybind11::handle dict, const std::string& where);

// Per-row metadata for `rows` rows: None (no metadata, empty result), a list
// of dicts (None entries mean no metadata), or a dict of columns
// {field: sequence of rows values} (None entries leave the field out).
std::vector<Metadata> AsMetadataRows(pybind11::handle obj, size_t rows);

// Metadata / one value as Python objects (int, float, str, bool in a dict).
pybind11::object ToPython(const MetadataValue& value);
pybind11::dict ToPython(const Metadata& metadata);

// A search filter from: None (match everything), a dict in the MongoDB
// style ParseFilter accepts ({"year": {"$gte": 2020}, "lang": "en"}), a str
// holding such JSON, or an omendb.Filter (passed as the Filter itself by
// the caller). Errors name the rendering of the dict that failed to parse.
Filter AsFilter(pybind11::handle obj);

// The JSON text of a filter dict (what AsFilter hands to ParseFilter).
std::string FilterJson(pybind11::handle obj);

// Metric / quantization names, as the library parses them; InvalidArgument
// otherwise.
Metric AsMetric(const std::string& name);

// Element types of result arrays (numpy type numbers).
enum class ArrayType { kUint64, kFloat32 };

// A new, uninitialised, C-ordered numpy array of `rows` elements (1-D) or
// rows x cols (when cols >= 0), made with one numpy call (a search returns
// two per call, so this is on the single-query path). *data receives its
// buffer.
pybind11::object NewArray(ArrayType type, pybind11::ssize_t rows, pybind11::ssize_t cols,
                          void** data);

}  // namespace omendb::python
