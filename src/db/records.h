// The database's logical records: what one write-ahead log record holds
// (create collection, upsert, delete) and the catalog a checkpoint stores.
// Byte layouts are specified in docs/format/db_records.md; the constants
// below mirror it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/db.h"
#include "omendb/metadata.h"
#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb::db {

// kCreateCollectionQuantized is the create record of a quantized collection
// (its options carry two more bytes); both decode as kCreateCollection.
enum class RecordType : uint8_t {
  kCreateCollection = 1,
  kUpsert = 2,
  kDelete = 3,
  kCreateCollectionQuantized = 4
};

// Longest collection name, and the characters it may use ([A-Za-z0-9_.-]).
inline constexpr size_t kMaxCollectionName = 128;
Status ValidateCollectionName(std::string_view name);
// Range checks of CollectionOptions (the HnswOptions rules).
Status ValidateCollectionOptions(const CollectionOptions& options);

// A decoded log record. Views point into the record's bytes.
struct LogRecord {
  RecordType type{};
  std::string_view collection;
  CollectionOptions options;           // kCreateCollection
  std::vector<VectorId> ids;           // kUpsert, kDelete
  std::string_view vectors;            // kUpsert: ids.size() * dim floats, unaligned bytes
  uint32_t dim = 0;                    // kUpsert
  std::vector<Metadata> metadata;      // kUpsert: empty or one per id
};

std::string EncodeCreateCollection(std::string_view name, const CollectionOptions& options);
// `metadata` is empty or has ids.size() entries, each already validated.
Status EncodeUpsert(std::string_view name, uint32_t dim, std::span<const VectorId> ids,
                    std::span<const float> vectors, std::span<const Metadata> metadata,
                    std::string* out);
std::string EncodeDelete(std::string_view name, std::span<const VectorId> ids);
// Corruption if `bytes` is not exactly one well-formed record.
Result<LogRecord> DecodeLogRecord(std::string_view bytes);

// Checkpoint catalog: the collections of the database in creation order.
struct CatalogEntry {
  std::string name;
  CollectionOptions options;
};
std::string EncodeCatalog(const std::vector<CatalogEntry>& entries);
Result<std::vector<CatalogEntry>> DecodeCatalog(std::string_view bytes);

// Section tags of a checkpoint segment (docs/format/db_records.md).
inline constexpr uint32_t kCatalogTag = 1;
inline uint32_t IndexTag(size_t collection) { return 0x100u + 2u * static_cast<uint32_t>(collection); }
inline uint32_t MetadataTag(size_t collection) {
  return 0x101u + 2u * static_cast<uint32_t>(collection);
}
// Largest number of collections a database holds (keeps the tags distinct).
inline constexpr size_t kMaxCollections = 1u << 20;

}  // namespace omendb::db
