#include "db/records.h"

#include <cstring>
#include <unordered_set>

#include "db/metadata_codec.h"
#include "util/coding.h"

namespace omendb::db {

namespace {

constexpr uint32_t kMaxDim = 65536;

Status Bad(std::string_view what) {
  return Status::Corruption("log record: " + std::string(what));
}

void PutOptions(std::string* out, const CollectionOptions& o) {
  util::PutFixed32(out, o.dim);
  out->push_back(static_cast<char>(o.metric));
  util::PutFixed32(out, o.M);
  util::PutFixed32(out, o.ef_construction);
  util::PutFixed64(out, o.seed);
}

bool GetOptions(std::string_view* in, CollectionOptions* o) {
  if (!util::GetFixed32(in, &o->dim) || in->empty()) return false;
  o->metric = static_cast<Metric>(static_cast<uint8_t>(in->front()));
  in->remove_prefix(1);
  return util::GetFixed32(in, &o->M) && util::GetFixed32(in, &o->ef_construction) &&
         util::GetFixed64(in, &o->seed);
}

// The quantization suffix of a kCreateCollectionQuantized record.
void PutQuant(std::string* out, const CollectionOptions& o) {
  out->push_back(static_cast<char>(o.quant.kind));
  out->push_back(static_cast<char>(o.quant.bits));
  util::PutFixed32(out, o.quant_train_after);
}

bool GetQuant(std::string_view* in, CollectionOptions* o) {
  if (in->size() < 2) return false;
  o->quant.kind = static_cast<QuantKind>(static_cast<uint8_t>((*in)[0]));
  o->quant.bits = static_cast<uint8_t>((*in)[1]);
  in->remove_prefix(2);
  return util::GetFixed32(in, &o->quant_train_after);
}

bool GetName(std::string_view* in, std::string_view* name) {
  return util::GetLengthPrefixedSlice(in, name) && ValidateCollectionName(*name).ok();
}

}  // namespace

Status ValidateCollectionName(std::string_view name) {
  if (name.empty() || name.size() > kMaxCollectionName) {
    return Status::InvalidArgument("collection name must be 1.." +
                                   std::to_string(kMaxCollectionName) + " bytes");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("collection name \"" + std::string(name) +
                                     "\" may only use letters, digits, '_', '.' and '-'");
    }
  }
  return Status::OK();
}

Status ValidateCollectionOptions(const CollectionOptions& o) {
  if (o.dim == 0 || o.dim > kMaxDim) {
    return Status::InvalidArgument("dim must be in 1..65536, got " + std::to_string(o.dim));
  }
  if (o.metric != Metric::kL2 && o.metric != Metric::kInnerProduct &&
      o.metric != Metric::kCosine) {
    return Status::InvalidArgument("unknown metric");
  }
  if (o.M < 2 || o.M > 512) {
    return Status::InvalidArgument("M must be in 2..512, got " + std::to_string(o.M));
  }
  if (o.ef_construction == 0 || o.ef_construction > 100000) {
    return Status::InvalidArgument("ef_construction must be in 1..100000");
  }
  switch (o.quant.kind) {
    case QuantKind::kNone:
    case QuantKind::kFp16:
    case QuantKind::kSq8:
      if (o.quant.bits != 0) return Status::InvalidArgument("only RaBitQ takes a bit count");
      break;
    case QuantKind::kRaBitQ:
      if (o.quant.bits < 1 || o.quant.bits > 9) {
        return Status::InvalidArgument("RaBitQ bits must be 1..9");
      }
      break;
    default:
      return Status::InvalidArgument("unknown quantization");
  }
  if (o.quant_train_after == 0) return Status::InvalidArgument("quant_train_after must be >= 1");
  return Status::OK();
}

std::string EncodeCreateCollection(std::string_view name, const CollectionOptions& options) {
  // A float collection keeps the original record, byte for byte.
  const bool quantized = options.quant.kind != QuantKind::kNone;
  std::string out(1, static_cast<char>(quantized ? RecordType::kCreateCollectionQuantized
                                                 : RecordType::kCreateCollection));
  util::PutLengthPrefixedSlice(&out, name);
  PutOptions(&out, options);
  if (quantized) PutQuant(&out, options);
  return out;
}

Status EncodeUpsert(std::string_view name, uint32_t dim, std::span<const VectorId> ids,
                    std::span<const float> vectors, std::span<const Metadata> metadata,
                    std::string* out) {
  out->clear();
  out->reserve(32 + name.size() + ids.size() * (8 + 4 * size_t{dim} + 1));
  out->push_back(static_cast<char>(RecordType::kUpsert));
  util::PutLengthPrefixedSlice(out, name);
  util::PutFixed32(out, dim);
  util::PutVarint64(out, ids.size());
  for (VectorId id : ids) util::PutFixed64(out, id);
  // Floats as their little-endian bytes (every supported target is little-endian).
  out->append(reinterpret_cast<const char*>(vectors.data()), vectors.size() * sizeof(float));
  out->push_back(metadata.empty() ? 0 : 1);
  for (const Metadata& m : metadata) OMENDB_RETURN_IF_ERROR(EncodeMetadata(m, out));
  return Status::OK();
}

