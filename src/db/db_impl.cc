#include "db/db_impl.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "db/metadata_codec.h"
#include "storage/segment.h"
#include "util/coding.h"
#include "util/thread_pool.h"

namespace omendb {

DB::~DB() = default;

Result<std::unique_ptr<DB>> DB::Open(const std::string& dir, const DbOptions& options) {
  return db::DbImpl::Open(dir, options);
}

namespace db {

namespace {

// Writes merged into one group commit stop growing past this many bytes.
constexpr size_t kMaxGroupBytes = 4 << 20;

// Collects the first damage a WalReader reports.
class FirstCorruption : public storage::WalReader::Reporter {
 public:
  void Corruption(uint64_t bytes, const Status& reason) override {
    if (status.ok()) status = reason;
    dropped += bytes;
  }
  Status status;
  uint64_t dropped = 0;
};

// The number a database file name starts with ("000012.wal" -> 12), or 0.
uint64_t FileNumber(const std::string& name) {
  uint64_t n = 0;
  size_t i = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i < 19) {
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
    ++i;
  }
  if (i == 0 || i >= name.size() || name[i] != '.') return 0;
  return n;
}

}  // namespace

struct DbImpl::Writer {
  std::string_view record;                  // empty for exclusive operations
  const std::function<Status()>* apply = nullptr;
  bool exclusive = false;  // runs alone; `apply` does all the work
  bool sync = true;        // the record must be synced before the write returns
  bool alone = false;      // kEveryWrite: not merged with other writes
  Status status;
  bool done = false;
  std::condition_variable cv;
};

DbImpl::DbImpl(Env* env, std::string dir, const DbOptions& options)
    : env_(env),
      dir_(std::move(dir)),
      options_(options),
      threads_(util::ResolveThreads(options.num_threads)) {}

Result<std::unique_ptr<DB>> DbImpl::Open(const std::string& dir, const DbOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("database path is empty");
  Env* env = options.env != nullptr ? options.env : Env::Default();
  std::unique_ptr<DbImpl> db(new DbImpl(env, dir, options));
  OMENDB_RETURN_IF_ERROR(db->OpenOrCreate());
  return std::unique_ptr<DB>(std::move(db));
}

std::string DbImpl::NewFileName(const char* ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06llu.%s", static_cast<unsigned long long>(next_file_++), ext);
  return buf;
}

Status DbImpl::OpenOrCreate() {
  OMENDB_ASSIGN_OR_RETURN(bool exists, env_->FileExists(dir_));
  if (!exists) {
    if (!options_.create_if_missing) {
      return Status::NotFound(dir_ + ": no such database (create_if_missing is off)");
    }
    OMENDB_RETURN_IF_ERROR(env_->CreateDir(dir_));
  }
  OMENDB_ASSIGN_OR_RETURN(lock_, env_->LockFile(FilePath("LOCK")));
  OMENDB_ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir_));
  for (const auto& c : children) next_file_ = std::max(next_file_, FileNumber(c) + 1);

  Result<storage::Manifest> current = storage::ReadCurrentManifest(env_, dir_);
  if (!current.ok() && current.status().code() != StatusCode::kNotFound) return current.status();
  if (!current.ok()) {
    // No CURRENT. A crash while the database was first being created leaves
    // at most its first manifest and an empty log; anything more means
    // CURRENT was lost, and starting afresh would silently drop the data.
    for (const auto& c : children) {
      uint64_t seq = 0;
      const bool later_manifest = storage::ParseManifestFileName(c, &seq) && seq > 1;
      bool has_data = c.ends_with(".seg");
      if (c.ends_with(".wal")) {
        Result<uint64_t> size = env_->GetFileSize(FilePath(c));
        has_data = !size.ok() || *size > 0;
      }
      if (later_manifest || has_data) {
        return Status::Corruption(dir_ + ": CURRENT is missing but the directory holds " + c);
      }
    }
    if (!options_.create_if_missing) {
      return Status::NotFound(dir_ + ": no database here (no CURRENT file)");
    }
    // A new database: an empty log named by the first manifest.
    const std::string log_name = NewFileName("wal");
    OMENDB_ASSIGN_OR_RETURN(log_file_, env_->NewWritableFile(FilePath(log_name)));
    OMENDB_RETURN_IF_ERROR(log_file_->Sync());
    OMENDB_RETURN_IF_ERROR(env_->SyncDir(dir_));
    storage::Manifest m;
    m.sequence = 1;
    m.wal_files = {log_name};
    OMENDB_RETURN_IF_ERROR(storage::InstallManifest(env_, dir_, m));
    manifest_ = m;
    log_ = std::make_unique<storage::WalWriter>(log_file_.get(), 0);
  } else {
    if (options_.error_if_exists) {
      return Status::AlreadyExists(dir_ + ": a database already exists (error_if_exists is on)");
    }
    manifest_ = std::move(*current);
    if (manifest_.segment_files.size() > 1) {
      return Status::Corruption(dir_ + ": manifest names " +
                                std::to_string(manifest_.segment_files.size()) +
                                " checkpoint files; this version writes one");
    }
    if (manifest_.wal_files.empty()) {
      return Status::Corruption(dir_ + ": manifest names no write-ahead log");
    }
    for (const auto& seg : manifest_.segment_files) OMENDB_RETURN_IF_ERROR(LoadCheckpoint(seg));
    for (size_t i = 0; i < manifest_.wal_files.size(); ++i) {
      OMENDB_RETURN_IF_ERROR(
          ReplayLog(manifest_.wal_files[i], i + 1 == manifest_.wal_files.size()));
    }
    if (!manifest_.segment_files.empty()) {
      OMENDB_ASSIGN_OR_RETURN(uint64_t size,
                              env_->GetFileSize(FilePath(manifest_.segment_files[0])));
      checkpoint_bytes_.store(size);
    }
  }
  manifest_sequence_.store(manifest_.sequence);
  log_bytes_.store(log_->offset());
  // Files a crash left behind (an unfinished checkpoint, an old manifest).
  if (auto obsolete = storage::ListObsoleteFiles(env_, dir_, manifest_); obsolete.ok()) {
    for (const auto& name : *obsolete) (void)env_->RemoveFile(FilePath(name));
  }
  return Status::OK();
}

