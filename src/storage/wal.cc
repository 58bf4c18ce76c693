// The log format is specified byte by byte in docs/format/wal.md.
#include "storage/wal.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "util/crc32c.h"

namespace omendb::storage {

namespace crc32c = util::crc32c;

namespace {

static_assert(kWalHeaderSize == 7, "docs/format/wal.md: header is 4 + 2 + 1 bytes");
static_assert(kWalBlockSize == 32768, "docs/format/wal.md: blocks are 32 KiB");
static_assert(static_cast<uint8_t>(WalRecordType::kLast) == kWalMaxRecordType);

// The trailer: fewer than kWalHeaderSize bytes left in a block are zero-filled.
constexpr char kZeroTrailer[kWalHeaderSize - 1] = {};

inline void EncodeLE32(char* dst, uint32_t v) {
  dst[0] = static_cast<char>(v & 0xffu);
  dst[1] = static_cast<char>((v >> 8) & 0xffu);
  dst[2] = static_cast<char>((v >> 16) & 0xffu);
  dst[3] = static_cast<char>((v >> 24) & 0xffu);
}

inline uint32_t DecodeLE32(const char* src) {
  const auto* p = reinterpret_cast<const uint8_t*>(src);
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

// ---------------------------------------------------------------------------
// WalWriter

WalWriter::WalWriter(WritableFile* dest, uint64_t initial_offset)
    : dest_(dest),
      block_offset_(static_cast<size_t>(initial_offset % kWalBlockSize)),
      offset_(initial_offset) {
  for (uint8_t t = 0; t <= kWalMaxRecordType; ++t) type_crc_[t] = crc32c::Value(&t, 1);
}

Status WalWriter::AddRecord(std::string_view record) {
  if (!error_.ok()) return error_;
  const char* ptr = record.data();
  size_t left = record.size();
  bool begin = true;
  Status s;
  // Loop at least once, so an empty record is written as an empty FULL fragment.
  do {
    size_t leftover = kWalBlockSize - block_offset_;
    if (leftover < kWalHeaderSize) {
      // Not even a header fits: pad the block so that every header starts at
      // a position the reader can find after skipping a damaged region.
      if (leftover > 0) {
        s = dest_->Append(std::string_view(kZeroTrailer, leftover));
        if (!s.ok()) break;
        offset_ += leftover;
      }
      block_offset_ = 0;
    }
    // May be 0 when exactly a header fits: then an empty FIRST fragment ends
    // the block, which keeps the invariant above without special cases.
    size_t avail = kWalBlockSize - block_offset_ - kWalHeaderSize;
    size_t n = std::min(left, avail);
    bool end = (n == left);
    WalRecordType type = begin && end ? WalRecordType::kFull
                         : begin      ? WalRecordType::kFirst
                         : end        ? WalRecordType::kLast
                                      : WalRecordType::kMiddle;
    s = EmitFragment(type, ptr, n);
    ptr += n;
    left -= n;
    begin = false;
  } while (s.ok() && left > 0);
  if (s.ok()) s = dest_->Flush();
  if (!s.ok()) error_ = s;
  return s;
}

Status WalWriter::EmitFragment(WalRecordType type, const char* data, size_t n) {
  const auto t = static_cast<uint8_t>(type);
  char header[kWalHeaderSize];
  // The CRC covers the type byte and the payload (not the length: a damaged
  // length makes the CRC range wrong, which the check catches anyway).
  EncodeLE32(header, crc32c::Mask(crc32c::Extend(type_crc_[t], data, n)));
  header[4] = static_cast<char>(n & 0xffu);
  header[5] = static_cast<char>((n >> 8) & 0xffu);
  header[6] = static_cast<char>(t);
  Status s = dest_->Append(std::string_view(header, kWalHeaderSize));
  if (s.ok() && n > 0) s = dest_->Append(std::string_view(data, n));
  if (s.ok()) {
    block_offset_ += kWalHeaderSize + n;
    offset_ += kWalHeaderSize + n;
  }
  return s;
}

Status WalWriter::Sync() {
  if (!error_.ok()) return error_;
  Status s = dest_->Sync();
  // After a failed fsync the kernel may already have discarded the dirty
  // pages, so a retry could "succeed" without the data: never trust this log
  // again.
  if (!s.ok()) error_ = s;
  return s;
}

// ---------------------------------------------------------------------------
// WalReader

WalReader::Reporter::~Reporter() = default;
void WalReader::Reporter::TruncatedTail(uint64_t /*bytes*/) {}

WalReader::WalReader(SequentialFile* file, Reporter* reporter, bool verify_checksums)
    : file_(file),
      reporter_(reporter),
      verify_checksums_(verify_checksums),
      backing_(new char[kWalBlockSize]) {}

WalReader::~WalReader() = default;

void WalReader::ReportCorruption(uint64_t bytes, uint64_t offset, const char* reason) {
  if (reporter_ == nullptr || bytes == 0) return;
  std::string msg = "wal offset " + std::to_string(offset) + ": " + reason + " (" +
                    std::to_string(bytes) + " bytes skipped)";
  reporter_->Corruption(bytes, Status::Corruption(msg));
}

bool WalReader::ReadRecord(std::string* record) {
  record->clear();
  if (finished_) return false;
  scratch_.clear();
  bool in_record = false;     // a FIRST fragment has been accepted
  uint64_t record_start = 0;  // offset of that FIRST fragment's header
  uint64_t record_end = 0;    // offset just past its latest accepted fragment
  for (;;) {
    std::string_view payload;
    const int type = ReadFragment(&payload);
    // Meaningful only when a fragment was returned: it was just consumed, so
    // it ends where the unread buffer begins.
    const uint64_t frag_end = BufferStartOffset();
    const uint64_t frag_start = frag_end - kWalHeaderSize - payload.size();
    switch (type) {
      case static_cast<int>(WalRecordType::kFull):
        if (in_record) {
          ReportCorruption(record_end - record_start, record_start,
                           "record missing its LAST fragment (FULL fragment follows)");
        }
        record->assign(payload);
        last_record_offset_ = frag_start;
        end_of_last_record_ = frag_end;
        return true;

      case static_cast<int>(WalRecordType::kFirst):
        if (in_record) {
          ReportCorruption(record_end - record_start, record_start,
                           "record missing its LAST fragment (FIRST fragment follows)");
        }
        in_record = true;
        record_start = frag_start;
        record_end = frag_end;
        scratch_.assign(payload);
        break;

      case static_cast<int>(WalRecordType::kMiddle):
        if (!in_record) {
          ReportCorruption(kWalHeaderSize + payload.size(), frag_start,
                           "MIDDLE fragment without a FIRST fragment");
        } else {
          scratch_.append(payload);
          record_end = frag_end;
        }
        break;

      case static_cast<int>(WalRecordType::kLast):
        if (!in_record) {
          ReportCorruption(kWalHeaderSize + payload.size(), frag_start,
                           "LAST fragment without a FIRST fragment");
          break;
        }
        scratch_.append(payload);
        record->swap(scratch_);
        scratch_.clear();
        last_record_offset_ = record_start;
        end_of_last_record_ = frag_end;
        return true;

      case kDropped:
        // The skipped bytes may have held fragments of the record being
        // assembled; joining what precedes them to what follows them could
        // build a record no one wrote.
        if (in_record) {
          ReportCorruption(record_end - record_start, record_start,
                           "record broken by damaged bytes that follow its start");
          in_record = false;
          scratch_.clear();
        }
        break;

      default:  // kEof
        finished_ = true;
        if (status_.ok()) {
          // Everything after the last complete record that did not form one
          // is the torn tail a crash leaves: the partial record, a partial
          // header or payload, zero-filled space.
          uint64_t tail = tail_bytes_ + pending_zero_bytes_;
          if (in_record) tail += record_end - record_start;
          if (tail > 0 && reporter_ != nullptr) reporter_->TruncatedTail(tail);
        }
        return false;
    }
  }
}

int WalReader::ReadFragment(std::string_view* payload) {
  for (;;) {
    if (buffer_.size() < kWalHeaderSize) {
      if (!buffer_.empty()) {
        const uint64_t off = BufferStartOffset();
        const size_t pos = static_cast<size_t>(off % kWalBlockSize);
        if (kWalBlockSize - pos < kWalHeaderSize) {
          // The block trailer: no header can start here, the writer pads it.
          // Damage here loses no data, so any record in progress survives.
          if (!AllZero(buffer_)) {
            ReportCorruption(buffer_.size(), off, "non-zero bytes in block trailer");
          }
        } else {
          // Only possible at the end of the file (a full block leaves fewer
          // than kWalHeaderSize bytes only in its trailer): a partial header.
          tail_bytes_ += buffer_.size();
        }
        buffer_ = {};
      }
      if (eof_) return kEof;
      Result<std::string_view> got = file_->Read(kWalBlockSize, backing_.get());
      if (!got.ok()) {
        status_ = got.status();
        eof_ = true;
        return kEof;
      }
      buffer_ = *got;
      end_of_buffer_offset_ += buffer_.size();
      // SequentialFile returns a short read only at end of file, so every
      // block but the last is whole and block positions stay aligned.
      if (buffer_.size() < kWalBlockSize) eof_ = true;
      continue;
    }

    const uint64_t off = BufferStartOffset();
    const char* h = buffer_.data();
    const bool zero_header = AllZero(buffer_.substr(0, kWalHeaderSize));
    if (zero_header && AllZero(buffer_)) {
      // Zero-filled to the end of the block: preallocated space, or a crash
      // that extended the file before its data reached the disk. Whether that
      // is harmless depends on whether anything follows, so defer judgement.
      if (pending_zero_bytes_ == 0) pending_zero_offset_ = off;
      pending_zero_bytes_ += buffer_.size();
      buffer_ = {};
      continue;
    }
    if (pending_zero_bytes_ > 0) {
      // Data after zero-filled space: records may have been lost in the hole.
      // The current header is left unread, to be parsed by the next call.
      ReportCorruption(pending_zero_bytes_, pending_zero_offset_,
                       "zero-filled space followed by more log data");
      pending_zero_bytes_ = 0;
      return kDropped;
    }
    if (zero_header) {
      ReportCorruption(buffer_.size(), off, "zero-filled header followed by non-zero bytes");
      buffer_ = {};
      return kDropped;
    }

    const uint32_t masked_crc = DecodeLE32(h);
    const size_t length = static_cast<size_t>(static_cast<uint8_t>(h[4])) |
                          (static_cast<size_t>(static_cast<uint8_t>(h[5])) << 8);
    const uint8_t type = static_cast<uint8_t>(h[6]);

    if (kWalHeaderSize + length > buffer_.size()) {
      const size_t pos = static_cast<size_t>(off % kWalBlockSize);
      if (eof_ && pos + kWalHeaderSize + length <= kWalBlockSize) {
        // The payload runs past the end of the file but would have fit in the
        // block: a write cut short by a crash.
        tail_bytes_ += buffer_.size();
        buffer_ = {};
        continue;
      }
      // The length cannot be right, so the next header's position is unknown:
      // skip to the next block.
      ReportCorruption(buffer_.size(), off, "bad fragment length");
      buffer_ = {};
      return kDropped;
    }

    if (verify_checksums_) {
      const uint32_t expected = crc32c::Unmask(masked_crc);
      const uint32_t actual = crc32c::Value(h + 6, 1 + length);
      if (actual != expected) {
        // Any header field may be the damaged one, including the length, so
        // nothing else in this block can be located reliably.
        ReportCorruption(buffer_.size(), off, "checksum mismatch");
        buffer_ = {};
        return kDropped;
      }
    }

    *payload = buffer_.substr(kWalHeaderSize, length);
    buffer_.remove_prefix(kWalHeaderSize + length);
    if (type == 0 || type > kWalMaxRecordType) {
      // The checksum held (or was not checked), so the length is trusted and
      // only this fragment is skipped.
      std::string reason = "unknown fragment type " + std::to_string(type);
      ReportCorruption(kWalHeaderSize + length, off, reason.c_str());
      return kDropped;
    }
    return type;
  }
}

}  // namespace omendb::storage
