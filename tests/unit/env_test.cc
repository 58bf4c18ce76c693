#include "omendb/env.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace omendb {
namespace {

using testutil::TempDir;

Status WriteFile(Env* env, const std::string& path, std::string_view data) {
  auto f = env->NewWritableFile(path);
  if (!f.ok()) return f.status();
  OMENDB_RETURN_IF_ERROR((*f)->Append(data));
  OMENDB_RETURN_IF_ERROR((*f)->Sync());
  return (*f)->Close();
}

std::string ReadAll(Env* env, const std::string& path) {
  auto f = env->NewSequentialFile(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return "";
  std::string out;
  std::vector<char> scratch(1000);
  for (;;) {
    auto r = (*f)->Read(scratch.size(), scratch.data());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->empty()) break;
    out.append(*r);
  }
  return out;
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

TEST(EnvTest, DefaultIsSingleton) {
  EXPECT_NE(Env::Default(), nullptr);
  EXPECT_EQ(Env::Default(), Env::Default());
}

TEST(EnvTest, WriteThenReadSequentially) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("f");
  // Mixed sizes: small appends are buffered, one larger than the buffer is not.
  std::string expect;
  {
    auto f = env->NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    for (size_t n : {0u, 1u, 10u, 1000u, 200000u, 3u}) {
      std::string piece = Pattern(n);
      ASSERT_TRUE((*f)->Append(piece).ok());
      expect += piece;
    }
    ASSERT_TRUE((*f)->Flush().ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Close().ok());
    EXPECT_TRUE((*f)->Close().ok());  // a second Close is harmless
    EXPECT_EQ((*f)->Append("x").code(), StatusCode::kFailedPrecondition);
  }
  auto size = env->GetFileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, expect.size());
  EXPECT_EQ(ReadAll(env, path), expect);

