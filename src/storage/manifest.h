// The manifest: the atomic record of which files make up the database.
//
// A database directory holds any number of MANIFEST-<seq> files and one
// CURRENT file naming the live one. A new manifest is installed by writing it
// whole under a fresh name, syncing it, and atomically renaming a new CURRENT
// into place, so after a crash CURRENT names either the old manifest or the
// new one, both complete.
//
// The byte layouts of MANIFEST-<seq> and CURRENT are specified in
// docs/format/manifest.md; the constants below mirror it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/env.h"
#include "omendb/status.h"

namespace omendb::storage {

// docs/format/manifest.md.
inline constexpr char kManifestMagic[8] = {'O', 'M', 'D', 'B', 'M', 'A', 'N', '1'};
inline constexpr uint32_t kManifestFormatVersion = 1;
// Name of the file that names the live manifest, and of its temporary twin.
inline constexpr std::string_view kCurrentFileName = "CURRENT";
inline constexpr std::string_view kCurrentTempFileName = "CURRENT.tmp";
// Limits enforced by EncodeManifest and on reading, so a damaged file can
// never make the reader allocate much.
inline constexpr size_t kManifestMaxFileName = 255;
inline constexpr uint64_t kManifestMaxFileSize = 16 << 20;

// The contents of one manifest. File names are names inside the database
// directory, not paths.
struct Manifest {
  // Increases by one with every installed manifest; names the file
  // (MANIFEST-<sequence>).
  uint64_t sequence = 0;
  // Live segment (checkpoint) files, in the caller's order.
  std::vector<std::string> segment_files;
  // Write-ahead logs to replay on open, oldest first.
  std::vector<std::string> wal_files;

  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// "MANIFEST-" followed by `sequence` in decimal, zero-padded to six digits.
std::string ManifestFileName(uint64_t sequence);
// If `name` is a manifest file name (MANIFEST- and 1 to 20 decimal digits,
// value fitting 64 bits), stores its sequence in *sequence and returns true.
bool ParseManifestFileName(std::string_view name, uint64_t* sequence);

// Serialises `m` into the MANIFEST file format. kInvalidArgument if a file
// name is empty, longer than kManifestMaxFileName, or contains '/' or NUL,
// or the encoding would exceed kManifestMaxFileSize.
Result<std::string> EncodeManifest(const Manifest& m);
// Parses the bytes of a MANIFEST file. kCorruption, with `context` (normally
// the path) in the message, if anything is malformed: magic, length, CRC,
// counts, names, trailing bytes; kNotSupported for a well-formed file of
// another format version. Never allocates more than about the input's size.
Result<Manifest> DecodeManifest(std::string_view data, std::string_view context);

// Makes `m` the live manifest of directory `dir`: writes and syncs
// dir/MANIFEST-<m.sequence> (replacing any file of that name, which must not
// be the live manifest), writes and syncs dir/CURRENT.tmp naming it, syncs
// the directory, renames CURRENT.tmp to CURRENT and syncs the directory
// again. On success `m` is durably live. On failure the error is returned,
// the directory still holds the previous CURRENT or the new one (each
// naming a complete manifest), and leftovers (CURRENT.tmp, the new
// MANIFEST) are removed on a best-effort basis; ListObsoleteFiles reports
// any that remain. kInvalidArgument as for EncodeManifest, or if
// m.sequence is that of the manifest CURRENT names (overwriting the live
// manifest in place would not be atomic).
//
// Thread safety: the caller must serialise installs in one directory (the
// database's writer lock).
Status InstallManifest(Env* env, const std::string& dir, const Manifest& m);

// Reads the manifest CURRENT names in `dir`. kNotFound if there is no
// CURRENT (a new database); kCorruption naming the file if CURRENT is
// malformed, names a missing manifest, or the manifest is malformed, fails
// its CRC or holds a sequence other than its name's; other Env errors as
// returned.
Result<Manifest> ReadCurrentManifest(Env* env, const std::string& dir);

// Names of files in `dir` that the live manifest `live` no longer needs:
// MANIFEST-<n> with n != live.sequence, files ending in ".seg" not in
// live.segment_files, files ending in ".wal" not in live.wal_files, and
// temporary files ending in ".tmp" (CURRENT.tmp, unfinished segments).
// Other files (LOCK, CURRENT, anything unknown) are never listed. Sorted by
// name.
//
// Only call this while holding the database's writer lock and with no
// segment or WAL being created that `live` does not yet list: a file in the
// making is indistinguishable from an obsolete one.
Result<std::vector<std::string>> ListObsoleteFiles(Env* env, const std::string& dir,
                                                   const Manifest& live);

}  // namespace omendb::storage
