#include "storage/segment.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "util/coding.h"
#include "util/crc32c.h"
#include "util/path.h"

namespace omendb::storage {

namespace crc32c = util::crc32c;

namespace {

constexpr uint64_t AlignUp(uint64_t v) {
  return (v + kSegmentAlignment - 1) / kSegmentAlignment * kSegmentAlignment;
}

// A block of zeros for padding; padding is never longer than an alignment step.
constexpr char kZeros[kSegmentAlignment] = {};

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// The header's 24 meaningful bytes (docs/format/segment.md, "Header").
std::string EncodeHeader() {
  std::string h(kSegmentMagic, sizeof(kSegmentMagic));
  util::PutFixed32(&h, kSegmentFormatVersion);
  util::PutFixed32(&h, 0);  // flags: none defined in version 1
  util::PutFixed32(&h, 0);  // reserved
  util::PutFixed32(&h, crc32c::Mask(crc32c::Value(h.data(), h.size())));
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------
// SegmentWriter

SegmentWriter::SegmentWriter(Env* env, std::string path)
    : env_(env), path_(std::move(path)), temp_path_(path_ + std::string(kSegmentTempSuffix)) {}

SegmentWriter::~SegmentWriter() {
  // A segment that never got its final name is garbage; do not leave the
  // temporary file behind for someone to mistake for data.
  if (!renamed_) Abandon();
}

Status SegmentWriter::Fail(Status s) {
  if (error_.ok()) error_ = std::move(s);
  // Once anything went wrong the temporary file can never become a valid
  // segment (a failed Append may have left a partial write), so drop it now.
  if (!renamed_) Abandon();
  return error_;
}

void SegmentWriter::Abandon() {
  if (file_ == nullptr) return;
  // Errors are deliberately ignored: this is cleanup of a file that is
  // already garbage, and the caller has (or will get) the original error. A
  // leftover temporary file is reported by ListObsoleteFiles.
  (void)file_->Close();
  file_.reset();
  (void)env_->RemoveFile(temp_path_);
}

Status SegmentWriter::EnsureOpen() {
  if (file_ != nullptr) return Status::OK();
  auto f = env_->NewWritableFile(temp_path_);
  if (!f.ok()) return Fail(f.status());
  file_ = std::move(f).value();
  offset_ = 0;
  return Write(EncodeHeader());
}

Status SegmentWriter::Write(std::string_view data) {
  if (data.empty()) return Status::OK();
  Status s = file_->Append(data);
  if (!s.ok()) return Fail(std::move(s));
  offset_ += data.size();
  return Status::OK();
}

Status SegmentWriter::PadTo(uint64_t alignment) {
  uint64_t pad = (alignment - offset_ % alignment) % alignment;
  return Write(std::string_view(kZeros, pad));
}

Status SegmentWriter::AddSection(uint32_t tag, std::string_view data) {
  OMENDB_RETURN_IF_ERROR(BeginSection(tag));
  OMENDB_RETURN_IF_ERROR(Append(data));
  return EndSection();
}

Status SegmentWriter::AddSection(uint32_t tag, const ChunkSource& source) {
  OMENDB_RETURN_IF_ERROR(BeginSection(tag));
  for (;;) {
    Result<std::string_view> chunk = source();
    if (!chunk.ok()) return Fail(chunk.status());
    if (chunk->empty()) break;
    OMENDB_RETURN_IF_ERROR(Append(*chunk));
  }
  return EndSection();
}

Status SegmentWriter::BeginSection(uint32_t tag) {
  if (!error_.ok()) return error_;
  if (finished_) return Fail(Status::FailedPrecondition(path_ + ": segment already finished"));
  if (in_section_) {
    return Fail(Status::FailedPrecondition(path_ + ": BeginSection while section " +
                                           std::to_string(entries_.back().tag) + " is open"));
  }
  // A linear scan: segments hold a handful of sections, and a map would cost
  // more than it saves.
  for (const Entry& e : entries_) {
    if (e.tag == tag) {
      return Fail(Status::InvalidArgument(path_ + ": duplicate section tag " +
                                          std::to_string(tag)));
    }
  }
  OMENDB_RETURN_IF_ERROR(EnsureOpen());
  OMENDB_RETURN_IF_ERROR(PadTo(kSegmentAlignment));
  entries_.push_back(Entry{tag, offset_, 0, 0});
  in_section_ = true;
  return Status::OK();
}

Status SegmentWriter::Append(std::string_view chunk) {
  if (!error_.ok()) return error_;
  if (!in_section_) return Fail(Status::FailedPrecondition(path_ + ": Append with no open section"));
  OMENDB_RETURN_IF_ERROR(Write(chunk));
  Entry& e = entries_.back();
  e.length += chunk.size();
  e.crc = crc32c::Extend(e.crc, chunk.data(), chunk.size());
  return Status::OK();
}

Status SegmentWriter::EndSection() {
  if (!error_.ok()) return error_;
  if (!in_section_) {
    return Fail(Status::FailedPrecondition(path_ + ": EndSection with no open section"));
  }
  in_section_ = false;
  return Status::OK();
}

Status SegmentWriter::Finish() {
  if (!error_.ok()) return error_;
  if (finished_) return Fail(Status::FailedPrecondition(path_ + ": segment already finished"));
  if (in_section_) {
    return Fail(Status::FailedPrecondition(path_ + ": Finish while section " +
                                           std::to_string(entries_.back().tag) + " is open"));
  }
  OMENDB_RETURN_IF_ERROR(EnsureOpen());
  OMENDB_RETURN_IF_ERROR(PadTo(kSegmentAlignment));

  const uint64_t table_offset = offset_;
  std::string table;
  table.reserve(entries_.size() * kSegmentTableEntrySize);
  for (const Entry& e : entries_) {
    util::PutFixed32(&table, e.tag);
    util::PutFixed32(&table, 0);
    util::PutFixed64(&table, e.offset);
    util::PutFixed64(&table, e.length);
    util::PutFixed32(&table, crc32c::Mask(e.crc));
    util::PutFixed32(&table, 0);
  }
  std::string footer;
  util::PutFixed64(&footer, table_offset);
  util::PutFixed64(&footer, table.size());
  util::PutFixed32(&footer, crc32c::Mask(crc32c::Value(table.data(), table.size())));
  util::PutFixed32(&footer, crc32c::Mask(crc32c::Value(footer.data(), footer.size())));
  footer.append(kSegmentMagic, sizeof(kSegmentMagic));

  OMENDB_RETURN_IF_ERROR(Write(table));
  OMENDB_RETURN_IF_ERROR(Write(footer));
  // Sync before the rename: otherwise a power loss could leave the final
  // name pointing at a file whose data never reached the disk.
  Status s = file_->Sync();
  if (!s.ok()) return Fail(std::move(s));
  s = file_->Close();
  if (!s.ok()) return Fail(std::move(s));
  file_.reset();
  s = env_->RenameFile(temp_path_, path_);
  if (!s.ok()) {
    // The file is closed, so Abandon would skip the removal; do it here.
    (void)env_->RemoveFile(temp_path_);
    return Fail(std::move(s));
  }
  renamed_ = true;
  finished_ = true;
  s = env_->SyncDir(util::DirName(path_));
  if (!s.ok()) return Fail(std::move(s));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// SegmentReader

SegmentReader::SegmentReader(std::string path, std::unique_ptr<MmapRegion> region)
    : path_(std::move(path)), region_(std::move(region)) {}

SegmentReader::~SegmentReader() = default;

uint64_t SegmentReader::file_size() const { return region_->size(); }

Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(Env* env, const std::string& path,
                                                           const SegmentReadOptions& options) {
  auto region = env->NewMmapRegion(path);
  if (!region.ok()) return region.status();
  std::unique_ptr<SegmentReader> reader(new SegmentReader(path, std::move(region).value()));
  OMENDB_RETURN_IF_ERROR(reader->Parse(options));
  return reader;
}

Status SegmentReader::Parse(const SegmentReadOptions& options) {
  const char* data = region_->data();
  const uint64_t size = region_->size();
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption(path_ + ": segment: " + what);
  };

  if (size < kSegmentAlignment + kSegmentFooterSize) {
    return corrupt("file too short (" + std::to_string(size) + " bytes, minimum " +
                   std::to_string(kSegmentAlignment + kSegmentFooterSize) + ")");
  }

  // Header. The magic is checked before the CRC so that a file of another
  // kind is reported as such, not as a checksum failure.
  if (std::memcmp(data, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return corrupt("bad magic");
  if (crc32c::Unmask(util::DecodeFixed32(data + 20)) != crc32c::Value(data, 20)) {
    return corrupt("header checksum mismatch");
  }
  const uint32_t version = util::DecodeFixed32(data + 8);
  if (version != kSegmentFormatVersion) {
    return Status::NotSupported(path_ + ": segment format version " + std::to_string(version) +
                                " (this build reads " + std::to_string(kSegmentFormatVersion) +
                                ")");
  }
  const uint32_t flags = util::DecodeFixed32(data + 12);
  if (flags != 0) {
    return Status::NotSupported(path_ + ": segment has unknown flags " + std::to_string(flags));
  }
  if (util::DecodeFixed32(data + 16) != 0) return corrupt("reserved header field is not zero");
  if (!AllZero(data + kSegmentHeaderSize, kSegmentAlignment - kSegmentHeaderSize)) {
    return corrupt("header padding is not zero");
  }

  // Footer, at the very end so a reader finds the table without scanning.
  const char* footer = data + size - kSegmentFooterSize;
  if (std::memcmp(footer + 24, kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return corrupt("bad footer magic (file truncated?)");
  }
  if (crc32c::Unmask(util::DecodeFixed32(footer + 20)) != crc32c::Value(footer, 20)) {
    return corrupt("footer checksum mismatch");
  }
  const uint64_t table_offset = util::DecodeFixed64(footer);
  const uint64_t table_length = util::DecodeFixed64(footer + 8);
  const uint64_t table_limit = size - kSegmentFooterSize;  // the table must end here
  // Written so that no sum can overflow, whatever the fields hold.
  if (table_offset < kSegmentAlignment || table_offset > table_limit ||
      table_offset % kSegmentAlignment != 0 || table_length != table_limit - table_offset ||
      table_length % kSegmentTableEntrySize != 0) {
    return corrupt("bad section table bounds (offset " + std::to_string(table_offset) +
                   ", length " + std::to_string(table_length) + ", file size " +
                   std::to_string(size) + ")");
  }
  const char* table = data + table_offset;
  if (crc32c::Unmask(util::DecodeFixed32(footer + 16)) != crc32c::Value(table, table_length)) {
    return corrupt("section table checksum mismatch");
  }

  // Entries. The layout is fully determined by the lengths (each section at
  // the next 64-byte boundary, zero padding between), so requiring exactly
  // that layout rules out overlaps, gaps and unsorted entries at once, and
  // leaves no byte of the file unchecked.
  const size_t n = table_length / kSegmentTableEntrySize;  // <= size / 32: bounded by the file
  sections_.reserve(n);
  by_tag_.reserve(n);
  uint64_t expected = kSegmentAlignment;
  for (size_t i = 0; i < n; ++i) {
    const char* e = table + i * kSegmentTableEntrySize;
    SegmentSectionInfo info;
    info.tag = util::DecodeFixed32(e);
    info.offset = util::DecodeFixed64(e + 8);
    info.length = util::DecodeFixed64(e + 16);
    const uint32_t masked_crc = util::DecodeFixed32(e + 24);
    const std::string which = "section " + std::to_string(i) + " (tag " +
                              std::to_string(info.tag) + ")";
    if (util::DecodeFixed32(e + 4) != 0 || util::DecodeFixed32(e + 28) != 0) {
      return corrupt(which + ": reserved table field is not zero");
    }
    if (info.offset != expected) {
      return corrupt(which + ": offset " + std::to_string(info.offset) + ", expected " +
                     std::to_string(expected));
    }
    if (info.length > table_offset - info.offset) {
      return corrupt(which + ": length " + std::to_string(info.length) +
                     " runs past the section table at " + std::to_string(table_offset));
    }
    const uint64_t end = info.offset + info.length;
    const uint64_t next = AlignUp(end);
    if (next > table_offset) return corrupt(which + ": padding runs into the section table");
    if (!AllZero(data + end, next - end)) return corrupt(which + ": padding is not zero");
    expected = next;
    by_tag_.push_back(IndexEntry{info.tag, masked_crc, sections_.size()});
    sections_.push_back(info);
  }
  if (expected != table_offset) {
    return corrupt("section table at " + std::to_string(table_offset) + ", expected at " +
                   std::to_string(expected));
  }
  std::sort(by_tag_.begin(), by_tag_.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.tag < b.tag; });
  for (size_t i = 1; i < by_tag_.size(); ++i) {
    if (by_tag_[i].tag == by_tag_[i - 1].tag) {
      return corrupt("duplicate section tag " + std::to_string(by_tag_[i].tag));
    }
  }

  if (options.verify_checksums) {
    for (const IndexEntry& e : by_tag_) OMENDB_RETURN_IF_ERROR(VerifyEntry(e));
  }
  return Status::OK();
}

const SegmentReader::IndexEntry* SegmentReader::Find(uint32_t tag) const {
  auto it = std::lower_bound(by_tag_.begin(), by_tag_.end(), tag,
                             [](const IndexEntry& e, uint32_t t) { return e.tag < t; });
  if (it == by_tag_.end() || it->tag != tag) return nullptr;
  return &*it;
}

Status SegmentReader::VerifyEntry(const IndexEntry& e) const {
  const SegmentSectionInfo& info = sections_[e.position];
  uint32_t actual = crc32c::Value(region_->data() + info.offset, info.length);
  if (actual != crc32c::Unmask(e.masked_crc)) {
    return Status::Corruption(path_ + ": segment: section tag " + std::to_string(info.tag) +
                              " checksum mismatch");
  }
  return Status::OK();
}

Result<std::string_view> SegmentReader::Section(uint32_t tag) const {
  const IndexEntry* e = Find(tag);
  if (e == nullptr) {
    return Status::NotFound(path_ + ": segment has no section with tag " + std::to_string(tag));
  }
  const SegmentSectionInfo& info = sections_[e->position];
  if (info.length == 0) return std::string_view();
  return std::string_view(region_->data() + info.offset, info.length);
}

bool SegmentReader::HasSection(uint32_t tag) const { return Find(tag) != nullptr; }

Status SegmentReader::VerifySection(uint32_t tag) const {
  const IndexEntry* e = Find(tag);
  if (e == nullptr) {
    return Status::NotFound(path_ + ": segment has no section with tag " + std::to_string(tag));
  }
  return VerifyEntry(*e);
}

Status SegmentReader::VerifyAll() const {
  for (const IndexEntry& e : by_tag_) OMENDB_RETURN_IF_ERROR(VerifyEntry(e));
  return Status::OK();
}

}  // namespace omendb::storage