std::string EncodeDelete(std::string_view name, std::span<const VectorId> ids) {
  std::string out(1, static_cast<char>(RecordType::kDelete));
  util::PutLengthPrefixedSlice(&out, name);
  util::PutVarint64(&out, ids.size());
  for (VectorId id : ids) util::PutFixed64(&out, id);
  return out;
}

Result<LogRecord> DecodeLogRecord(std::string_view in) {
  LogRecord r;
  if (in.empty()) return Bad("empty");
  const uint8_t type = static_cast<uint8_t>(in.front());
  in.remove_prefix(1);
  if (!GetName(&in, &r.collection)) return Bad("bad collection name");
  switch (type) {
    case static_cast<uint8_t>(RecordType::kCreateCollection): {
      r.type = RecordType::kCreateCollection;
      if (!GetOptions(&in, &r.options)) return Bad("truncated collection options");
      if (!ValidateCollectionOptions(r.options).ok()) return Bad("invalid collection options");
      break;
    }
    case static_cast<uint8_t>(RecordType::kCreateCollectionQuantized): {
      r.type = RecordType::kCreateCollection;
      if (!GetOptions(&in, &r.options) || !GetQuant(&in, &r.options)) {
        return Bad("truncated collection options");
      }
      if (r.options.quant.kind == QuantKind::kNone ||
          !ValidateCollectionOptions(r.options).ok()) {
        return Bad("invalid collection options");
      }
      break;
    }
    case static_cast<uint8_t>(RecordType::kUpsert): {
      r.type = RecordType::kUpsert;
      uint64_t n = 0;
      if (!util::GetFixed32(&in, &r.dim) || !util::GetVarint64(&in, &n)) return Bad("truncated");
      if (r.dim == 0 || r.dim > kMaxDim) return Bad("bad dimension");
      // Each row needs at least 8 + 4*dim bytes: bound n by the input before allocating.
      if (n > in.size() / (8 + 4 * uint64_t{r.dim})) return Bad("row count exceeds the record");
      r.ids.resize(n);
      for (auto& id : r.ids) util::GetFixed64(&in, &id);
      const size_t vbytes = n * r.dim * sizeof(float);
      r.vectors = in.substr(0, vbytes);
      in.remove_prefix(vbytes);
      if (in.empty()) return Bad("truncated");
      const char flag = in.front();
      in.remove_prefix(1);
      if (flag == 1) {
        r.metadata.resize(n);
        for (auto& m : r.metadata) {
          Status s = ConsumeMetadata(&in, &m);
          if (!s.ok()) return Bad("metadata: " + s.message());
        }
      } else if (flag != 0) {
        return Bad("bad metadata flag");
      }
      break;
    }
    case static_cast<uint8_t>(RecordType::kDelete): {
      r.type = RecordType::kDelete;
      uint64_t n = 0;
      if (!util::GetVarint64(&in, &n)) return Bad("truncated");
      if (n > in.size() / 8) return Bad("id count exceeds the record");
      r.ids.resize(n);
      for (auto& id : r.ids) util::GetFixed64(&in, &id);
      break;
    }
    default:
      return Bad("unknown type " + std::to_string(type));
  }
  if (!in.empty()) return Bad("trailing bytes");
  return r;
}

std::string EncodeCatalog(const std::vector<CatalogEntry>& entries) {
  std::string out;
  util::PutVarint64(&out, entries.size());
  for (const auto& e : entries) {
    util::PutLengthPrefixedSlice(&out, e.name);
    PutOptions(&out, e.options);
  }
  return out;
}

Result<std::vector<CatalogEntry>> DecodeCatalog(std::string_view in) {
  uint64_t n = 0;
  if (!util::GetVarint64(&in, &n) || n > kMaxCollections || n > in.size()) {
    return Status::Corruption("catalog: bad collection count");
  }
  std::vector<CatalogEntry> out(n);
  for (auto& e : out) {
    std::string_view name;
    if (!GetName(&in, &name) || !GetOptions(&in, &e.options) ||
        !ValidateCollectionOptions(e.options).ok()) {
      return Status::Corruption("catalog: malformed entry");
    }
    e.name = std::string(name);
  }
  if (!in.empty()) return Status::Corruption("catalog: trailing bytes");
  std::unordered_set<std::string_view> names;
  for (const auto& e : out) {
    if (!names.insert(e.name).second) return Status::Corruption("catalog: duplicate name");
  }
  return out;
}

}  // namespace omendb::db