Status DbImpl::LoadCheckpoint(const std::string& name) {
  const std::string path = FilePath(name);
  Result<std::unique_ptr<storage::SegmentReader>> opened = storage::SegmentReader::Open(env_, path);
  if (!opened.ok() && opened.status().code() == StatusCode::kNotFound) {
    return Status::Corruption(path + ": checkpoint named by the manifest is missing");
  }
  OMENDB_RETURN_IF_ERROR(opened.status());
  auto reader = std::move(*opened);
  auto fail = [&](const Status& s) { return s.WithContext(path); };
  Result<std::string_view> catalog_bytes = reader->Section(kCatalogTag);
  if (!catalog_bytes.ok()) return Status::Corruption(path + ": no catalog section");
  Result<std::vector<CatalogEntry>> catalog = DecodeCatalog(*catalog_bytes);
  if (!catalog.ok()) return fail(catalog.status());
  for (size_t i = 0; i < catalog->size(); ++i) {
    const CatalogEntry& e = (*catalog)[i];
    Result<std::string_view> index_bytes = reader->Section(IndexTag(i));
    Result<std::string_view> meta_bytes = reader->Section(MetadataTag(i));
    if (!index_bytes.ok() || !meta_bytes.ok()) {
      return Status::Corruption(path + ": sections of collection \"" + e.name + "\" missing");
    }
    Result<std::unique_ptr<HnswIndex>> index = HnswIndex::Load(*index_bytes);
    if (!index.ok()) return fail(index.status().WithContext("collection \"" + e.name + "\""));
    const HnswOptions& h = (*index)->options();
    if (h.dim != e.options.dim || h.metric != e.options.metric || h.M != e.options.M ||
        h.ef_construction != e.options.ef_construction || h.seed != e.options.seed) {
      return Status::Corruption(path + ": collection \"" + e.name +
                                "\": index options differ from the catalog");
    }
    // The catalog's options predate quantization; the index snapshot
    // carries it.
    CollectionOptions options = e.options;
    options.quant = h.quant;
    options.quant_train_after = h.quant_train_after;
    auto state = std::make_unique<CollectionState>();
    state->index = std::move(*index);
    auto coll = std::make_unique<CollectionImpl>(this, e.name, options, std::move(state));
    std::string_view in = *meta_bytes;
    uint64_t count = 0;
    if (!util::GetVarint64(&in, &count) || count > in.size() / 9) {
      return Status::Corruption(path + ": collection \"" + e.name + "\": bad metadata count");
    }
    for (uint64_t j = 0; j < count; ++j) {
      uint64_t id = 0;
      Metadata m;
      if (!util::GetFixed64(&in, &id)) {
        return Status::Corruption(path + ": collection \"" + e.name + "\": truncated metadata");
      }
      Status s = ConsumeMetadata(&in, &m);
      if (s.ok()) s = coll->LoadMetadata(id, std::move(m));
      if (!s.ok()) {
        return Status::Corruption(path + ": collection \"" + e.name + "\": " + s.message());
      }
    }
    if (!in.empty()) {
      return Status::Corruption(path + ": collection \"" + e.name + "\": trailing metadata bytes");
    }
    OMENDB_RETURN_IF_ERROR(coll->FinishLoad());
    collections_.push_back(std::move(coll));
  }
  return Status::OK();
}

