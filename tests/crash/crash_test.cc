// Crash test: kill a writing process at random moments and check that no
// acknowledged write is ever lost.
//
// The parent process repeatedly starts a child writer (this same program,
// re-executed with --child) on one database directory. The child opens the
// database with durable writes (SyncMode::kEveryWrite with one or two writer
// threads, or kGroupCommit with two), then loops: random upserts of small
// batches (ids from a small range, so replacements are common; metadata on
// most rows), deletes, and now and then a Checkpoint() or Compact(). Before a
// write it sends the parent an "intent" record (operation, ids, the seeds its
// vectors and metadata are derived from, db_oracle.h); after the write returns
// OK it sends an "ack" record, and only then starts the next write. So the
// parent knows every acknowledged write and, per thread, at most one write in
// flight.
//
// The parent SIGKILLs the child after a random delay (sometimes before the
// database has even finished opening), then opens the database itself and
// checks, for every id, that the stored vector and metadata are those of the
// latest acknowledged write, or that the id is absent if that write was a
// delete. An in-flight batch may be applied or not, but as a whole (batches
// are all-or-nothing). Open must always succeed. Search results are checked
// (only stored ids, true distances, min(k, n) hits, filters respected), the
// database is closed and opened again, and the same queries must return
// identical results. The next child then continues on the same directory.
//
// Writer threads use disjoint ids (id % threads == thread), so the order of
// acknowledged writes on one id is the order the parent receives them.
//
// Usage: omendb_crash_test [--kills N] [--seed S] [--dir DIR] [--max-delay-ms M] [--quant Q]
//   --kills defaults to $OMENDB_CRASH_KILLS, else 200. --dir is the parent
//   directory for the database (default /dev/shm when present, else $TMPDIR
//   or /tmp): a process kill keeps everything written to the OS, so the disk
//   does not matter for what is tested, and tmpfs makes syncs cheap, so more
//   writes fit between kills. A soak on a real disk: --dir /var/tmp.
//   --quant gives the collection a quantization (none, fp16, sq8, rabitq:B):
//   the same checks then cover a collection whose walk runs on codes.
// Exit status 0 when every kill verified, 1 on a failed check (the database
// directory is kept and named), 2 on a usage error.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crash/db_oracle.h"
#include "omendb/db.h"