  auto seq = env->NewSequentialFile(path);
  ASSERT_TRUE(seq.ok());
  char scratch[16];
  ASSERT_TRUE((*seq)->Skip(100).ok());
  auto r = (*seq)->Read(10, scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, expect.substr(100, 10));
  ASSERT_TRUE((*seq)->Skip(uint64_t{1} << 40).ok());  // past the end is fine
  r = (*seq)->Read(10, scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(EnvTest, DestructorFlushes) {
  TempDir dir;
  Env* env = Env::Default();
  {
    auto f = env->NewWritableFile(dir.File("f"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("buffered").ok());
  }
  EXPECT_EQ(ReadAll(env, dir.File("f")), "buffered");
}

TEST(EnvTest, WritableTruncatesAppendableAppends) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("f");
  ASSERT_TRUE(WriteFile(env, path, "hello world").ok());
  ASSERT_TRUE(WriteFile(env, path, "bye").ok());
  EXPECT_EQ(ReadAll(env, path), "bye");
  {
    auto f = env->NewAppendableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(" now").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  EXPECT_EQ(ReadAll(env, path), "bye now");
  {
    auto f = env->NewAppendableFile(dir.File("new"));  // created when missing
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("x").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  EXPECT_EQ(ReadAll(env, dir.File("new")), "x");
}

TEST(EnvTest, RandomAccessRead) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string data = Pattern(5000);
  ASSERT_TRUE(WriteFile(env, dir.File("f"), data).ok());
  auto f = env->NewRandomAccessFile(dir.File("f"));
  ASSERT_TRUE(f.ok());
  char scratch[100];
  auto r = (*f)->Read(1234, 100, scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data.substr(1234, 100));
  r = (*f)->Read(4950, 100, scratch);  // short at end of file
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data.substr(4950));
  r = (*f)->Read(5000, 100, scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = (*f)->Read(uint64_t{1} << 62, 100, scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(EnvTest, MmapRegion) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string data = Pattern(10000);
  ASSERT_TRUE(WriteFile(env, dir.File("f"), data).ok());
  auto m = env->NewMmapRegion(dir.File("f"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ((*m)->size(), data.size());
  EXPECT_EQ(std::string_view((*m)->data(), (*m)->size()), data);
  // The mapping outlives the name.
  ASSERT_TRUE(env->RemoveFile(dir.File("f")).ok());
  EXPECT_EQ(std::string_view((*m)->data(), (*m)->size()), data);

  ASSERT_TRUE(WriteFile(env, dir.File("empty"), "").ok());
  auto e = env->NewMmapRegion(dir.File("empty"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->size(), 0u);
  EXPECT_EQ((*e)->data(), nullptr);

  EXPECT_TRUE(env->NewMmapRegion(dir.File("missing")).status().IsNotFound());
  EXPECT_TRUE(env->NewMmapRegion(dir.path()).status().IsIOError());  // a directory
}

TEST(EnvTest, DirectoryOperations) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string sub = dir.File("sub");
  ASSERT_TRUE(env->CreateDir(sub).ok());
  EXPECT_TRUE(env->CreateDir(sub).ok());  // idempotent
  ASSERT_TRUE(WriteFile(env, sub + "/a", "1").ok());
  ASSERT_TRUE(WriteFile(env, sub + "/b", "22").ok());
  EXPECT_EQ(env->CreateDir(sub + "/a").code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(env->CreateDir(dir.File("x/y")).IsNotFound());
  ASSERT_TRUE(env->SyncDir(sub).ok());

  auto kids = env->GetChildren(sub);
  ASSERT_TRUE(kids.ok());
  std::sort(kids->begin(), kids->end());
  EXPECT_EQ(*kids, (std::vector<std::string>{"a", "b"}));

  EXPECT_TRUE(*env->FileExists(sub + "/a"));
  EXPECT_TRUE(*env->FileExists(sub));
  EXPECT_FALSE(*env->FileExists(sub + "/zz"));
  EXPECT_FALSE(*env->FileExists(sub + "/a/under-a-file"));

  ASSERT_TRUE(env->RenameFile(sub + "/b", sub + "/a").ok());  // replaces
  EXPECT_EQ(ReadAll(env, sub + "/a"), "22");
  EXPECT_FALSE(*env->FileExists(sub + "/b"));

  ASSERT_TRUE(env->TruncateFile(sub + "/a", 1).ok());
  EXPECT_EQ(ReadAll(env, sub + "/a"), "2");
  ASSERT_TRUE(env->TruncateFile(sub + "/a", 3).ok());  // extends with zeros
  EXPECT_EQ(ReadAll(env, sub + "/a"), std::string("2\0\0", 3));

  ASSERT_TRUE(env->RemoveFile(sub + "/a").ok());
  kids = env->GetChildren(sub);
  ASSERT_TRUE(kids.ok());
  EXPECT_TRUE(kids->empty());
}

TEST(EnvTest, MissingFilesAreNotFound) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string missing = dir.File("missing");
  for (const Status& s :
       {env->NewSequentialFile(missing).status(), env->NewRandomAccessFile(missing).status(),
        env->NewWritableFile(dir.File("nodir/f")).status(),
        env->NewAppendableFile(dir.File("nodir/f")).status(), env->GetFileSize(missing).status(),
        env->GetChildren(missing).status(), env->RemoveFile(missing),
        env->RenameFile(missing, dir.File("to")), env->SyncDir(missing),
        env->TruncateFile(missing, 0)}) {
    EXPECT_TRUE(s.IsNotFound()) << s.ToString();
    // The message names the path and the OS reason.
    EXPECT_NE(s.message().find(dir.path()), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(std::strerror(ENOENT)), std::string::npos) << s.ToString();
  }
}

TEST(EnvTest, ErrnoMapping) {
  Status s = ErrnoToStatus("/db/x", ENOENT);
  EXPECT_TRUE(s.IsNotFound());
  for (int err : {ENOSPC, EDQUOT}) {
    s = ErrnoToStatus("/db/x: write", err);
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
    EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("/db/x: write"), std::string::npos) << s.ToString();
  }
  s = ErrnoToStatus("/db/x", EACCES);
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.message(), std::string("/db/x: ") + std::strerror(EACCES));
  s = ErrnoToStatus("/db/x", 0);
  EXPECT_TRUE(s.IsIOError());
}

TEST(EnvTest, OsErrorsAreIOError) {
  TempDir dir;
  Env* env = Env::Default();
  // Opening a directory for writing fails with EISDIR.
  Status s = env->NewWritableFile(dir.path()).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find(std::strerror(EISDIR)), std::string::npos) << s.ToString();
  // Reading a directory fails at read(2).
  auto seq = env->NewSequentialFile(dir.path());
  ASSERT_TRUE(seq.ok());
  char scratch[8];
  EXPECT_TRUE((*seq)->Read(sizeof scratch, scratch).status().IsIOError());
  // A file used as a directory.
  ASSERT_TRUE(WriteFile(env, dir.File("f"), "x").ok());
  EXPECT_TRUE(env->GetChildren(dir.File("f")).status().IsIOError());
  EXPECT_TRUE(env->RemoveFile(dir.path()).IsIOError());  // unlink of a directory
}

TEST(EnvTest, DiskFullIsResourceExhausted) {
  // /dev/full fails every write with ENOSPC.
  Env* env = Env::Default();
  if (!*env->FileExists("/dev/full")) GTEST_SKIP() << "/dev/full is not available";
  auto f = env->NewAppendableFile("/dev/full");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append("data").ok());  // buffered
  Status s = (*f)->Flush();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("disk full"), std::string::npos);
  EXPECT_NE(s.message().find("/dev/full"), std::string::npos);
}

TEST(EnvTest, PermissionDeniedIsIOError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses file permissions";
  TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(WriteFile(env, dir.File("ro"), "x").ok());
  ASSERT_EQ(::chmod(dir.File("ro").c_str(), 0400), 0);
  Status s = env->NewWritableFile(dir.File("ro")).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find(std::strerror(EACCES)), std::string::npos) << s.ToString();
}