Status DbImpl::ReplayLog(const std::string& name, bool last) {
  const std::string path = FilePath(name);
  Result<std::unique_ptr<SequentialFile>> opened = env_->NewSequentialFile(path);
  if (!opened.ok() && opened.status().code() == StatusCode::kNotFound) {
    return Status::Corruption(path + ": log named by the manifest is missing");
  }
  OMENDB_RETURN_IF_ERROR(opened.status());
  auto file = std::move(*opened);
  FirstCorruption reporter;
  storage::WalReader reader(file.get(), &reporter, /*verify_checksums=*/true);
  std::string record;
  while (reader.ReadRecord(&record)) {
    Result<LogRecord> r = DecodeLogRecord(record);
    Status s = r.ok() ? ApplyRecord(*r) : r.status();
    if (!s.ok()) {
      return Status::Corruption(path + ": record at offset " +
                                std::to_string(reader.LastRecordOffset()) + ": " + s.message());
    }
  }
  OMENDB_RETURN_IF_ERROR(reader.status());
  if (!reporter.status.ok()) {
    return Status::Corruption(path + ": " + reporter.status.message());
  }
  if (!last) return Status::OK();
  // Continue the last log after its valid part: a torn record left by a
  // crash is cut off first, or it would sit mid-log as corruption.
  const uint64_t end = reader.EndOfLastRecord();
  OMENDB_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(path));
  if (size != end) OMENDB_RETURN_IF_ERROR(env_->TruncateFile(path, end));
  OMENDB_ASSIGN_OR_RETURN(log_file_, env_->NewAppendableFile(path));
  if (size != end) OMENDB_RETURN_IF_ERROR(log_file_->Sync());
  log_ = std::make_unique<storage::WalWriter>(log_file_.get(), end);
  return Status::OK();
}

