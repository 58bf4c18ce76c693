// Segment files: the immutable checkpoint files of the database, each a set of
// named (tagged) byte sections with a CRC-32C per section.
//
// A segment is written once by SegmentWriter under a temporary name and
// renamed into place only after it is complete and synced, so a file under
// its final name is always whole. SegmentReader maps it read-only and hands
// out views into the mapping; every section starts at a 64-byte aligned file
// offset, so a section of floats can be used in place.
//
// The byte layout is specified in docs/format/segment.md; the constants below
// mirror it and must change together with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/env.h"
#include "omendb/status.h"

namespace omendb::storage {

// docs/format/segment.md, "Header".
inline constexpr char kSegmentMagic[8] = {'O', 'M', 'D', 'B', 'S', 'E', 'G', '1'};
inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 24;  // bytes with meaning; zero-padded to 64
// Every section, and the section table, starts at a multiple of this.
inline constexpr size_t kSegmentAlignment = 64;
// docs/format/segment.md, "Section table": one entry per section.
inline constexpr size_t kSegmentTableEntrySize = 32;
// docs/format/segment.md, "Footer": the last bytes of the file.
inline constexpr size_t kSegmentFooterSize = 32;
// Suffix of the name a segment is written under before its final rename.
inline constexpr std::string_view kSegmentTempSuffix = ".tmp";

// Writes one segment file.
//
// Usage: any number of sections (AddSection, or BeginSection / Append... /
// EndSection for data produced in pieces), then Finish(). Sections are laid
// out in the order they are added. Nothing is kept in memory but the section
// table (32 bytes per section), so a section may be far larger than RAM.
//
// The data goes to `path` + kSegmentTempSuffix; Finish() syncs and closes that
// file, renames it to `path` and syncs the directory. A writer destroyed
// without a successful Finish(), or whose Finish() failed before the rename,
// removes the temporary file (best effort) and leaves `path` untouched.
//
// Errors: the first failure of any call poisons the writer; every later call
// returns that same error. Misuse (Append outside a section, a duplicate tag,
// nested BeginSection, ...) returns kFailedPrecondition / kInvalidArgument
// and also poisons the writer.
//
// Thread safety: not thread-safe; one thread at a time.
// Ownership: does not own `env`, which must outlive the writer.
class SegmentWriter {
 public:
  // Produces the next chunk of a section: a non-empty view to append, an
  // empty view at the end of the section, or an error to abort the writer.
  // The view need only stay valid until the next call.
  using ChunkSource = std::function<Result<std::string_view>()>;

  // Prepares to write the segment `path`. Creates nothing yet: the temporary
  // file is created by the first call that adds data (or by Finish).
  SegmentWriter(Env* env, std::string path);
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Adds a whole section holding `data`. `tag` must not have been used in
  // this segment (kInvalidArgument otherwise).
  Status AddSection(uint32_t tag, std::string_view data);
  // Adds a section whose bytes are the concatenation of the chunks `source`
  // yields until it returns an empty view. An error from `source` is
  // returned (and poisons the writer).
  Status AddSection(uint32_t tag, const ChunkSource& source);

  // Starts a section with `tag` (unique in this segment); its bytes are then
  // given by Append calls and it ends with EndSection. kFailedPrecondition if
  // a section is already open.
  Status BeginSection(uint32_t tag);
  // Appends `chunk` to the open section. kFailedPrecondition if none is open.
  Status Append(std::string_view chunk);
  // Closes the open section. kFailedPrecondition if none is open.
  Status EndSection();

  // Writes the section table and footer, syncs and closes the temporary
  // file, renames it to `path` and syncs the directory. On success `path`
  // is a complete, durable segment. kFailedPrecondition if a section is still
  // open or Finish already succeeded. If the failure happens at the final
  // directory sync, `path` already holds the complete segment but its name
  // may not survive a power loss.
  Status Finish();

  // Total bytes of the file written so far (the full file size after Finish).
  uint64_t bytes_written() const { return offset_; }
  // The final path and the temporary path the data is written to first.
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  struct Entry {
    uint32_t tag;
    uint64_t offset;
    uint64_t length;
    uint32_t crc;  // unmasked CRC-32C of the section bytes
  };

  Status EnsureOpen();
  Status Write(std::string_view data);
  Status PadTo(uint64_t alignment);
  Status Fail(Status s);
  void Abandon();

  Env* const env_;
  const std::string path_;
  const std::string temp_path_;
  std::unique_ptr<WritableFile> file_;
  std::vector<Entry> entries_;
  uint64_t offset_ = 0;      // bytes written to the file
  bool in_section_ = false;  // between BeginSection and EndSection
  bool finished_ = false;    // Finish succeeded
  bool renamed_ = false;     // the temporary file now has the final name
  Status error_;             // first error; OK while the writer is healthy
};

// Options for SegmentReader::Open.
struct SegmentReadOptions {
  // Check every section's CRC-32C when opening (reads the whole file). When
  // false only the header, footer and section table are checked, and
  // VerifySection / VerifyAll can check sections later.
  bool verify_checksums = true;
};

// One entry of a segment's section table.
struct SegmentSectionInfo {
  uint32_t tag = 0;
  uint64_t offset = 0;  // file offset of the first byte, a multiple of 64
  uint64_t length = 0;  // bytes
};

// Read access to a complete segment file through a read-only memory mapping.
//
// Thread safety: all methods are const and may be called from any thread.
// Views returned by Section() point into the mapping and stay valid while
// this reader lives.
class SegmentReader {
 public:
  // Maps `path` and validates it: magic, version, flags, footer, table
  // checksum, that sections are laid out exactly as the writer lays them out
  // (ascending, 64-byte aligned, non-overlapping, inside the file, zero
  // padding), unique tags, and (by default) every section's checksum.
  // Errors: kNotFound if the file is missing; kCorruption naming the path
  // and the problem for any malformed file; kNotSupported for a well-formed
  // header of another format version or with unknown flags; others from the
  // Env. Never allocates more than a small multiple of the table size.
  static Result<std::unique_ptr<SegmentReader>> Open(Env* env, const std::string& path,
                                                     const SegmentReadOptions& options = {});
  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  // The bytes of the section tagged `tag`, pointing into the mapping (an
  // empty section gives an empty view). kNotFound naming the path and tag if
  // the segment has no such section.
  Result<std::string_view> Section(uint32_t tag) const;
  // True if the segment has a section tagged `tag`.
  bool HasSection(uint32_t tag) const;
  // Recomputes the CRC of section `tag`: kNotFound if absent, kCorruption on
  // mismatch. Useful after opening with verify_checksums = false.
  Status VerifySection(uint32_t tag) const;
  // VerifySection for every section.
  Status VerifyAll() const;

  // The section table in file order.
  const std::vector<SegmentSectionInfo>& sections() const { return sections_; }
  uint64_t file_size() const;
  const std::string& path() const { return path_; }

 private:
  struct IndexEntry {
    uint32_t tag;
    uint32_t masked_crc;
    size_t position;  // into sections_
  };
  SegmentReader(std::string path, std::unique_ptr<MmapRegion> region);
  Status Parse(const SegmentReadOptions& options);
  const IndexEntry* Find(uint32_t tag) const;
  Status VerifyEntry(const IndexEntry& e) const;

  const std::string path_;
  std::unique_ptr<MmapRegion> region_;
  std::vector<SegmentSectionInfo> sections_;
  std::vector<IndexEntry> by_tag_;  // sorted by tag, for lookups
};

}  // namespace omendb::storage
