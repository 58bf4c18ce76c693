// A model of a database's logical contents for the robustness tests (the
// crash test, the fault-injection test and the corruption test).
//
// Every vector and metadata map those tests write is derived from a 64-bit
// seed, so a writer only has to tell the checker (another process, or the
// test's own bookkeeping) the seed, and the checker rebuilds the exact bytes.
// Vectors hold multiples of 1/256 in [-2, 2): exactly representable floats,
// so Get must give back bit-identical values under the L2 metric, which
// stores vectors unchanged.
//
// ReadState reads what a database actually holds through the public API
// (Get over a known id universe, Contains, size), so the tests compare
// whole states instead of sampling.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "omendb/db.h"

namespace omendb::robustness {

// A uniquely named scratch directory, removed with its contents by the
// destructor; path() is empty if it could not be created. It lives in
// /dev/shm when that is writable: these tests either simulate power loss
// themselves or only kill processes (the OS keeps what they wrote), so a RAM
// file system tests the same thing with syncs that cost nothing. Otherwise
// $TMPDIR or /tmp.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "omendb_robust") {
    std::error_code ec;
    std::string base = "/dev/shm";
    if (!std::filesystem::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string templ = base + "/" + prefix + "_XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// splitmix64: a tiny, full-period mixer; the same on every platform.
inline uint64_t Mix(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A small deterministic generator for test decisions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_++ * 0x2545f4914f6cdd1dull); }
  // Uniform in [0, n); n > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }

 private:
  uint64_t state_;
};

// The vector written for `seed`: dim values k/256 - 2 with k in [0, 1024).
inline std::vector<float> VectorFor(uint64_t seed, uint32_t dim) {
  std::vector<float> v(dim);
  for (uint32_t i = 0; i < dim; ++i) {
    v[i] = static_cast<float>((Mix(seed * 131 + i) >> 40) & 1023) / 256.0f - 2.0f;
  }
  return v;
}

// The metadata written for `seed`: none for a quarter of the seeds, else an
// integer group "g" in [0, 7) and a string, sometimes a double and a bool, so
// every value type goes through the log and the checkpoint.
inline Metadata MetadataFor(uint64_t seed) {
  Metadata m;
  const uint64_t h = Mix(seed ^ 0x5bd1e995u);
  if (h % 4 == 0) return m;
  m["g"] = static_cast<int64_t>(h % 7);
  m["s"] = "v" + std::to_string(h % 1000);
  if (h % 3 == 0) m["f"] = static_cast<double>(h % 100) / 8.0;
  if (h % 5 == 0) m["b"] = (h & 64) != 0;
  return m;
}

// One stored record as the tests see it.
struct Value {
  std::vector<float> vector;
  Metadata metadata;
  friend bool operator==(const Value&, const Value&) = default;
};

inline Value ValueFor(uint64_t seed, uint32_t dim) { return {VectorFor(seed, dim), MetadataFor(seed)}; }

// The logical contents of one collection: id -> record (absent ids are not
// stored).
struct CollectionState {
  uint32_t dim = 0;
  std::map<VectorId, Value> records;
  friend bool operator==(const CollectionState&, const CollectionState&) = default;
};

// Collections by name (absent names do not exist).
using DbState = std::map<std::string, CollectionState>;

inline std::string Describe(const MetadataValue& v) {
  std::ostringstream os;
  if (const auto* i = std::get_if<int64_t>(&v)) os << *i;
  if (const auto* d = std::get_if<double>(&v)) os << *d << "d";
  if (const auto* s = std::get_if<std::string>(&v)) os << '"' << *s << '"';
  if (const auto* b = std::get_if<bool>(&v)) os << (*b ? "true" : "false");
  return os.str();
}

inline std::string Describe(const std::optional<Value>& v) {
  if (!v) return "absent";
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v->vector.size(); ++i) os << (i ? " " : "") << v->vector[i];
  os << "] {";
  bool first = true;
  for (const auto& [k, x] : v->metadata) {
    os << (first ? "" : ", ") << k << ": " << Describe(x);
    first = false;
  }
  os << "}";
  return os.str();
}

