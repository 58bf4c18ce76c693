// libFuzzer target: arbitrary bytes as a checkpoint segment file
// (docs/format/segment.md), opened with storage::SegmentReader from a real
// file (the reader maps it) and walked section by section.
//
// Random bytes almost never pass the header, table, footer and section
// checksums, so each input is also tried with its checksums recomputed
// wherever its layout makes that possible; the structural checks behind them
// (table bounds, offsets, padding, tag uniqueness) are then what gets fuzzed.
// Properties checked (a violation traps):
//  * Open returns OK, kCorruption or kNotSupported, never anything else, and
//    never crashes, hangs or touches memory outside the mapping;
//  * opening with checksums succeeds exactly when opening without them does
//    and VerifyAll() then passes;
//  * an opened segment's sections are 64-byte aligned, ascending, inside the
//    file and before the table, have unique tags, and are returned whole by
//    Section(); an absent tag is kNotFound;
//  * since the layout is fully determined by the section list, writing the
//    same sections with SegmentWriter reproduces the input byte for byte.
//
// Build: cmake --preset fuzz && cmake --build --preset fuzz
// Run:   ctest --preset fuzz -R segment_open   (30 s), or
//        build/fuzz/fuzz/segment_open_fuzzer DIR fuzz/corpus/segment_open
// Seeds: fuzz/corpus/segment_open/ holds segments written by SegmentWriter
// (no sections; one; several including an empty one and tag 0xFFFFFFFF; a
// section of floats) and a database checkpoint. They are regenerated with
//   OMENDB_WRITE_SEEDS=fuzz/corpus/segment_open build/fuzz/fuzz/segment_open_fuzzer
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/db.h"
#include "omendb/env.h"
#include "storage/segment.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace {

using omendb::Env;
using omendb::Status;
using omendb::StatusCode;
using omendb::storage::SegmentReader;
using omendb::storage::SegmentReadOptions;
using omendb::storage::SegmentWriter;
namespace crc32c = omendb::util::crc32c;

std::string g_dir;  // scratch directory for the files under test

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "segment_open_fuzzer: property violated: %s\n", what);
    __builtin_trap();
  }
}

std::string MakeScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                     : (tmp != nullptr && *tmp != '\0') ? tmp
                                                        : "/tmp";
  std::string templ = base + "/omendb_segfuzz_XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) std::abort();
  return buf.data();
}

bool WriteFile(const std::string& path, std::string_view data) {
  auto f = Env::Default()->NewWritableFile(path);
  return f.ok() && (*f)->Append(data).ok() && (*f)->Close().ok();
}

std::string ReadFile(const std::string& path) {
  auto r = Env::Default()->NewMmapRegion(path);
  if (!r.ok() || (*r)->size() == 0) return {};
  return std::string((*r)->data(), (*r)->size());
}

void PutMaskedCrc(std::string& b, size_t at, size_t from, size_t n) {
  omendb::util::EncodeFixed32(&b[at], crc32c::Mask(crc32c::Value(b.data() + from, n)));
}

// Recomputes every checksum the layout of `b` lets us locate.
void FixChecksums(std::string& b) {
  const size_t size = b.size();
  if (size < 96) return;
  PutMaskedCrc(b, 20, 0, 20);  // header
  const size_t footer = size - 32;
  const uint64_t table = omendb::util::DecodeFixed64(&b[footer]);
  const uint64_t table_len = omendb::util::DecodeFixed64(&b[footer + 8]);
  if (table <= footer && table_len == footer - table && table_len % 32 == 0) {
    for (uint64_t e = table; e < footer; e += 32) {
      const uint64_t off = omendb::util::DecodeFixed64(&b[e + 8]);
      const uint64_t len = omendb::util::DecodeFixed64(&b[e + 16]);
      if (off <= table && len <= table - off) PutMaskedCrc(b, e + 24, off, len);
    }
    PutMaskedCrc(b, footer + 16, table, table_len);
  }
  PutMaskedCrc(b, footer + 20, footer, 20);
}

