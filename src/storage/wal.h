// The write-ahead log: a sequence of opaque records framed in 32 KiB blocks,
// each fragment carrying a CRC-32C, so that a torn write at the end of the log
// (a crash) costs only the records not yet complete, and corruption elsewhere
// costs at most the rest of one block.
//
// The byte layout is specified in docs/format/wal.md; the constants below
// mirror it and must change together with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "omendb/env.h"
#include "omendb/status.h"

namespace omendb::storage {

// docs/format/wal.md, "Blocks".
inline constexpr size_t kWalBlockSize = 32 * 1024;
// docs/format/wal.md, "Fragment header": masked CRC (4) + length (2) + type (1).
inline constexpr size_t kWalHeaderSize = 4 + 2 + 1;
// Largest payload of one fragment (a fragment never crosses a block).
inline constexpr size_t kWalMaxFragmentPayload = kWalBlockSize - kWalHeaderSize;
static_assert(kWalMaxFragmentPayload <= 0xffff, "fragment length must fit the 2-byte field");

// docs/format/wal.md, "Fragment types". Stored as one byte.
enum class WalRecordType : uint8_t {
  // Reserved: a header of all zero bytes marks preallocated or zero-filled
  // space, never data. The writer never emits it.
  kZero = 0,
  kFull = 1,    // a whole record in one fragment
  kFirst = 2,   // first fragment of a record split across blocks
  kMiddle = 3,  // an interior fragment
  kLast = 4,    // the final fragment
};
inline constexpr uint8_t kWalMaxRecordType = 4;

// Appends records to a log file.
//
// Thread safety: not thread-safe; callers serialise AddRecord and Sync.
// Ownership: does not own `dest`, which must outlive the writer.
class WalWriter {
 public:
  // Writes to `dest`, which must be positioned at byte `initial_offset` of the
  // log, i.e. hold exactly that many bytes already (0 for a new log; the file
  // size when reopening one for append). Appending after a torn tail would
  // bury it mid-log as corruption, so a recovering caller first truncates the
  // file to WalReader::EndOfLastRecord() and passes that as the offset.
  explicit WalWriter(WritableFile* dest, uint64_t initial_offset = 0);
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Appends `record` (any length, may be empty) and flushes it to the OS (not
  // durable until Sync). Errors are those of WritableFile::Append/Flush. After
  // any error the writer is poisoned: the file may end in a partial record, so
  // every later call returns the same error and the caller must start a new
  // log (the partial record reads back as a truncated tail).
  Status AddRecord(std::string_view record);

  // Makes every record added so far durable (WritableFile::Sync). Poisoned like
  // AddRecord after an error.
  Status Sync();

  // Size of the log in bytes, counting `initial_offset`, after the records
  // added so far (including any partial record written before an error).
  uint64_t offset() const { return offset_; }

 private:
  Status EmitFragment(WalRecordType type, const char* data, size_t n);

  WritableFile* dest_;
  size_t block_offset_;  // bytes already used in the current block
  uint64_t offset_;
  Status error_;  // sticky; see AddRecord
  // CRC-32C of each type byte, so a fragment's CRC starts from it.
  uint32_t type_crc_[kWalMaxRecordType + 1];
};

// Reads the records of a log written by WalWriter, in order.
//
// What the reader does with damage (docs/format/wal.md, "Reading"):
//  * Bytes that fail a check (checksum, impossible length, unknown type,
//    fragments out of order, non-zero padding) are skipped and reported
//    through Reporter::Corruption with the byte count and the reason; the
//    reader resynchronises at the next fragment it can trust, at the latest at
//    the next block boundary.
//  * An incomplete record at the very end of the file - a partial header, a
//    partial payload, a record whose last fragment is missing, or zero-filled
//    space - is what a crash during AddRecord leaves behind. It ends the log
//    cleanly and is reported once through Reporter::TruncatedTail, not as
//    corruption.
// With checksums verified, every record returned is byte-for-byte one that a
// writer added (up to CRC-32C collisions).
//
// Thread safety: not thread-safe. Ownership: does not own `file` or
// `reporter`, which must outlive the reader. The file must not grow while it
// is read (a log being appended to is not supported).
class WalReader {
 public:
  // Receives notices about skipped bytes. Calls happen inside ReadRecord, on
  // the caller's thread.
  class Reporter {
   public:
    virtual ~Reporter();
    // `bytes` bytes of the log were skipped; `reason` is a kCorruption Status
    // whose message names the check that failed and the file offset.
    virtual void Corruption(uint64_t bytes, const Status& reason) = 0;
    // The log ends with `bytes` bytes that do not complete a record (see the
    // class comment). Called at most once, when ReadRecord reaches the end.
    // The default does nothing.
    virtual void TruncatedTail(uint64_t bytes);
  };

  // Reads `file` from its current position, which must be the start of the
  // log. `reporter` may be null (notices are dropped). With `verify_checksums`
  // false, CRCs are not checked (faster, but damage goes undetected).
  WalReader(SequentialFile* file, Reporter* reporter, bool verify_checksums);
  ~WalReader();
  WalReader(const WalReader&) = delete;
  WalReader& operator=(const WalReader&) = delete;

  // Stores the next record in `*record` and returns true, or returns false at
  // the end of the log or on a read error (status() tells which). After false,
  // every later call returns false.
  bool ReadRecord(std::string* record);

  // OK, or the first error returned by the file; once set, ReadRecord has
  // returned false.
  Status status() const { return status_; }

  // File offset of the first byte of the last record returned (its first
  // fragment's header). 0 before any record.
  uint64_t LastRecordOffset() const { return last_record_offset_; }
  // File offset just past the last record returned; after ReadRecord returned
  // false with status() OK, the end of the valid part of the log. 0 before any
  // record.
  uint64_t EndOfLastRecord() const { return end_of_last_record_; }

 private:
  // Outcome of ReadFragment besides a fragment type.
  enum : int {
    kEof = kWalMaxRecordType + 1,  // end of the log (or a read error)
    kDropped,                      // bytes were skipped; any partial record is broken
  };
  int ReadFragment(std::string_view* payload);
  void ReportCorruption(uint64_t bytes, uint64_t offset, const char* reason);
  uint64_t BufferStartOffset() const { return end_of_buffer_offset_ - buffer_.size(); }

  SequentialFile* const file_;
  Reporter* const reporter_;
  const bool verify_checksums_;
  std::unique_ptr<char[]> backing_;  // kWalBlockSize bytes
  std::string_view buffer_;          // unread rest of the current block
  uint64_t end_of_buffer_offset_ = 0;
  bool eof_ = false;       // the last block read was short: nothing follows buffer_
  bool finished_ = false;  // ReadRecord has returned false
  Status status_;
  // Zero-filled space skipped but not yet judged: a crash artefact if the log
  // ends there, corruption if data follows.
  uint64_t pending_zero_bytes_ = 0;
  uint64_t pending_zero_offset_ = 0;
  // Bytes at the end of the file that did not form a record (TruncatedTail).
  uint64_t tail_bytes_ = 0;
  std::string scratch_;  // fragments of the record being assembled
  uint64_t last_record_offset_ = 0;
  uint64_t end_of_last_record_ = 0;
};

}  // namespace omendb::storage
