#include "storage/manifest.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_set>
#include <utility>

#include "util/coding.h"
#include "util/crc32c.h"

namespace omendb::storage {

namespace crc32c = util::crc32c;

namespace {

constexpr std::string_view kManifestPrefix = "MANIFEST-";
// magic (8) + version (4) + body length (4); the CRC (4) follows the body.
constexpr size_t kManifestHeaderSize = 16;
constexpr size_t kManifestTrailerSize = 4;
// CURRENT holds a manifest name and a newline; anything longer is damage.
constexpr size_t kCurrentMaxSize = kManifestPrefix.size() + 20 + 1;

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (p.empty() || p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

bool ValidFileName(std::string_view name) {
  return !name.empty() && name.size() <= kManifestMaxFileName &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Creates (or truncates) `path`, writes `data`, syncs and closes it. The
// file is not durable by name until its directory is synced.
Status WriteFileSynced(Env* env, const std::string& path, std::string_view data) {
  OMENDB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, env->NewWritableFile(path));
  OMENDB_RETURN_IF_ERROR(f->Append(data));
  OMENDB_RETURN_IF_ERROR(f->Sync());
  return f->Close();
}

// The manifest name CURRENT in `dir` holds, checked for form. kNotFound if
// CURRENT is missing.
Result<std::string> ReadCurrentName(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, kCurrentFileName);
  // A mapping rather than a read into a buffer: a damaged CURRENT of any
  // size costs no allocation.
  OMENDB_ASSIGN_OR_RETURN(std::unique_ptr<MmapRegion> region, env->NewMmapRegion(path));
  std::string_view content(region->data() == nullptr ? "" : region->data(), region->size());
  if (content.size() > kCurrentMaxSize) {
    return Status::Corruption(path + ": CURRENT is " + std::to_string(content.size()) +
                              " bytes, too long for a manifest name");
  }
  if (content.empty() || content.back() != '\n') {
    return Status::Corruption(path + ": CURRENT does not end in a newline (truncated?)");
  }
  content.remove_suffix(1);
  uint64_t seq = 0;
  if (!ParseManifestFileName(content, &seq)) {
    return Status::Corruption(path + ": CURRENT does not hold a manifest name");
  }
  return std::string(content);
}

}  // namespace

std::string ManifestFileName(uint64_t sequence) {
  std::string digits = std::to_string(sequence);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return std::string(kManifestPrefix) + digits;
}

bool ParseManifestFileName(std::string_view name, uint64_t* sequence) {
  if (name.substr(0, kManifestPrefix.size()) != kManifestPrefix) return false;
  std::string_view digits = name.substr(std::min(name.size(), kManifestPrefix.size()));
  if (digits.empty() || digits.size() > 20) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;  // would overflow 64 bits
    v = v * 10 + d;
  }
  *sequence = v;
  return true;
}

Result<std::string> EncodeManifest(const Manifest& m) {
  std::string body;
  util::PutFixed64(&body, m.sequence);
  for (const auto* list : {&m.segment_files, &m.wal_files}) {
    if (list->size() > UINT32_MAX) return Status::InvalidArgument("manifest: too many files");
    util::PutVarint32(&body, static_cast<uint32_t>(list->size()));
    for (const std::string& name : *list) {
      if (!ValidFileName(name)) {
        return Status::InvalidArgument("manifest: invalid file name \"" + name + "\"");
      }
      util::PutLengthPrefixedSlice(&body, name);
      if (body.size() > kManifestMaxFileSize) {
        return Status::InvalidArgument("manifest: too large");
      }
    }
  }
  if (kManifestHeaderSize + body.size() + kManifestTrailerSize > kManifestMaxFileSize) {
    return Status::InvalidArgument("manifest: too large");
  }
  std::string out(kManifestMagic, sizeof(kManifestMagic));
  util::PutFixed32(&out, kManifestFormatVersion);
  util::PutFixed32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  util::PutFixed32(&out, crc32c::Mask(crc32c::Value(out.data(), out.size())));
  return out;
}

Result<Manifest> DecodeManifest(std::string_view data, std::string_view context) {
  auto corrupt = [&](std::string_view what) {
    return Status::Corruption(std::string(context) + ": manifest: " + std::string(what));
  };
  if (data.size() < kManifestHeaderSize + kManifestTrailerSize) {
    return corrupt("file too short (" + std::to_string(data.size()) + " bytes)");
  }
  if (std::memcmp(data.data(), kManifestMagic, sizeof(kManifestMagic)) != 0) {
    return corrupt("bad magic");
  }
  if (data.size() > kManifestMaxFileSize) return corrupt("file too large");
  const uint32_t body_length = util::DecodeFixed32(data.data() + 12);
  if (body_length != data.size() - kManifestHeaderSize - kManifestTrailerSize) {
    return corrupt("body length " + std::to_string(body_length) + " does not match file size " +
                   std::to_string(data.size()) + " (truncated?)");
  }
  const size_t crc_at = kManifestHeaderSize + body_length;
  if (crc32c::Unmask(util::DecodeFixed32(data.data() + crc_at)) !=
      crc32c::Value(data.data(), crc_at)) {
    return corrupt("checksum mismatch");
  }
  // The version is checked after the CRC: a flipped bit there is damage, not
  // a file from another release.
  const uint32_t version = util::DecodeFixed32(data.data() + 8);
  if (version != kManifestFormatVersion) {
    return Status::NotSupported(std::string(context) + ": manifest format version " +
                                std::to_string(version) + " (this build reads " +
                                std::to_string(kManifestFormatVersion) + ")");
  }

  std::string_view body = data.substr(kManifestHeaderSize, body_length);
  Manifest m;
  if (!util::GetFixed64(&body, &m.sequence)) return corrupt("truncated sequence number");
  for (auto* list : {&m.segment_files, &m.wal_files}) {
    uint32_t count = 0;
    if (!util::GetVarint32(&body, &count)) return corrupt("bad file count");
    // Every name takes at least two bytes, so a count larger than that
    // allows is damage; checking first keeps reserve() bounded by the input.
    if (count > body.size() / 2) return corrupt("file count exceeds the manifest's size");
    list->reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      std::string_view name;
      if (!util::GetLengthPrefixedSlice(&body, &name)) return corrupt("truncated file name");
      if (!ValidFileName(name)) return corrupt("invalid file name");
      list->emplace_back(name);
    }
  }
  if (!body.empty()) return corrupt("trailing bytes after the file lists");
  return m;
}