TEST(EnvTest, LockIsExclusiveWithinProcess) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("LOCK");
  auto lock = env->LockFile(path);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  auto again = env->LockFile(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kBusy);
  EXPECT_NE(again.status().message().find(path), std::string::npos);
  ASSERT_TRUE(env->UnlockFile(std::move(lock).value()).ok());
  auto relock = env->LockFile(path);
  ASSERT_TRUE(relock.ok()) << relock.status().ToString();
  relock->reset();  // destruction releases too
  auto third = env->LockFile(path);
  EXPECT_TRUE(third.ok());
  EXPECT_EQ(env->UnlockFile(nullptr).code(), StatusCode::kInvalidArgument);
}

// Runs LockFile(path) in a forked child; returns what it got: 0 = locked,
// 1 = Busy, 2 = another error, -1 = the child could not be run.
int LockInChild(const std::string& path) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Only async-signal-safe-ish work before _exit: no gtest, no exit handlers.
    auto r = Env::Default()->LockFile(path);
    int code = r.ok() ? 0 : r.status().code() == StatusCode::kBusy ? 1 : 2;
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(EnvTest, LockIsExclusiveAcrossProcesses) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("LOCK");
  auto lock = env->LockFile(path);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(LockInChild(path), 1);  // Busy while the parent holds it
  ASSERT_TRUE(env->UnlockFile(std::move(lock).value()).ok());
  EXPECT_EQ(LockInChild(path), 0);  // free once released
}

TEST(EnvTest, NowMicrosAdvances) {
  Env* env = Env::Default();
  uint64_t a = env->NowMicros();
  EXPECT_GT(a, uint64_t{1500000000} * 1000000);  // after 2017: wall clock, in microseconds
  ::usleep(2000);
  EXPECT_GT(env->NowMicros(), a);
}

}  // namespace
}  // namespace omendb