// Opens `data` both ways and checks the properties in the file comment.
void Exercise(std::string_view data) {
  const std::string path = g_dir + "/input.seg";
  if (!WriteFile(path, data)) std::abort();  // the scratch disk, not the input

  SegmentReadOptions no_verify;
  no_verify.verify_checksums = false;
  auto verified = SegmentReader::Open(Env::Default(), path);
  auto unverified = SegmentReader::Open(Env::Default(), path, no_verify);
  for (const auto* r : {&verified, &unverified}) {
    if (!r->ok()) {
      const StatusCode c = r->status().code();
      Check(c == StatusCode::kCorruption || c == StatusCode::kNotSupported,
            "Open failed with a code other than corruption / not supported");
      Check(!r->status().message().empty(), "error without a message");
    }
  }
  Check(verified.ok() == (unverified.ok() && (*unverified)->VerifyAll().ok()),
        "checksummed open disagrees with open + VerifyAll");
  if (!unverified.ok()) return;

  const SegmentReader& r = **unverified;
  Check(r.file_size() == data.size(), "file_size differs from the input");
  const auto& sections = r.sections();
  Check(data.size() >= 96 + 32 * sections.size(), "more sections than the file can hold");
  const uint64_t table = data.size() - 32 - 32 * sections.size();
  std::set<uint32_t> tags;
  uint64_t prev_end = 64;
  uint32_t absent = 0;
  for (const auto& s : sections) {
    Check(s.offset % 64 == 0, "section not 64-byte aligned");
    Check(s.offset >= prev_end, "sections overlap or are out of order");
    Check(s.offset <= table && s.length <= table - s.offset, "section runs into the table");
    Check(tags.insert(s.tag).second, "duplicate tag");
    Check(r.HasSection(s.tag), "HasSection misses a listed tag");
    auto view = r.Section(s.tag);
    Check(view.ok() && view->size() == s.length, "Section() size differs from the table");
    if (s.length > 0) {
      Check(std::memcmp(view->data(), data.data() + s.offset, s.length) == 0,
            "Section() bytes differ from the file");
    }
    prev_end = s.offset + s.length;
    if (absent == s.tag) ++absent;
  }
  while (tags.count(absent) != 0) ++absent;
  auto missing = r.Section(absent);
  Check(!missing.ok() && missing.status().code() == StatusCode::kNotFound,
        "an absent tag was found");

  if (!verified.ok()) return;
  // A valid segment is exactly what the writer makes of its sections.
  const std::string again = g_dir + "/again.seg";
  {
    SegmentWriter w(Env::Default(), again);
    for (const auto& s : sections) {
      Check(w.AddSection(s.tag, *r.Section(s.tag)).ok(), "rewriting a valid segment failed");
    }
    Check(w.Finish().ok(), "rewriting a valid segment failed");
  }
  Check(ReadFile(again) == data, "a valid segment is not what the writer writes");
}

// Writes the seed corpus into `dir` (see the file comment).
int WriteSeeds(const std::string& dir) {
  auto segment = [&](const std::string& name,
                     const std::vector<std::pair<uint32_t, std::string>>& sections) {
    SegmentWriter w(Env::Default(), dir + "/" + name);
    for (const auto& [tag, data] : sections) {
      if (!w.AddSection(tag, data).ok()) std::abort();
    }
    if (!w.Finish().ok()) std::abort();
  };
  segment("empty", {});
  segment("one_section", {{1, "hello, segment"}});
  segment("several", {{7, "abc"}, {2, ""}, {0xFFFFFFFFu, std::string(70, 'x')}, {3, "z"}});
  std::string floats;
  for (int i = 0; i < 200; ++i) {
    const float f = static_cast<float>(i) * 0.25f - 7.0f;
    floats.append(reinterpret_cast<const char*>(&f), sizeof f);
  }
  segment("floats", {{100, floats}, {101, std::string(64, '\0')}, {102, "tail"}});

  // A database checkpoint: one small collection with metadata.
  const std::string db_dir = g_dir + "/seed_db";
  {
    omendb::DbOptions o;
    o.num_threads = 1;
    auto db = omendb::DB::Open(db_dir, o);
    if (!db.ok()) std::abort();
    omendb::CollectionOptions co;
    co.dim = 4;
    co.M = 4;
    co.ef_construction = 16;
    auto c = (*db)->CreateCollection("seed", co);
    if (!c.ok()) std::abort();
    std::vector<omendb::VectorId> ids;
    std::vector<float> vectors;
    std::vector<omendb::Metadata> meta;
    for (int i = 0; i < 8; ++i) {
      ids.push_back(static_cast<omendb::VectorId>(i * 3));
      for (int d = 0; d < 4; ++d) vectors.push_back(static_cast<float>(i + d) / 4.0f);
      omendb::Metadata m;
      if (i % 2 == 0) m["n"] = static_cast<int64_t>(i);
      meta.push_back(m);
    }
    if (!(*c)->Upsert(ids, vectors, meta).ok()) std::abort();
    const omendb::VectorId gone[] = {3};
    if (!(*c)->Delete(gone).ok()) std::abort();
    if (!(*db)->Checkpoint().ok()) std::abort();
    auto names = Env::Default()->GetChildren(db_dir);
    if (!names.ok()) std::abort();
    for (const std::string& n : *names) {
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".seg") == 0) {
        if (!WriteFile(dir + "/db_checkpoint", ReadFile(db_dir + "/" + n))) std::abort();
      }
    }
  }
  std::printf("seeds written to %s\n", dir.c_str());
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = MakeScratchDir();
  // The scratch directory is removed at exit (libFuzzer ends with exit()).
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  });
  if (const char* out = std::getenv("OMENDB_WRITE_SEEDS"); out != nullptr && *out != '\0') {
    std::exit(WriteSeeds(out));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Exercise(input);
  std::string fixed = input;
  FixChecksums(fixed);
  if (fixed != input) Exercise(fixed);
  return 0;
}
