#include "testutil/fault_env.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "util/path.h"

namespace omendb::testutil {

namespace {

std::string NormalizeDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

Status DeadFile(const std::string& path) {
  return Status::IOError(path + ": file lost in simulated power loss");
}

}  // namespace

// Forwards to a base file, reporting each Append and Sync to the env so it can
// inject faults and track the unsynced range.
class FaultInjectionEnv::FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::string path, uint64_t epoch,
                    std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), epoch_(epoch), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    return env_->FileAppend(path_, epoch_, base_.get(), data);
  }
  Status Flush() override {
    if (!env_->Alive(epoch_)) return DeadFile(path_);
    return base_->Flush();
  }
  Status Sync() override { return env_->FileSync(path_, epoch_, base_.get()); }
  Status Close() override {
    // The base is closed even when dead: it holds no buffered data (every
    // Append is flushed), so closing cannot write anything.
    Status s = base_->Close();
    if (!env_->Alive(epoch_)) return DeadFile(path_);
    return s;
  }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  const uint64_t epoch_;
  std::unique_ptr<WritableFile> base_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::InjectFault(FaultOp op, uint64_t nth, FaultError error, bool persistent) {
  std::lock_guard<std::mutex> lock(mu_);
  Fault& f = faults_[static_cast<int>(op)];
  f.armed = true;
  f.remaining = nth == 0 ? 0 : nth - 1;
  f.error = error;
  f.persistent = persistent;
}

void FaultInjectionEnv::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Fault& f : faults_) f = Fault{};
}

uint64_t FaultInjectionEnv::faults_fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_fired_;
}

uint64_t FaultInjectionEnv::OpCount(FaultOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  int i = static_cast<int>(op);
  return i >= 0 && i < kNumFaultOps ? counts_[i] : 0;
}

void FaultInjectionEnv::ResetCounters() {
  std::lock_guard<std::mutex> lock(mu_);
  std::fill(std::begin(counts_), std::end(counts_), 0);
}

uint64_t FaultInjectionEnv::UnsyncedBytes(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return 0;
  return it->second.size - std::min(it->second.size, it->second.synced_size);
}

Status FaultInjectionEnv::Check(FaultOp op, const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckLocked(op, what);
}

Status FaultInjectionEnv::CheckLocked(FaultOp op, const std::string& what) {
  counts_[static_cast<int>(op)]++;
  // Both the kind's own fault and the kAny fault see every operation, so each
  // counts down independently.
  bool fire = false;
  FaultError error = FaultError::kIO;
  for (Fault* f : {&faults_[static_cast<int>(op)], &faults_[kNumFaultOps]}) {
    if (!f->armed) continue;
    if (f->remaining > 0) {
      f->remaining--;
      continue;
    }
    fire = true;
    error = f->error;
    if (!f->persistent) f->armed = false;
  }
  if (!fire) return Status::OK();
  faults_fired_++;
  return ErrnoToStatus(what + ": injected fault", error == FaultError::kNoSpace ? ENOSPC : EIO);
}

bool FaultInjectionEnv::Alive(uint64_t epoch) const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch == epoch_;
}

Status FaultInjectionEnv::FileAppend(const std::string& path, uint64_t epoch, WritableFile* base,
                                     std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch != epoch_) return DeadFile(path);
    OMENDB_RETURN_IF_ERROR(CheckLocked(FaultOp::kWrite, path));
  }
  // Flushed at once so nothing lingers in the base's buffer (see the header).
  OMENDB_RETURN_IF_ERROR(base->Append(data));
  OMENDB_RETURN_IF_ERROR(base->Flush());
  std::lock_guard<std::mutex> lock(mu_);
  files_[path].size += data.size();
  return Status::OK();
}