namespace omendb::robustness {
namespace {

constexpr uint32_t kDim = 8;
constexpr const char* kCollection = "crash";
// Ids are drawn from [0, kIdRange): small enough that most upserts replace an
// existing id and deletes usually hit something.
constexpr VectorId kIdRange = 48;
constexpr size_t kMaxBatch = 4;
constexpr int kChildFd = 3;  // the pipe's write end in the child

// ---------------------------------------------------------------------------
// The pipe protocol: fixed-size records, each written with one write() call
// no larger than PIPE_BUF, so the kernel never interleaves the records of two
// writer threads. A kill can leave at most a partial final record, which the
// parent discards.

enum class Msg : uint8_t { kOpened = 1, kIntent = 2, kAck = 3, kError = 4 };
enum class Op : uint8_t { kCreate = 1, kUpsert = 2, kDelete = 3, kCheckpoint = 4, kCompact = 5 };

struct Wire {
  uint32_t magic = 0x43524153;  // "CRAS"
  Msg msg = Msg::kOpened;
  Op op = Op::kCreate;
  uint8_t thread = 0;
  uint8_t n = 0;  // ids used
  uint64_t seq = 0;  // per child, shared by an intent and its ack
  uint64_t ids[kMaxBatch] = {};
  uint64_t seeds[kMaxBatch] = {};  // upserts: what the row's vector and metadata come from
  char text[176] = {};             // kError: what failed
};
static_assert(sizeof(Wire) <= 512, "records must stay far below PIPE_BUF");

void SendOrDie(const Wire& w) {
  const char* p = reinterpret_cast<const char*>(&w);
  // One write() of < PIPE_BUF bytes to a pipe is atomic; a short count can
  // only mean the parent is gone.
  ssize_t r;
  do {
    r = ::write(kChildFd, p, sizeof(w));
  } while (r < 0 && errno == EINTR);
  if (r != static_cast<ssize_t>(sizeof(w))) ::_exit(5);
}

[[noreturn]] void ChildFail(const std::string& what) {
  Wire w;
  w.msg = Msg::kError;
  std::snprintf(w.text, sizeof(w.text), "%s", what.c_str());
  SendOrDie(w);
  std::fprintf(stderr, "crash child: %s\n", what.c_str());
  ::_exit(4);
}

struct ChildConfig {
  std::string db_dir;
  uint64_t seed = 0;
  SyncMode sync = SyncMode::kEveryWrite;
  int threads = 1;
  uint64_t checkpoint_log_bytes = 0;
  std::string quant = "none";  // the collection's quantization (--quant)
};

DbOptions ChildOptions(const ChildConfig& c) {
  DbOptions o;
  o.sync = c.sync;
  o.checkpoint_log_bytes = c.checkpoint_log_bytes;
  o.num_threads = 1;
  return o;
}

// One writer thread of the child: writes forever (until killed).
void WriterLoop(DB* db, Collection* coll, const ChildConfig& config, int thread,
                std::atomic<uint64_t>* seq) {
  Rng rng(Mix(config.seed) + static_cast<uint64_t>(thread) * 7919);
  const VectorId per_thread = kIdRange / static_cast<VectorId>(config.threads);
  for (;;) {
    Wire w;
    w.msg = Msg::kIntent;
    w.thread = static_cast<uint8_t>(thread);
    w.seq = seq->fetch_add(1);
    const uint64_t roll = rng.Uniform(1000);
    if (roll < 700) {
      w.op = Op::kUpsert;
    } else if (roll < 975) {
      w.op = Op::kDelete;
    } else if (roll < 993) {
      w.op = Op::kCheckpoint;
    } else {
      w.op = Op::kCompact;
    }
    if (w.op == Op::kUpsert || w.op == Op::kDelete) {
      w.n = static_cast<uint8_t>(1 + rng.Uniform(kMaxBatch));
      for (uint8_t i = 0; i < w.n; ++i) {
        // Distinct ids of this thread's residue class (a batch may not name an
        // id twice).
        VectorId id;
        bool dup;
        do {
          id = rng.Uniform(per_thread) * static_cast<VectorId>(config.threads) +
               static_cast<VectorId>(thread);
          dup = std::find(w.ids, w.ids + i, id) != w.ids + i;
        } while (dup);
        w.ids[i] = id;
        w.seeds[i] = rng.Next();
      }
    }
    SendOrDie(w);

    Status s;
    switch (w.op) {
      case Op::kUpsert: {
        std::vector<float> vectors;
        std::vector<Metadata> metadata;
        for (uint8_t i = 0; i < w.n; ++i) {
          std::vector<float> v = VectorFor(w.seeds[i], kDim);
          vectors.insert(vectors.end(), v.begin(), v.end());
          metadata.push_back(MetadataFor(w.seeds[i]));
        }
        s = coll->Upsert(std::span<const VectorId>(w.ids, w.n), vectors, metadata);
        break;
      }
      case Op::kDelete:
        s = coll->Delete(std::span<const VectorId>(w.ids, w.n));
        break;
      case Op::kCheckpoint:
        s = db->Checkpoint();
        break;
      case Op::kCompact:
        s = db->Compact(kCollection);
        break;
      case Op::kCreate:
        break;
    }
    // On a healthy disk nothing may fail; the parent turns this into a test
    // failure.
    if (!s.ok()) ChildFail("write failed: " + s.ToString());
    w.msg = Msg::kAck;
    SendOrDie(w);
  }
}

int ChildMain(const ChildConfig& config) {
  auto db = DB::Open(config.db_dir, ChildOptions(config));
  if (!db.ok()) ChildFail("open failed: " + db.status().ToString());
  std::atomic<uint64_t> seq{0};
  Result<Collection*> coll = (*db)->GetCollection(kCollection);
  if (!coll.ok()) {
    if (!coll.status().IsNotFound()) ChildFail("GetCollection: " + coll.status().ToString());
    Wire w;
    w.msg = Msg::kIntent;
    w.op = Op::kCreate;
    w.seq = seq.fetch_add(1);
    SendOrDie(w);
    CollectionOptions co;
    co.dim = kDim;
    co.M = 8;
    co.ef_construction = 64;
    auto quant = ParseQuantization(config.quant);
    if (!quant.ok()) ChildFail("bad --quant: " + quant.status().ToString());
    co.quant = *quant;
    co.quant_train_after = 16;  // under kIdRange, so the codec trains early in the run
    coll = (*db)->CreateCollection(kCollection, co);
    if (!coll.ok()) ChildFail("CreateCollection: " + coll.status().ToString());
    w.msg = Msg::kAck;
    SendOrDie(w);
  }
  Wire opened;
  opened.msg = Msg::kOpened;
  SendOrDie(opened);
  std::vector<std::thread> threads;
  for (int t = 1; t < config.threads; ++t) {
    threads.emplace_back(WriterLoop, db->get(), *coll, std::cref(config), t, &seq);
  }
  WriterLoop(db->get(), *coll, config, 0, &seq);  // never returns
  return 0;
}

// ---------------------------------------------------------------------------
// The parent.

struct Stats {
  uint64_t kills = 0;
  uint64_t kills_before_open = 0;  // the child had not reported an open database yet
  uint64_t acked_writes = 0;       // upserts, deletes and creations acknowledged
  uint64_t acked_maintenance = 0;  // checkpoints and compactions acknowledged
  uint64_t ids_verified = 0;       // id states compared after a kill
  uint64_t in_flight_applied = 0;
  uint64_t in_flight_not_applied = 0;
  uint64_t in_flight_indistinct = 0;  // applying it would not change the state
  uint64_t in_flight_maintenance = 0;  // a checkpoint or compaction was running
  uint64_t runs_by_mode[3] = {};
  uint64_t trained_checks = 0;  // reopens that found the codec trained
};

// What the parent knows: the state every acknowledged write leads to, and the
// write each thread may have in flight.
struct Oracle {
  bool created = false;
  CollectionState coll{kDim, {}};
  std::optional<Wire> pending[2];
};

DbState Expected(const Oracle& o) {
  DbState s;
  if (o.created) s[kCollection] = o.coll;
  return s;
}

// The state after applying write `w` to `o`'s collection.
void Apply(const Wire& w, Oracle* o) {
  switch (w.op) {
    case Op::kCreate:
      o->created = true;
      break;
    case Op::kUpsert:
      for (uint8_t i = 0; i < w.n; ++i) o->coll.records[w.ids[i]] = ValueFor(w.seeds[i], kDim);
      break;
    case Op::kDelete:
      for (uint8_t i = 0; i < w.n; ++i) o->coll.records.erase(w.ids[i]);
      break;
    case Op::kCheckpoint:
    case Op::kCompact:
      break;
  }
}

class Parent {
 public:
  Parent(std::string base_dir, uint64_t seed, int max_delay_ms, std::string quant)
      : base_dir_(std::move(base_dir)),
        seed_(seed),
        max_delay_ms_(max_delay_ms),
        quant_(std::move(quant)),
        rng_(seed) {}