Status DbImpl::ApplyRecord(const LogRecord& r) {
  if (r.type == RecordType::kCreateCollection) {
    if (Find(r.collection) != nullptr) {
      return Status::Corruption("collection \"" + std::string(r.collection) + "\" created twice");
    }
    if (collections_.size() >= kMaxCollections) return Status::Corruption("too many collections");
    OMENDB_ASSIGN_OR_RETURN(auto coll,
                            CollectionImpl::Create(this, std::string(r.collection), r.options));
    collections_.push_back(std::move(coll));
    return Status::OK();
  }
  CollectionImpl* coll = Find(r.collection);
  if (coll == nullptr) {
    return Status::Corruption("write to unknown collection \"" + std::string(r.collection) + "\"");
  }
  if (r.type == RecordType::kDelete) return coll->ApplyDelete(r.ids);
  if (r.dim != coll->options().dim) return Status::Corruption("dimension differs from collection");
  // The record's floats are unaligned bytes; copy them out.
  std::vector<float> vectors(r.vectors.size() / sizeof(float));
  std::memcpy(vectors.data(), r.vectors.data(), r.vectors.size());
  std::vector<Metadata> meta = r.metadata;
  return coll->ApplyUpsert(r.ids, vectors.data(), meta.empty() ? nullptr : meta.data(),
                           /*parallel=*/false);
}

DbImpl::~DbImpl() { (void)Close(); }

Status DbImpl::CheckOpen() const {
  if (closed_.load(std::memory_order_acquire)) {
    return Status::FailedPrecondition(dir_ + ": the database is closed");
  }
  return Status::OK();
}

Status DbImpl::CheckWritable() const {
  OMENDB_RETURN_IF_ERROR(CheckOpen());
  if (poisoned_.load(std::memory_order_acquire)) {
    std::lock_guard l(mu_);
    return fatal_;
  }
  return Status::OK();
}

void DbImpl::SetFatal(const Status& s) const {
  std::lock_guard l(mu_);
  if (fatal_.ok()) {
    fatal_ = Status(s.code(), "writes stopped after an earlier failure (reopen the database): " +
                                  s.message());
    const_cast<std::atomic<bool>&>(poisoned_).store(true, std::memory_order_release);
  }
}

