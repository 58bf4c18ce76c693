#include "convert.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>

#include "errors.h"

namespace py = pybind11;

namespace omendb::python {
namespace {

constexpr int kAlignedFlag = 0x0100;  // NPY_ARRAY_ALIGNED

thread_local uintptr_t t_last_input_address = 0;

std::string ShapeString(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

std::string DtypeString(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// numpy.generic, looked up once (numpy is imported by pybind11's array support).
bool IsNumpyScalar(py::handle obj) {
  static py::object generic = py::module_::import("numpy").attr("generic");
  return PyObject_IsInstance(obj.ptr(), generic.ptr()) == 1;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJson(std::string* out, py::handle obj, int depth) {
  if (depth > 64) ThrowInvalid("filter: nested deeper than 64 levels");
  if (obj.is_none()) {
    *out += "null";  // ParseFilter rejects it with its own message
  } else if (PyBool_Check(obj.ptr())) {
    *out += obj.ptr() == Py_True ? "true" : "false";
  } else if (PyLong_Check(obj.ptr())) {
    *out += py::str(obj).cast<std::string>();
  } else if (PyFloat_Check(obj.ptr())) {
    double v = PyFloat_AS_DOUBLE(obj.ptr());
    if (!std::isfinite(v)) {
      ThrowInvalid("filter: " + py::repr(obj).cast<std::string>() +
                   " cannot be used in a filter (only finite numbers)");
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    std::string text = buf;
    // Keep it a double for the parser: a whole number needs a '.' or exponent.
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
    *out += text;
  } else if (PyUnicode_Check(obj.ptr())) {
    AppendJsonString(out, obj.cast<std::string>());
  } else if (PyDict_Check(obj.ptr())) {
    out->push_back('{');
    bool first = true;
    for (auto item : py::reinterpret_borrow<py::dict>(obj)) {
      if (!PyUnicode_Check(item.first.ptr())) {
        ThrowInvalid("filter: keys must be str, got " + py::repr(item.first).cast<std::string>());
      }
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(out, item.first.cast<std::string>());
      out->push_back(':');
      AppendJson(out, item.second, depth + 1);
    }
    out->push_back('}');
  } else if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr()) || PyAnySet_Check(obj.ptr()) ||
             py::isinstance<py::array>(obj)) {
    out->push_back('[');
    bool first = true;
    for (auto item : py::iter(obj)) {
      if (!first) out->push_back(',');
      first = false;
      AppendJson(out, item, depth + 1);
    }
    out->push_back(']');
  } else if (IsNumpyScalar(obj)) {
    AppendJson(out, obj.attr("item")(), depth + 1);
  } else {
    ThrowInvalid("filter: unsupported value " + py::repr(obj).cast<std::string>() +
                 " (use str, int, float, bool, dict or list)");
  }
}

}  // namespace

uintptr_t LastInputAddress() { return t_last_input_address; }

py::object NewArray(ArrayType type, py::ssize_t rows, py::ssize_t cols, void** data) {
  const auto& api = py::detail::npy_api::get();
  const int typenum = type == ArrayType::kUint64 ? py::detail::npy_api::NPY_UINT64_
                                                 : py::detail::npy_api::NPY_FLOAT_;
  PyObject* descr = api.PyArray_DescrFromType_(typenum);  // stolen by PyArray_NewFromDescr
  if (descr == nullptr) throw py::error_already_set();
  py::ssize_t dims[2] = {rows, cols};
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, cols >= 0 ? 2 : 1, dims,
                                          nullptr, nullptr, 0, nullptr);
  if (a == nullptr) throw py::error_already_set();
  *data = py::detail::array_proxy(a)->data;
  return py::reinterpret_steal<py::object>(a);
}

namespace {

// True for an ndarray whose buffer can be read in place as `typenum`
// elements: that type in native byte order, C-contiguous and aligned.
bool IsDirect(PyObject* obj, int typenum) {
  const auto& api = py::detail::npy_api::get();
  if (!api.PyArray_Check_(obj)) return false;
  const auto* a = py::detail::array_proxy(obj);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  constexpr char kNative = std::endian::native == std::endian::little ? '<' : '>';
  constexpr int kWanted = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | kAlignedFlag;
  return d->type_num == typenum && (d->byteorder == '=' || d->byteorder == kNative) &&
         (a->flags & kWanted) == kWanted;
}

}  // namespace

FloatRows AsFloatRows(py::handle obj, size_t dim, const char* what) {
  FloatRows r;
  r.dim = dim;
  py::array arr;
  if (IsDirect(obj.ptr(), py::detail::npy_api::NPY_FLOAT_)) {
    arr = py::reinterpret_borrow<py::array>(obj);
  } else {
    py::array src = py::isinstance<py::array>(obj) ? py::reinterpret_borrow<py::array>(obj)
                                                   : py::array::ensure(obj);
    if (!src) {
      PyErr_Clear();
      ThrowInvalid(std::string(what) + ": expected a numeric array, got " +
                   py::str(py::type::handle_of(obj)).cast<std::string>());
    }
    const char kind = src.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
      ThrowInvalid(std::string(what) + ": expected numbers, got an array of dtype " +
                   DtypeString(src));
    }
    // One conversion to C-ordered float32.
    arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(src);
    if (!arr) throw py::error_already_set();
    r.copied = true;
  }
  if (arr.ndim() == 1) {
    if (static_cast<size_t>(arr.shape(0)) != dim) {
      ThrowInvalid(std::string(what) + ": expected a vector of " + std::to_string(dim) +
                   " values or a 2-D array of shape (n, " + std::to_string(dim) + "), got shape " +
                   ShapeString(arr));
    }
    r.rows = 1;
    r.one_row = true;
  } else if (arr.ndim() == 2) {
    if (static_cast<size_t>(arr.shape(1)) != dim) {
      ThrowInvalid(std::string(what) + ": expected shape (n, " + std::to_string(dim) +
                   "), got shape " + ShapeString(arr));
    }
    r.rows = static_cast<size_t>(arr.shape(0));
  } else {
    ThrowInvalid(std::string(what) + ": expected a 1-D vector or a 2-D array (n, " +
                 std::to_string(dim) + "), got shape " + ShapeString(arr) + " (" +
                 std::to_string(arr.ndim()) + " dimensions)");
  }
  r.data = static_cast<const float*>(arr.data());
  r.owner = std::move(arr);
  t_last_input_address = reinterpret_cast<uintptr_t>(r.data);
  return r;
}

IdList AsIds(py::handle obj, const char* what) {
  IdList ids;
  if (PyLong_Check(obj.ptr()) || (IsNumpyScalar(obj) && !py::isinstance<py::array>(obj))) {
    if (PyBool_Check(obj.ptr())) ThrowInvalid(std::string(what) + ": expected an int, got a bool");
    py::object as_int;
    if (PyLong_Check(obj.ptr())) {
      as_int = py::reinterpret_borrow<py::object>(obj);
    } else {
      PyObject* idx = PyNumber_Index(obj.ptr());
      if (idx == nullptr) {
        PyErr_Clear();
        ThrowInvalid(std::string(what) + ": expected an integer id, got " +
                     py::repr(obj).cast<std::string>());
      }
      as_int = py::reinterpret_steal<py::object>(idx);
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(as_int.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      ThrowInvalid(std::string(what) + ": id " + py::repr(obj).cast<std::string>() +
                   " is outside 0 .. 2**64 - 1");
    }
    ids.storage.push_back(static_cast<VectorId>(v));
    ids.data = ids.storage.data();
    ids.size = 1;
    ids.scalar = true;
    return ids;
  }
  if (IsDirect(obj.ptr(), py::detail::npy_api::NPY_UINT64_)) {
    py::array arr = py::reinterpret_borrow<py::array>(obj);
    if (arr.ndim() != 1) {
      ThrowInvalid(std::string(what) + ": expected a 1-D sequence of ids, got shape " +
                   ShapeString(arr));
    }
    ids.data = static_cast<const VectorId*>(arr.data());
    ids.size = static_cast<size_t>(arr.shape(0));
    ids.owner = std::move(arr);
    return ids;
  }
  if (py::isinstance<py::array>(obj)) {
    py::array arr = py::reinterpret_borrow<py::array>(obj);
    const char kind = arr.dtype().kind();
    if (kind != 'i' && kind != 'u') {
      ThrowInvalid(std::string(what) + ": ids must be integers, got dtype " + DtypeString(arr));
    }
    if (arr.ndim() > 1) {
      ThrowInvalid(std::string(what) + ": expected a 1-D sequence of ids, got shape " +
                   ShapeString(arr));
    }
    if (kind == 'i') {
      auto signed_ids =
          py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
      if (!signed_ids) throw py::error_already_set();
      const int64_t* p = signed_ids.data();
      const size_t n = static_cast<size_t>(signed_ids.size());
      ids.storage.resize(n);
      for (size_t i = 0; i < n; ++i) {
        if (p[i] < 0) {
          ThrowInvalid(std::string(what) + ": id " + std::to_string(p[i]) + " at position " +
                       std::to_string(i) + " is negative");
        }
        ids.storage[i] = static_cast<VectorId>(p[i]);
      }
    } else {
      auto u = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
      if (!u) throw py::error_already_set();
      ids.storage.assign(u.data(), u.data() + u.size());
    }
    ids.data = ids.storage.data();
    ids.size = ids.storage.size();
    return ids;
  }
  if (PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr())) {
    ThrowInvalid(std::string(what) + ": ids must be integers, got " +
                 py::repr(obj).cast<std::string>());
  }
  // Any other iterable of ints.
  PyObject* it = PyObject_GetIter(obj.ptr());
  if (it == nullptr) {
    PyErr_Clear();
    ThrowInvalid(std::string(what) + ": expected an int or a sequence of ints, got " +
                 py::str(py::type::handle_of(obj)).cast<std::string>());
  }
  Py_DECREF(it);
  size_t pos = 0;
  for (auto item : py::iter(obj)) {
    if (PyBool_Check(item.ptr()) || !(PyLong_Check(item.ptr()) || IsNumpyScalar(item))) {
      ThrowInvalid(std::string(what) + ": id at position " + std::to_string(pos) +
                   " is not an int: " + py::repr(item).cast<std::string>());
    }
    PyObject* idx = PyNumber_Index(item.ptr());
    if (idx == nullptr) {
      PyErr_Clear();
      ThrowInvalid(std::string(what) + ": id at position " + std::to_string(pos) +
                   " is not an int: " + py::repr(item).cast<std::string>());
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(idx);
    Py_DECREF(idx);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      ThrowInvalid(std::string(what) + ": id " + py::repr(item).cast<std::string>() +
                   " at position " + std::to_string(pos) + " is outside 0 .. 2**64 - 1");
    }
    ids.storage.push_back(static_cast<VectorId>(v));
    ++pos;
  }
  ids.data = ids.storage.data();
  ids.size = ids.storage.size();
  return ids;
}

MetadataValue AsMetadataValue(py::handle value, const std::string& where) {
  PyObject* p = value.ptr();
  if (PyBool_Check(p)) return MetadataValue(p == Py_True);
  if (PyLong_Check(p)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
    if (overflow != 0) {
      ThrowInvalid(where + ": integer " + py::repr(value).cast<std::string>() +
                   " does not fit in 64 bits (signed)");
    }
    return MetadataValue(static_cast<int64_t>(v));
  }
  if (PyFloat_Check(p)) return MetadataValue(PyFloat_AS_DOUBLE(p));
  if (PyUnicode_Check(p)) return MetadataValue(value.cast<std::string>());
  if (IsNumpyScalar(value)) {
    py::object item = value.attr("item")();
    if (!PyBool_Check(item.ptr()) && !PyLong_Check(item.ptr()) && !PyFloat_Check(item.ptr()) &&
        !PyUnicode_Check(item.ptr())) {
      ThrowInvalid(where + ": unsupported value " + py::repr(value).cast<std::string>());
    }
    return AsMetadataValue(item, where);
  }
  ThrowInvalid(where + ": unsupported value " + py::repr(value).cast<std::string>() +
               " (metadata values are str, int, float or bool)");
}

Metadata AsMetadata(py::handle dict, const std::string& where) {
  if (!PyDict_Check(dict.ptr())) {
    ThrowInvalid(where + ": expected a dict, got " +
                 py::str(py::type::handle_of(dict)).cast<std::string>());
  }
  Metadata m;
  for (auto item : py::reinterpret_borrow<py::dict>(dict)) {
    if (!PyUnicode_Check(item.first.ptr())) {
      ThrowInvalid(where + ": keys must be str, got " + py::repr(item.first).cast<std::string>());
    }
    if (item.second.is_none()) continue;
    std::string key = item.first.cast<std::string>();
    MetadataValue v = AsMetadataValue(item.second, where + "[" + key + "]");
    m.emplace(std::move(key), std::move(v));
  }
  Status s = ValidateMetadata(m);
  if (!s.ok()) ThrowInvalid(where + ": " + s.message());
  return m;
}

std::vector<Metadata> AsMetadataRows(py::handle obj, size_t rows) {
  std::vector<Metadata> out;
  if (obj.is_none()) return out;
  if (PyDict_Check(obj.ptr())) {
    // Columns: {field: values per row}.
    out.resize(rows);
    for (auto item : py::reinterpret_borrow<py::dict>(obj)) {
      if (!PyUnicode_Check(item.first.ptr())) {
        ThrowInvalid("metadata: keys must be str, got " + py::repr(item.first).cast<std::string>());
      }
      const std::string key = item.first.cast<std::string>();
      if (PyUnicode_Check(item.second.ptr()) || !PySequence_Check(item.second.ptr()) ||
          PyDict_Check(item.second.ptr())) {
        ThrowInvalid("metadata[" + key + "]: a column of metadata must be a sequence of " +
                     std::to_string(rows) + " values (one per id)");
      }
      py::sequence column = py::reinterpret_borrow<py::sequence>(item.second);
      if (column.size() != rows) {
        ThrowInvalid("metadata[" + key + "]: column has " + std::to_string(column.size()) +
                     " values, expected " + std::to_string(rows) + " (one per id)");
      }
      size_t i = 0;
      for (auto v : column) {
        if (!v.is_none()) {
          out[i].emplace(key,
                         AsMetadataValue(v, "metadata[" + key + "][" + std::to_string(i) + "]"));
        }
        ++i;
      }
    }
    for (size_t i = 0; i < rows; ++i) {
      Status s = ValidateMetadata(out[i]);
      if (!s.ok()) ThrowInvalid("metadata row " + std::to_string(i) + ": " + s.message());
    }
    return out;
  }
  if (PyUnicode_Check(obj.ptr()) || !PySequence_Check(obj.ptr())) {
    ThrowInvalid(
        "metadata: expected None, a list of dicts (one per id) or a dict of columns, got " +
        py::str(py::type::handle_of(obj)).cast<std::string>());
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  if (seq.size() != rows) {
    ThrowInvalid("metadata: " + std::to_string(seq.size()) + " entries for " +
                 std::to_string(rows) + " ids (expected one per id)");
  }
  out.resize(rows);
  size_t i = 0;
  for (auto entry : seq) {
    if (!entry.is_none()) out[i] = AsMetadata(entry, "metadata[" + std::to_string(i) + "]");
    ++i;
  }
  return out;
}

py::object ToPython(const MetadataValue& value) {
  return std::visit(
      [](const auto& v) -> py::object {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return py::bool_(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return py::int_(v);
        } else if constexpr (std::is_same_v<T, double>) {
          return py::float_(v);
        } else {
          return py::str(v);
        }
      },
      value);
}

py::dict ToPython(const Metadata& metadata) {
  py::dict d;
  for (const auto& [key, value] : metadata) d[py::str(key)] = ToPython(value);
  return d;
}

std::string FilterJson(py::handle obj) {
  std::string json;
  AppendJson(&json, obj, 0);
  return json;
}

Filter AsFilter(py::handle obj) {
  if (obj.is_none()) return Filter::All();
  std::string json;
  if (PyUnicode_Check(obj.ptr())) {
    json = obj.cast<std::string>();
  } else if (PyDict_Check(obj.ptr())) {
    json = FilterJson(obj);
  } else {
    ThrowInvalid("filter: expected a dict, a JSON string or an omendb.Filter, got " +
                 py::str(py::type::handle_of(obj)).cast<std::string>());
  }
  Result<Filter> f = ParseFilter(json);
  if (!f.ok()) {
    ThrowInvalid("invalid filter " + (json.size() > 200 ? json.substr(0, 200) + "..." : json) +
                 ": " + f.status().message());
  }
  return std::move(f).value();
}

Metric AsMetric(const std::string& name) { return Unwrap(ParseMetric(name)); }

}  // namespace omendb::python