  bool Run(uint64_t kills);

 private:
  bool Fail(const std::string& what);
  bool OneKill(uint64_t round);
  bool Spawn(const ChildConfig& config, pid_t* pid, int* read_fd);
  // Reads what the child sent; with `deadline` set, until then, else until
  // end of file. Returns false on a protocol or child error.
  bool Drain(int fd, std::optional<std::chrono::steady_clock::time_point> deadline,
             bool stop_when_opened, bool* eof);
  bool Handle(const Wire& w);
  bool VerifyReopen();
  bool RunQueries(const DB& db, std::vector<std::vector<Neighbor>>* results);

  const std::string base_dir_;
  const uint64_t seed_;
  const int max_delay_ms_;
  const std::string quant_;
  Rng rng_;
  std::string db_dir_;
  Oracle oracle_;
  Stats stats_;
  std::string buffer_;  // bytes of a partial record
  bool child_opened_ = false;
  uint64_t round_ = 0;
};

bool Parent::Fail(const std::string& what) {
  std::fprintf(stderr,
               "omendb_crash_test: FAILED at kill %llu (seed %llu): %s\n"
               "  database kept in %s\n",
               static_cast<unsigned long long>(round_), static_cast<unsigned long long>(seed_),
               what.c_str(), db_dir_.c_str());
  return false;
}

bool Parent::Spawn(const ChildConfig& c, pid_t* pid, int* read_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Fail(std::string("pipe2: ") + std::strerror(errno));
  // The arguments are built before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args = {
      "omendb_crash_test", "--child",
      c.db_dir,
      std::to_string(c.seed),
      std::to_string(static_cast<int>(c.sync)),
      std::to_string(c.threads),
      std::to_string(c.checkpoint_log_bytes),
      c.quant};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t p = ::fork();
  if (p < 0) return Fail(std::string("fork: ") + std::strerror(errno));
  if (p == 0) {
    // dup2 clears close-on-exec on the copy, so only the write end survives.
    if (::dup2(fds[1], kChildFd) < 0) ::_exit(6);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(7);
  }
  ::close(fds[1]);
  *pid = p;
  *read_fd = fds[0];
  return true;
}

bool Parent::Handle(const Wire& w) {
  if (w.magic != Wire{}.magic) return Fail("garbled pipe record");
  switch (w.msg) {
    case Msg::kOpened:
      child_opened_ = true;
      return true;
    case Msg::kError:
      return Fail(std::string("child reported: ") + std::string(w.text, strnlen(w.text, sizeof(w.text))));
    case Msg::kIntent:
      if (w.thread > 1) return Fail("bad thread number");
      if (oracle_.pending[w.thread]) return Fail("intent while a write is still in flight");
      oracle_.pending[w.thread] = w;
      return true;
    case Msg::kAck: {
      std::optional<Wire>& p = oracle_.pending[w.thread < 2 ? w.thread : 0];
      if (w.thread > 1 || !p || p->seq != w.seq) return Fail("ack without a matching intent");
      Apply(*p, &oracle_);
      if (p->op == Op::kCheckpoint || p->op == Op::kCompact) {
        ++stats_.acked_maintenance;
      } else {
        ++stats_.acked_writes;
      }
      p.reset();
      return true;
    }
  }
  return Fail("unknown pipe record");
}

bool Parent::Drain(int fd, std::optional<std::chrono::steady_clock::time_point> deadline,
                   bool stop_when_opened, bool* eof) {
  *eof = false;
  char chunk[8192];
  for (;;) {
    if (stop_when_opened && child_opened_) return true;
    int timeout_ms = -1;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      timeout_ms = static_cast<int>(left.count());
    }
    pollfd pfd{fd, POLLIN, 0};
    const int pr = ::poll(&pfd, 1, timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) return Fail(std::string("poll: ") + std::strerror(errno));
    if (pr == 0) return true;  // deadline reached
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(std::string("read: ") + std::strerror(errno));
    if (n == 0) {
      *eof = true;
      return true;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    size_t used = 0;
    while (buffer_.size() - used >= sizeof(Wire)) {
      Wire w;
      std::memcpy(&w, buffer_.data() + used, sizeof(Wire));
      used += sizeof(Wire);
      if (!Handle(w)) return false;
    }
    buffer_.erase(0, used);
  }
}

// Fixed queries (the same in every round), an unfiltered and a filtered
// search each, so two opens of the same files can be compared.
bool Parent::RunQueries(const DB& db, std::vector<std::vector<Neighbor>>* results) {
  results->clear();
  Result<Collection*> c = db.GetCollection(kCollection);
  if (!c.ok()) {
    if (oracle_.created || !c.status().IsNotFound()) {
      return Fail("collection missing after reopen: " + c.status().ToString());
    }
    return true;
  }
  for (uint64_t q = 0; q < 4; ++q) {
    const std::vector<float> query = VectorFor(0xC0FFEE00 + q, kDim);
    SearchOptions so;
    so.k = 10;
    so.ef = 64;
    const int64_t group = static_cast<int64_t>(q % 7);
    for (bool filtered : {false, true}) {
      if (filtered) so.filter = Filter::Eq("g", group);
      auto hits = (*c)->Search(query, so);
      if (!hits.ok()) return Fail("search failed: " + hits.status().ToString());
      const std::string bad = CheckHits(oracle_.coll, query, so.k, *hits, [&](const Value& v) {
        if (!filtered) return true;
        auto it = v.metadata.find("g");
        return it != v.metadata.end() && it->second == MetadataValue(group);
      });
      if (!bad.empty()) {
        return Fail(std::string(filtered ? "filtered " : "") + "search query " +
                    std::to_string(q) + ": " + bad);
      }
      results->push_back(std::move(*hits));
    }
  }
  return true;
}

bool Parent::VerifyReopen() {
  DbOptions o;
  o.num_threads = 1;
  const Universe universe{{kCollection}, 0, kIdRange};
  std::vector<std::vector<Neighbor>> first, second;
  {
    auto db = DB::Open(db_dir_, o);
    if (!db.ok()) return Fail("reopen failed: " + db.status().ToString());
    auto state = ReadState(**db, universe);
    if (!state.ok()) return Fail("reading the reopened database: " + state.status().ToString());

    // Settle each in-flight write: the state must be the acknowledged one,
    // or that plus the whole in-flight batch.
    for (std::optional<Wire>& p : oracle_.pending) {
      if (!p) continue;
      if (p->op == Op::kCheckpoint || p->op == Op::kCompact) {
        // Changes nothing visible; the full state check below covers it.
        ++stats_.in_flight_maintenance;
        p.reset();
        continue;
      }
      Oracle with = oracle_;
      Apply(*p, &with);
      const DbState before = Expected(oracle_), after = Expected(with);
      auto restrict_to = [&](const DbState& s) {
        // The in-flight batch's own ids (or the collection, for a creation).
        DbState r;
        for (const auto& [name, cs] : s) {
          CollectionState rc{cs.dim, {}};
          for (uint8_t i = 0; i < p->n; ++i) {
            auto it = cs.records.find(p->ids[i]);
            if (it != cs.records.end()) rc.records.insert(*it);
          }
          r[name] = rc;
        }
        return r;
      };
      const DbState got = restrict_to(*state);
      const bool is_before = got == restrict_to(before);
      const bool is_after = got == restrict_to(after);
      if (is_before && is_after) {
        ++stats_.in_flight_indistinct;
      } else if (is_after) {
        ++stats_.in_flight_applied;
        oracle_ = with;
      } else if (is_before) {
        ++stats_.in_flight_not_applied;
      } else {
        return Fail("in-flight batch (seq " + std::to_string(p->seq) +
                    ") half applied or damaged:\n" + Diff(restrict_to(after), got));
      }
      p.reset();
    }
    const DbState want = Expected(oracle_);
    if (*state != want) return Fail("state differs from acknowledged writes:\n" + Diff(want, *state));
    stats_.ids_verified += kIdRange;
    for (const CollectionStats& cs : (*db)->Stats().collections) {
      if (cs.quant_trained) ++stats_.trained_checks;
    }
    if (!RunQueries(**db, &first)) return false;
    Status s = (*db)->Close();
    if (!s.ok()) return Fail("close failed: " + s.ToString());
  }
  {
    auto db = DB::Open(db_dir_, o);
    if (!db.ok()) return Fail("second reopen failed: " + db.status().ToString());
    auto state = ReadState(**db, universe);
    if (!state.ok()) return Fail("reading after the second reopen: " + state.status().ToString());
    if (*state != Expected(oracle_)) {
      return Fail("second reopen differs:\n" + Diff(Expected(oracle_), *state));
    }
    if (!RunQueries(**db, &second)) return false;
    for (size_t i = 0; i < first.size(); ++i) {
      bool same = first[i].size() == second[i].size();
      for (size_t j = 0; same && j < first[i].size(); ++j) {
        same = first[i][j].id == second[i][j].id &&
               std::memcmp(&first[i][j].distance, &second[i][j].distance, sizeof(float)) == 0;
      }
      if (!same) return Fail("query " + std::to_string(i) + " differs between two reopens");
    }
    Status s = (*db)->Close();
    if (!s.ok()) return Fail("second close failed: " + s.ToString());
  }
  return true;
}

bool Parent::OneKill(uint64_t round) {
  round_ = round;
  ChildConfig c;
  c.db_dir = db_dir_;
  c.seed = Mix(seed_ ^ (round * 0x9e37));
  const int mode = static_cast<int>(rng_.Uniform(3));
  c.sync = mode == 2 ? SyncMode::kGroupCommit : SyncMode::kEveryWrite;
  c.threads = mode == 0 ? 1 : 2;
  // Half the runs take automatic checkpoints after a few KiB of log, so a
  // kill also lands inside checkpoints the writer did not ask for.
  c.checkpoint_log_bytes = rng_.OneIn(2) ? 4096 + rng_.Uniform(8192) : 0;
  c.quant = quant_;
  stats_.runs_by_mode[mode]++;

  pid_t pid;
  int fd;
  if (!Spawn(c, &pid, &fd)) return false;
  child_opened_ = false;
  buffer_.clear();
  bool eof = false;
  bool ok = true;
  using clock = std::chrono::steady_clock;
  // One kill in six lands at a random time after the start, which may be
  // inside Open's recovery; the rest wait for the open database and then a
  // random delay inside the write loop.
  const bool early = rng_.OneIn(6);
  if (!early) {
    ok = Drain(fd, clock::now() + std::chrono::seconds(60), /*stop_when_opened=*/true, &eof);
    if (ok && !child_opened_) ok = Fail(eof ? "child exited before opening" : "child did not open within 60 s");
  }
  const auto delay = std::chrono::microseconds(rng_.Uniform(1000 * static_cast<uint64_t>(max_delay_ms_) + 1));
  if (ok) ok = Drain(fd, clock::now() + delay, false, &eof);
  if (!child_opened_) ++stats_.kills_before_open;
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Whatever the child sent before it died is still in the pipe.
  if (ok) ok = Drain(fd, std::nullopt, false, &eof);
  ::close(fd);
  if (!ok) return false;
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
    return Fail("child ended by itself (status " + std::to_string(status) + ") before the kill");
  }
  ++stats_.kills;
  return VerifyReopen();
}