Status FaultInjectionEnv::FileSync(const std::string& path, uint64_t epoch, WritableFile* base) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch != epoch_) return DeadFile(path);
    OMENDB_RETURN_IF_ERROR(CheckLocked(FaultOp::kSync, path));
  }
  OMENDB_RETURN_IF_ERROR(base->Sync());
  std::lock_guard<std::mutex> lock(mu_);
  FileState& st = files_[path];
  st.synced_size = st.size;
  return Status::OK();
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::OpenWritable(const std::string& path,
                                                                      bool truncate) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kCreate, path));
  Result<bool> existed = base_->FileExists(path);
  if (!existed.ok()) return existed.status();
  Result<std::unique_ptr<WritableFile>> file =
      truncate ? base_->NewWritableFile(path) : base_->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  uint64_t size = 0;
  if (!truncate && *existed) {
    Result<uint64_t> s = base_->GetFileSize(path);
    if (!s.ok()) return s.status();
    size = *s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    // Data that existed before we saw the file is taken to be durable.
    FileState st;
    st.size = size;
    st.synced_size = size;
    st.new_unsynced_dir = !*existed;
    files_[path] = st;
  } else {
    it->second.size = size;
    it->second.synced_size = std::min(it->second.synced_size, size);
    if (!*existed) it->second.new_unsynced_dir = true;
  }
  return std::unique_ptr<WritableFile>(
      new FaultWritableFile(this, path, epoch_, std::move(file).value()));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  return OpenWritable(path, /*truncate=*/true);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewAppendableFile(
    const std::string& path) {
  return OpenWritable(path, /*truncate=*/false);
}

Result<std::unique_ptr<SequentialFile>> FaultInjectionEnv::NewSequentialFile(
    const std::string& path) {
  return base_->NewSequentialFile(path);
}

Result<std::unique_ptr<RandomAccessFile>> FaultInjectionEnv::NewRandomAccessFile(
    const std::string& path) {
  return base_->NewRandomAccessFile(path);
}

Result<std::unique_ptr<MmapRegion>> FaultInjectionEnv::NewMmapRegion(const std::string& path) {
  return base_->NewMmapRegion(path);
}

Result<bool> FaultInjectionEnv::FileExists(const std::string& path) {
  return base_->FileExists(path);
}

Result<uint64_t> FaultInjectionEnv::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

Result<std::vector<std::string>> FaultInjectionEnv::GetChildren(const std::string& dir) {
  return base_->GetChildren(dir);
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kRemove, path));
  OMENDB_RETURN_IF_ERROR(base_->RemoveFile(path));
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kRename, from));
  OMENDB_RETURN_IF_ERROR(base_->RenameFile(from, to));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) {
    files_.erase(to);  // `to` now holds untracked (hence durable) data
  } else {
    FileState st = it->second;
    files_.erase(it);
    files_[to] = st;
  }
  return Status::OK();
}

Status FaultInjectionEnv::CreateDir(const std::string& dir) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kCreate, dir));
  return base_->CreateDir(dir);
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kSyncDir, dir));
  OMENDB_RETURN_IF_ERROR(base_->SyncDir(dir));
  std::string d = NormalizeDir(dir);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [path, st] : files_) {
    if (util::DirName(path) == d) st.new_unsynced_dir = false;
  }
  return Status::OK();
}

Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  OMENDB_RETURN_IF_ERROR(Check(FaultOp::kTruncate, path));
  OMENDB_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it != files_.end()) {
    it->second.size = size;
    it->second.synced_size = std::min(it->second.synced_size, size);
  }
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

Status FaultInjectionEnv::UnlockFile(std::unique_ptr<FileLock> lock) {
  return base_->UnlockFile(std::move(lock));
}

uint64_t FaultInjectionEnv::NowMicros() { return base_->NowMicros(); }

Status FaultInjectionEnv::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  epoch_++;
  Status first;
  for (auto it = files_.begin(); it != files_.end();) {
    FileState& st = it->second;
    Status s;
    if (st.new_unsynced_dir) {
      // The directory entry never reached the disk: the file is gone.
      s = base_->RemoveFile(it->first);
      if (s.IsNotFound()) s = Status::OK();
      if (first.ok() && !s.ok()) first = s;
      it = files_.erase(it);
      continue;
    }
    if (st.size > st.synced_size) s = base_->TruncateFile(it->first, st.synced_size);
    if (first.ok() && !s.ok()) first = s;
    st.size = st.synced_size;
    ++it;
  }
  return first;
}

}  // namespace omendb::testutil