Status InstallManifest(Env* env, const std::string& dir, const Manifest& m) {
  OMENDB_ASSIGN_OR_RETURN(std::string encoded, EncodeManifest(m));
  const std::string name = ManifestFileName(m.sequence);

  // Rewriting the live manifest in place would leave it torn by a crash.
  Result<std::string> current = ReadCurrentName(env, dir);
  if (current.ok()) {
    uint64_t live = 0;
    if (ParseManifestFileName(*current, &live) && live == m.sequence) {
      return Status::InvalidArgument(JoinPath(dir, name) + ": manifest sequence " +
                                     std::to_string(m.sequence) + " is the live one");
    }
  } else if (!current.status().IsNotFound() && !current.status().IsCorruption()) {
    // A damaged CURRENT is what a new install repairs; only an I/O failure
    // stops us, since we cannot tell what is live.
    return current.status();
  }

  const std::string manifest_path = JoinPath(dir, name);
  const std::string temp_path = JoinPath(dir, kCurrentTempFileName);
  const std::string current_path = JoinPath(dir, kCurrentFileName);
  // Until the rename succeeds, CURRENT still names the old manifest, so the
  // new files are garbage on failure; removal is best effort (errors ignored,
  // ListObsoleteFiles finds what remains).
  auto cleanup = [&](Status s) {
    (void)env->RemoveFile(temp_path);
    (void)env->RemoveFile(manifest_path);
    return s;
  };

  Status s = WriteFileSynced(env, manifest_path, encoded);
  if (!s.ok()) return cleanup(std::move(s));
  s = WriteFileSynced(env, temp_path, name + "\n");
  if (!s.ok()) return cleanup(std::move(s));
  // Make both new names durable before CURRENT can point at them: if the
  // rename reached the disk but the manifest's directory entry did not,
  // CURRENT would name a missing file after a power loss.
  s = env->SyncDir(dir);
  if (!s.ok()) return cleanup(std::move(s));
  s = env->RenameFile(temp_path, current_path);
  if (!s.ok()) return cleanup(std::move(s));
  // From here the new manifest is live (both files are complete), so
  // nothing is removed; the sync only makes the switch durable.
  return env->SyncDir(dir);
}

Result<Manifest> ReadCurrentManifest(Env* env, const std::string& dir) {
  OMENDB_ASSIGN_OR_RETURN(std::string name, ReadCurrentName(env, dir));
  uint64_t seq = 0;
  ParseManifestFileName(name, &seq);  // checked by ReadCurrentName
  const std::string path = JoinPath(dir, name);
  auto region = env->NewMmapRegion(path);
  if (!region.ok()) {
    if (region.status().IsNotFound()) {
      return Status::Corruption(JoinPath(dir, kCurrentFileName) + ": names missing manifest " +
                                name);
    }
    return region.status();
  }
  const MmapRegion& r = **region;
  OMENDB_ASSIGN_OR_RETURN(
      Manifest m, DecodeManifest(std::string_view(r.data() == nullptr ? "" : r.data(), r.size()),
                                 path));
  if (m.sequence != seq) {
    return Status::Corruption(path + ": manifest holds sequence " + std::to_string(m.sequence) +
                              ", its name says " + std::to_string(seq));
  }
  return m;
}

Result<std::vector<std::string>> ListObsoleteFiles(Env* env, const std::string& dir,
                                                   const Manifest& live) {
  OMENDB_ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
  std::unordered_set<std::string_view> segs(live.segment_files.begin(), live.segment_files.end());
  std::unordered_set<std::string_view> wals(live.wal_files.begin(), live.wal_files.end());
  std::vector<std::string> out;
  for (std::string& name : children) {
    uint64_t seq = 0;
    bool obsolete = false;
    if (ParseManifestFileName(name, &seq)) {
      obsolete = seq != live.sequence;
    } else if (EndsWith(name, ".tmp")) {
      obsolete = true;
    } else if (EndsWith(name, ".seg")) {
      obsolete = segs.count(name) == 0;
    } else if (EndsWith(name, ".wal")) {
      obsolete = wals.count(name) == 0;
    }
    if (obsolete) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace omendb::storage