bool Parent::Run(uint64_t kills) {
  std::string templ = base_dir_ + "/omendb_crash_XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp(%s): %s\n", templ.c_str(), std::strerror(errno));
    return false;
  }
  const std::string work = buf.data();
  db_dir_ = work + "/db";
  std::printf("omendb_crash_test: %llu kills, seed %llu, database %s\n",
              static_cast<unsigned long long>(kills), static_cast<unsigned long long>(seed_),
              db_dir_.c_str());
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t r = 1; r <= kills; ++r) {
    if (!OneKill(r)) return false;
    if (r % 500 == 0) {
      std::printf("  %llu kills, %llu acknowledged writes\n", static_cast<unsigned long long>(r),
                  static_cast<unsigned long long>(stats_.acked_writes));
      std::fflush(stdout);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (quant_ != "none" && stats_.trained_checks == 0) {
    std::fprintf(stderr, "omendb_crash_test: FAILED: --quant %s, but no reopen found the codec "
                 "trained\n", quant_.c_str());
    return false;
  }
  std::printf(
      "omendb_crash_test: PASSED %llu kills in %.1f s (%llu before the child had opened)\n"
      "  acknowledged writes verified: %llu (+ %llu checkpoints/compactions), id states "
      "checked: %llu, final live ids: %zu\n"
      "  in-flight writes at a kill: %llu applied, %llu not applied, %llu indistinguishable; "
      "%llu checkpoints/compactions in flight\n"
      "  runs: %llu kEveryWrite x1, %llu kEveryWrite x2, %llu kGroupCommit x2; %llu reopens "
      "with a trained codec\n",
      static_cast<unsigned long long>(stats_.kills), secs,
      static_cast<unsigned long long>(stats_.kills_before_open),
      static_cast<unsigned long long>(stats_.acked_writes),
      static_cast<unsigned long long>(stats_.acked_maintenance),
      static_cast<unsigned long long>(stats_.ids_verified), oracle_.coll.records.size(),
      static_cast<unsigned long long>(stats_.in_flight_applied),
      static_cast<unsigned long long>(stats_.in_flight_not_applied),
      static_cast<unsigned long long>(stats_.in_flight_indistinct),
      static_cast<unsigned long long>(stats_.in_flight_maintenance),
      static_cast<unsigned long long>(stats_.runs_by_mode[0]),
      static_cast<unsigned long long>(stats_.runs_by_mode[1]),
      static_cast<unsigned long long>(stats_.runs_by_mode[2]),
      static_cast<unsigned long long>(stats_.trained_checks));
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return true;
}

std::string DefaultBaseDir() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

int Usage() {
  std::fprintf(stderr,
               "usage: omendb_crash_test [--kills N] [--seed S] [--dir DIR] [--max-delay-ms M] [--quant Q]\n");
  return 2;
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace
}  // namespace omendb::robustness

int main(int argc, char** argv) {
  using namespace omendb::robustness;
  if (argc == 8 && std::strcmp(argv[1], "--child") == 0) {
    ChildConfig c;
    uint64_t sync = 0, threads = 0;
    c.db_dir = argv[2];
    if (!ParseU64(argv[3], &c.seed) || !ParseU64(argv[4], &sync) || !ParseU64(argv[5], &threads) ||
        !ParseU64(argv[6], &c.checkpoint_log_bytes) || sync > 2 || threads < 1 || threads > 2) {
      return Usage();
    }
    c.sync = static_cast<omendb::SyncMode>(sync);
    c.threads = static_cast<int>(threads);
    c.quant = argv[7];
    return ChildMain(c);
  }
  uint64_t kills = 200;
  if (const char* e = std::getenv("OMENDB_CRASH_KILLS"); e != nullptr && *e != '\0') {
    if (!ParseU64(e, &kills)) return Usage();
  }
  uint64_t seed = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t max_delay_ms = 50;
  std::string dir = DefaultBaseDir();
  std::string quant = "none";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--kills" && has_value) {
      if (!ParseU64(argv[++i], &kills)) return Usage();
    } else if (a == "--seed" && has_value) {
      if (!ParseU64(argv[++i], &seed)) return Usage();
    } else if (a == "--dir" && has_value) {
      dir = argv[++i];
    } else if (a == "--quant" && has_value) {
      quant = argv[++i];
      if (!omendb::ParseQuantization(quant).ok()) return Usage();
    } else if (a == "--max-delay-ms" && has_value) {
      if (!ParseU64(argv[++i], &max_delay_ms) || max_delay_ms > 60000) return Usage();
    } else {
      return Usage();
    }
  }
  // A child that dies writes nothing more; the parent must not be killed by
  // SIGPIPE either.
  ::signal(SIGPIPE, SIG_IGN);
  Parent parent(dir, seed, static_cast<int>(max_delay_ms), quant);
  return parent.Run(kills) ? 0 : 1;
}
