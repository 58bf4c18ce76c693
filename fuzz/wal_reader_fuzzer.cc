// libFuzzer target: arbitrary bytes as a WAL file. The reader must never
// crash, hang or misbehave under ASan/UBSan, whatever the input; its reports
// must stay consistent with the input size.
//
// Build: cmake --preset fuzz && cmake --build --preset fuzz
// Run:   ctest --preset fuzz   (30 s), or build/fuzz/fuzz/wal_reader_fuzzer DIR fuzz/corpus/wal
// The seeds in fuzz/corpus/wal/ were written by WalWriter: an empty record,
// one record, several small records, the same with a torn tail, a block
// trailer followed by more records, and a record fragmented across a block.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "omendb/env.h"
#include "storage/wal.h"

namespace {

// Serves the input as a file. The first byte of the input selects whether
// reads are copied into the caller's scratch buffer or returned as views into
// the input, so both halves of the SequentialFile::Read contract are covered.
class MemSequentialFile final : public omendb::SequentialFile {
 public:
  MemSequentialFile(std::string_view data, bool copy) : data_(data), copy_(copy) {}
  omendb::Result<std::string_view> Read(size_t n, char* scratch) override {
    std::string_view r = data_.substr(0, n);
    data_.remove_prefix(r.size());
    if (!copy_) return r;
    if (!r.empty()) std::memcpy(scratch, r.data(), r.size());
    return std::string_view(scratch, r.size());
  }
  omendb::Status Skip(uint64_t n) override {
    data_.remove_prefix(n < data_.size() ? static_cast<size_t>(n) : data_.size());
    return omendb::Status::OK();
  }

 private:
  std::string_view data_;
  bool copy_;
};

class CheckingReporter final : public omendb::storage::WalReader::Reporter {
 public:
  void Corruption(uint64_t bytes, const omendb::Status& reason) override {
    if (bytes == 0 || !reason.IsCorruption() || reason.message().empty()) __builtin_trap();
    dropped += bytes;
  }
  void TruncatedTail(uint64_t bytes) override {
    if (bytes == 0 || ++tail_calls > 1) __builtin_trap();
    tail += bytes;
  }
  uint64_t dropped = 0;
  uint64_t tail = 0;
  int tail_calls = 0;
};

void ReadAll(std::string_view input, bool verify, bool copy) {
  MemSequentialFile file(input, copy);
  CheckingReporter reporter;
  omendb::storage::WalReader reader(&file, &reporter, verify);
  std::string record;
  uint64_t records = 0;
  uint64_t record_bytes = 0;
  uint64_t prev_end = 0;
  while (reader.ReadRecord(&record)) {
    ++records;
    record_bytes += record.size();
    // Each record costs at least a header, so this bounds the loop.
    if (records > input.size() / omendb::storage::kWalHeaderSize) __builtin_trap();
    // Records come in file order and lie inside the input.
    if (reader.LastRecordOffset() < prev_end ||
        reader.EndOfLastRecord() <= reader.LastRecordOffset() ||
        reader.EndOfLastRecord() > input.size()) {
      __builtin_trap();
    }
    prev_end = reader.EndOfLastRecord();
  }
  if (!reader.status().ok()) __builtin_trap();       // memory never fails to read
  if (reader.ReadRecord(&record)) __builtin_trap();  // the end is sticky
  // Payload, skipped and torn bytes are disjoint parts of the input.
  if (record_bytes + reporter.dropped + reporter.tail > input.size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool copy = size > 0 && (data[0] & 1) != 0;
  ReadAll(input, /*verify=*/true, copy);
  // Without checksums far more garbage is parsed as fragments.
  ReadAll(input, /*verify=*/false, copy);
  return 0;
}