Status DbImpl::Enqueue(Writer* w) const {
  std::unique_lock l(mu_);
  writers_.push_back(w);
  while (!w->done && w != writers_.front()) w->cv.wait(l);
  if (w->done) return w->status;

  // This writer leads: take it and, unless it must run alone, the writes
  // queued behind it that may share its log sync.
  std::vector<Writer*> group{w};
  if (!w->exclusive && !w->alone) {
    size_t bytes = w->record.size();
    for (size_t i = 1; i < writers_.size(); ++i) {
      Writer* x = writers_[i];
      if (x->exclusive || x->alone || bytes + x->record.size() > kMaxGroupBytes) break;
      bytes += x->record.size();
      group.push_back(x);
    }
  }
  Status status = closed_.load(std::memory_order_acquire)
                      ? Status::FailedPrecondition(dir_ + ": the database is closed")
                      : Status::OK();
  if (status.ok() && !w->exclusive) status = fatal_;
  l.unlock();

  std::vector<Status> results(group.size());
  if (!status.ok()) {
    for (auto& r : results) r = status;
  } else if (w->exclusive) {
    results[0] = (*w->apply)();
  } else {
    auto* self = const_cast<DbImpl*>(this);
    Status logged;
    bool sync = false;
    for (Writer* x : group) {
      sync = sync || x->sync;
      logged = self->log_->AddRecord(x->record);
      if (!logged.ok()) break;
    }
    if (logged.ok() && sync) logged = self->log_->Sync();
    self->log_bytes_.store(self->log_->offset(), std::memory_order_relaxed);
    if (!logged.ok()) {
      SetFatal(logged);
      for (auto& r : results) r = logged;
    } else {
      for (size_t i = 0; i < group.size(); ++i) {
        results[i] = (*group[i]->apply)();
        // The log holds a write the index does not: stop before they diverge further.
        if (!results[i].ok()) SetFatal(results[i]);
      }
    }
  }

  l.lock();
  for (size_t i = 0; i < group.size(); ++i) {
    writers_.pop_front();
    group[i]->status = results[i];
    group[i]->done = true;
    if (group[i] != w) group[i]->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return w->status;
}

Status DbImpl::Write(std::string_view record, const std::function<Status()>& apply,
                     const WriteOptions& options) {
  const SyncMode mode = options.sync.value_or(options_.sync);
  Writer w;
  w.record = record;
  w.apply = &apply;
  w.sync = mode != SyncMode::kNone;
  w.alone = mode == SyncMode::kEveryWrite;
  return Enqueue(&w);
}

Status DbImpl::RunExclusive(const std::function<Status()>& fn) const {
  Writer w;
  w.apply = &fn;
  w.exclusive = true;
  return Enqueue(&w);
}

CollectionImpl* DbImpl::Find(std::string_view name) const {
  for (const auto& c : collections_) {
    if (c->name() == name) return c.get();
  }
  return nullptr;
}

Result<Collection*> DbImpl::CreateCollection(std::string_view name,
                                             const CollectionOptions& options) {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  OMENDB_RETURN_IF_ERROR(ValidateCollectionName(name));
  OMENDB_RETURN_IF_ERROR(ValidateCollectionOptions(options));
  std::lock_guard create(create_mu_);
  {
    std::shared_lock l(collections_mu_);
    if (Find(name) != nullptr) {
      return Status::AlreadyExists("collection \"" + std::string(name) + "\" already exists");
    }
    if (collections_.size() >= kMaxCollections) {
      return Status::ResourceExhausted("too many collections");
    }
  }
  OMENDB_ASSIGN_OR_RETURN(auto coll, CollectionImpl::Create(this, std::string(name), options));
  CollectionImpl* raw = coll.get();
  const std::string record = EncodeCreateCollection(name, options);
  OMENDB_RETURN_IF_ERROR(Write(record, [&] {
    std::unique_lock l(collections_mu_);
    collections_.push_back(std::move(coll));
    return Status::OK();
  }, WriteOptions{}));
  return static_cast<Collection*>(raw);
}

Result<Collection*> DbImpl::GetCollection(std::string_view name) const {
  OMENDB_RETURN_IF_ERROR(CheckOpen());
  std::shared_lock l(collections_mu_);
  CollectionImpl* c = Find(name);
  if (c == nullptr) return Status::NotFound("no collection \"" + std::string(name) + "\"");
  return static_cast<Collection*>(c);
}

std::vector<std::string> DbImpl::ListCollections() const {
  std::shared_lock l(collections_mu_);
  std::vector<std::string> names;
  for (const auto& c : collections_) names.push_back(c->name());
  return names;
}

Status DbImpl::Flush() {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  return RunExclusive([this] {
    OMENDB_RETURN_IF_ERROR(CheckWritable());
    Status s = log_->Sync();
    if (!s.ok()) SetFatal(s);
    return s;
  });
}

void DbImpl::MaybeCheckpoint() {
  if (options_.checkpoint_log_bytes == 0 ||
      log_bytes_.load(std::memory_order_relaxed) < options_.checkpoint_log_bytes) {
    return;
  }
  // The write that triggered this already succeeded; a failed checkpoint
  // leaves the log in charge (or poisons writes, see DoCheckpoint).
  (void)RunExclusive([this] {
    if (log_bytes_.load(std::memory_order_relaxed) < options_.checkpoint_log_bytes) {
      return Status::OK();  // another writer checkpointed first
    }
    return DoCheckpoint(false, {});
  });
}

Status DbImpl::Checkpoint() {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  return RunExclusive([this] { return DoCheckpoint(false, {}); });
}

Status DbImpl::Compact(std::string_view name) {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  if (!name.empty()) OMENDB_RETURN_IF_ERROR(GetCollection(name).status());
  return RunExclusive([this, name] { return DoCheckpoint(true, name); });
}

Status DbImpl::DoCheckpoint(bool compact_all, std::string_view only) {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  std::vector<CollectionImpl*> colls;
  {
    std::shared_lock l(collections_mu_);
    for (const auto& c : collections_) colls.push_back(c.get());
  }
  // Compaction: rebuilds in memory; the log still describes the same
  // contents, so a failure here loses nothing.
  for (CollectionImpl* c : colls) {
    const bool chosen = compact_all && (only.empty() || c->name() == only);
    if (chosen || c->DeletedFraction() >= options_.compaction_threshold) {
      if (c->DeletedFraction() > 0 || chosen) {
        OMENDB_RETURN_IF_ERROR(c->Compact(threads_));
        compactions_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      // The audit of changes since the last one, so the checkpoint holds an
      // audited graph and the change count restarts at zero, as it does
      // when the checkpoint is opened (replay then audits at the same points).
      c->AuditPending();
    }
  }

  const std::string seg_name = NewFileName("seg");
  const std::string log_name = NewFileName("wal");
  {
    storage::SegmentWriter w(env_, FilePath(seg_name));
    std::vector<CatalogEntry> catalog;
    for (CollectionImpl* c : colls) catalog.push_back({c->name(), c->options()});
    OMENDB_RETURN_IF_ERROR(w.AddSection(kCatalogTag, EncodeCatalog(catalog)));
    for (size_t i = 0; i < colls.size(); ++i) {
      OMENDB_RETURN_IF_ERROR(w.BeginSection(IndexTag(i)));
      OMENDB_RETURN_IF_ERROR(colls[i]->SaveIndex([&](std::string_view chunk) {
        return w.Append(chunk);
      }));
      OMENDB_RETURN_IF_ERROR(w.EndSection());
      OMENDB_RETURN_IF_ERROR(w.AddSection(MetadataTag(i), colls[i]->EncodeMetadataSection()));
    }
    OMENDB_RETURN_IF_ERROR(w.Finish());
    checkpoint_bytes_.store(w.bytes_written(), std::memory_order_relaxed);
  }
  auto drop_new_files = [&] {
    (void)env_->RemoveFile(FilePath(seg_name));
    (void)env_->RemoveFile(FilePath(log_name));
  };
  Result<std::unique_ptr<WritableFile>> new_log = env_->NewWritableFile(FilePath(log_name));
  Status s = new_log.status();
  if (s.ok()) s = (*new_log)->Sync();
  if (s.ok()) s = env_->SyncDir(dir_);
  if (!s.ok()) {
    drop_new_files();
    return s;
  }
  storage::Manifest m;
  m.sequence = manifest_.sequence + 1;
  m.segment_files = {seg_name};
  m.wal_files = {log_name};
  s = storage::InstallManifest(env_, dir_, m);
  if (!s.ok()) {
    // CURRENT may name either manifest now; writing on to the old log could
    // lose acknowledged writes if the new one is live, so writes stop.
    SetFatal(s);
    return s;
  }
  (void)log_file_->Close();
  log_file_ = std::move(*new_log);
  log_ = std::make_unique<storage::WalWriter>(log_file_.get(), 0);
  manifest_ = std::move(m);
  manifest_sequence_.store(manifest_.sequence, std::memory_order_relaxed);
  log_bytes_.store(0, std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  if (auto obsolete = storage::ListObsoleteFiles(env_, dir_, manifest_); obsolete.ok()) {
    for (const auto& name : *obsolete) (void)env_->RemoveFile(FilePath(name));
    (void)env_->SyncDir(dir_);
  }
  for (CollectionImpl* c : colls) c->ReleaseRetired();
  return Status::OK();
}

Result<VerifyReport> DbImpl::Verify() {
  OMENDB_RETURN_IF_ERROR(CheckOpen());
  VerifyReport report;
  Status s = RunExclusive([&] {
    for (const auto& name : manifest_.segment_files) {
      const std::string path = FilePath(name);
      auto reader = storage::SegmentReader::Open(env_, path);
      ++report.files_checked;
      if (!reader.ok()) {
        report.problems.push_back(reader.status().ToString());
        continue;
      }
      report.bytes_checked += (*reader)->file_size();
    }
    for (const auto& name : manifest_.wal_files) {
      const std::string path = FilePath(name);
      auto file = env_->NewSequentialFile(path);
      ++report.files_checked;
      if (!file.ok()) {
        report.problems.push_back(file.status().ToString());
        continue;
      }
      FirstCorruption reporter;
      storage::WalReader reader(file->get(), &reporter, true);
      std::string record;
      uint64_t records = 0;
      while (reader.ReadRecord(&record)) {
        ++records;
        if (auto r = DecodeLogRecord(record); !r.ok()) {
          report.problems.push_back(path + ": record " + std::to_string(records) + ": " +
                                    r.status().message());
        }
      }
      if (!reader.status().ok()) report.problems.push_back(reader.status().ToString());
      if (!reporter.status.ok()) {
        report.problems.push_back(path + ": " + reporter.status.message());
      }
      report.bytes_checked += reader.EndOfLastRecord();
    }
    std::shared_lock l(collections_mu_);
    for (const auto& c : collections_) {
      c->AuditPending();
      GraphReport g = c->CheckGraph();
      if (!g.ok()) {
        report.problems.push_back(
            "collection \"" + c->name() + "\": graph audit: " +
            std::to_string(g.nodes - std::min(g.nodes, g.reachable)) + " unreachable of " +
            std::to_string(g.nodes) + ", " + std::to_string(g.degree_violations) +
            " degree violations, " + std::to_string(g.self_loops) + " self loops, " +
            std::to_string(g.duplicate_edges) + " duplicate edges, " +
            std::to_string(g.invalid_edges) + " invalid edges");
      }
      report.graphs.emplace_back(c->name(), g);
    }
    return Status::OK();
  });
  OMENDB_RETURN_IF_ERROR(s);
  return report;
}

Result<GraphReport> DbImpl::CheckGraph(std::string_view name) const {
  OMENDB_ASSIGN_OR_RETURN(Collection * c, GetCollection(name));
  GraphReport report;
  OMENDB_RETURN_IF_ERROR(RunExclusive([&] {
    report = static_cast<CollectionImpl*>(c)->CheckGraph();
    return Status::OK();
  }));
  return report;
}

Result<size_t> DbImpl::RepairGraphs() {
  OMENDB_RETURN_IF_ERROR(CheckWritable());
  size_t repaired = 0;
  OMENDB_RETURN_IF_ERROR(RunExclusive([&] {
    std::shared_lock l(collections_mu_);
    for (const auto& c : collections_) repaired += c->RepairReachability();
    return Status::OK();
  }));
  return repaired;
}

DbStats DbImpl::Stats() const {
  DbStats s;
  {
    std::shared_lock l(collections_mu_);
    for (const auto& c : collections_) s.collections.push_back(c->Stats());
  }
  s.log_bytes = log_bytes_.load(std::memory_order_relaxed);
  s.checkpoint_bytes = checkpoint_bytes_.load(std::memory_order_relaxed);
  s.manifest_sequence = manifest_sequence_.load(std::memory_order_relaxed);
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.compactions = compactions_.load(std::memory_order_relaxed);
  return s;
}

Status DbImpl::Close() {
  if (closed_.load(std::memory_order_acquire)) return Status::OK();
  Status result;
  Status s = RunExclusive([&] {
    if (closed_.load(std::memory_order_acquire)) return Status::OK();
    closed_.store(true, std::memory_order_release);
    if (log_ != nullptr && !poisoned_.load(std::memory_order_acquire)) result = log_->Sync();
    if (log_file_ != nullptr) {
      Status c = log_file_->Close();
      if (result.ok() && !poisoned_.load(std::memory_order_acquire)) result = c;
    }
    return Status::OK();
  });
  if (s.ok() && lock_ != nullptr) {
    Status u = env_->UnlockFile(std::move(lock_));
    if (result.ok()) result = u;
  }
  return s.ok() ? result : s;
}

}  // namespace db
}  // namespace omendb