// A readable list of the differences between two states (empty if equal).
inline std::string Diff(const DbState& want, const DbState& got, size_t max_lines = 12) {
  std::ostringstream os;
  size_t lines = 0;
  auto line = [&](const std::string& s) {
    if (lines++ < max_lines) os << "  " << s << "\n";
  };
  std::map<std::string, int> names;
  for (const auto& [n, c] : want) names[n] |= 1;
  for (const auto& [n, c] : got) names[n] |= 2;
  for (const auto& [name, where] : names) {
    if (where != 3) {
      line("collection " + name + (where == 1 ? " missing" : " unexpected"));
      continue;
    }
    const CollectionState& w = want.at(name);
    const CollectionState& g = got.at(name);
    if (w.dim != g.dim) line("collection " + name + " dim differs");
    std::map<VectorId, int> ids;
    for (const auto& [id, v] : w.records) ids[id] |= 1;
    for (const auto& [id, v] : g.records) ids[id] |= 2;
    for (const auto& [id, where_id] : ids) {
      std::optional<Value> a, b;
      if (where_id & 1) a = w.records.at(id);
      if (where_id & 2) b = g.records.at(id);
      if (a != b) {
        line(name + "/" + std::to_string(id) + ": want " + Describe(a) + ", got " + Describe(b));
      }
    }
  }
  if (lines > max_lines) os << "  ... " << (lines - max_lines) << " more\n";
  return os.str();
}

// Which collections and ids ReadState looks at.
struct Universe {
  std::vector<std::string> collections;
  VectorId first_id = 0;
  VectorId end_id = 0;  // ids in [first_id, end_id)
};

// Reads the state of `db` over `universe` through Get. Also checks that
// Contains agrees with Get and that size() counts exactly the ids found (the
// universe must cover every id the test ever wrote); a disagreement is
// returned as kInternal so the caller's assertion fails with the reason.
inline Result<DbState> ReadState(const DB& db, const Universe& universe) {
  DbState state;
  for (const std::string& name : universe.collections) {
    Result<Collection*> c = db.GetCollection(name);
    if (!c.ok()) {
      if (c.status().IsNotFound()) continue;
      return c.status();
    }
    CollectionState cs;
    cs.dim = (*c)->options().dim;
    for (VectorId id = universe.first_id; id < universe.end_id; ++id) {
      Result<Record> r = (*c)->Get(id);
      const bool contains = (*c)->Contains(id);
      if (!r.ok()) {
        if (!r.status().IsNotFound()) return r.status();
        if (contains) {
          return Status::Internal(name + "/" + std::to_string(id) +
                                  ": Contains is true but Get says not found");
        }
        continue;
      }
      if (!contains) {
        return Status::Internal(name + "/" + std::to_string(id) +
                                ": Get finds the id but Contains is false");
      }
      if (r->id != id) {
        return Status::Internal(name + "/" + std::to_string(id) + ": Get returned id " +
                                std::to_string(r->id));
      }
      cs.records[id] = Value{std::move(r->vector), std::move(r->metadata)};
    }
    if ((*c)->size() != cs.records.size()) {
      return Status::Internal(name + ": size() is " + std::to_string((*c)->size()) + " but " +
                              std::to_string(cs.records.size()) + " ids are stored");
    }
    state[name] = std::move(cs);
  }
  return state;
}

// Squared L2 distance, as the L2 metric reports it.
inline double L2(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

// Checks search results against the expected records of an L2 collection:
// at most k hits, nearest first, each a stored id (never a deleted one) with
// its true distance, and exactly min(k, matching) hits, since the collections
// in these tests are far smaller than the beam. `matches` says which records
// the filter lets through. Returns "" when the hits are valid, else why not.
template <class Pred>
std::string CheckHits(const CollectionState& expected, const std::vector<float>& query, size_t k,
                      const std::vector<Neighbor>& hits, Pred matches) {
  size_t matching = 0;
  for (const auto& [id, v] : expected.records) matching += matches(v) ? 1 : 0;
  std::ostringstream os;
  if (hits.size() != std::min(k, matching)) {
    os << hits.size() << " hits, expected " << std::min(k, matching) << "; ";
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    auto it = expected.records.find(hits[i].id);
    if (it == expected.records.end()) {
      os << "hit " << hits[i].id << " is not stored; ";
      continue;
    }
    if (!matches(it->second)) os << "hit " << hits[i].id << " does not match the filter; ";
    const double d = L2(query, it->second.vector);
    if (std::fabs(d - hits[i].distance) > 1e-3 * (1 + d)) {
      os << "hit " << hits[i].id << " distance " << hits[i].distance << ", true " << d << "; ";
    }
    if (i > 0 && hits[i].distance < hits[i - 1].distance) os << "hits not sorted; ";
  }
  return os.str();
}

}  // namespace omendb::robustness
