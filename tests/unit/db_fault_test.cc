// Fault injection and simulated power loss for the database (omendb/db.h).
//
// A fixed workload (two collections, upserts with metadata, replacements,
// deletes, checkpoints, a compaction, a torn log tail recovered by a reopen,
// a flush) runs on a testutil::FaultInjectionEnv. For each kind of mutating
// file operation and for both EIO and ENOSPC, the 1st, 2nd, ... operation of
// that kind is made to fail, one run per position, until a run completes
// without the fault firing. Every run asserts:
//  * each call returns OK or an error; the first error carries the injected
//    code (kIOError for EIO, kResourceExhausted for ENOSPC) and any later
//    error is that code or kFailedPrecondition;
//  * with automatic checkpoints off, once an upsert, delete or collection
//    creation has failed, every later write fails too until the reopen (a
//    failed log write or sync poisons the database: writing on could make
//    a later write durable while the failed one is not);
//  * the open database still answers reads, and what it shows is consistent
//    with the acknowledged writes;
//  * reopened on the real file system, the database opens and holds exactly
//    the acknowledged writes. A write that returned an error may or may not
//    have taken effect: each id must be in its latest acknowledged state or
//    in the state one of the failed writes after it would have left.
// The power-loss variant calls DropUnsyncedData() before the reopen (while
// the database is still open, and with every later file operation failing,
// so nothing reaches the disk after the "power cut"): with durable syncs,
// every acknowledged write must survive that too.
//
// A second group cuts the power after every step of the workload without any
// fault: with kEveryWrite and kGroupCommit the reopened state is exactly the
// state after that step; with kNone it is the state after some earlier step
// (a prefix of the write history: unsynced writes may be lost, but only from
// the end, and never anything before the last Flush, Checkpoint, Compact or
// Close that succeeded).
//
// The runs use a scratch directory in /dev/shm when there is one
// (db_oracle.h, ScratchDir): syncs are only simulated here (FaultInjectionEnv
// models what a power loss keeps), so a RAM file system tests the same thing
// far faster.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "crash/db_oracle.h"
#include "omendb/db.h"
#include "storage/manifest.h"
#include "testutil/fault_env.h"
#include "testutil/testutil.h"

namespace omendb::robustness {
namespace {

using testutil::FaultError;
using testutil::FaultInjectionEnv;
using testutil::FaultOp;

// ---------------------------------------------------------------------------
// The workload.

struct Step {
  enum Kind { kCreate, kUpsert, kDelete, kCheckpoint, kCompact, kFlush, kTearAndReopen };
  Kind kind;
  std::string collection;
  std::vector<VectorId> ids;
  uint64_t seed = 0;  // kUpsert: row i gets ValueFor(seed + i); kCreate: the dim
};

const std::vector<Step>& Workload() {
  static const auto* steps = new std::vector<Step>{
      {Step::kCreate, "a", {}, 4},
      {Step::kUpsert, "a", {1, 2, 3, 4, 5, 6}, 100},
      {Step::kUpsert, "a", {7, 8, 9}, 200},
      {Step::kDelete, "a", {2, 3}, 0},
      {Step::kUpsert, "a", {1, 10}, 300},  // replaces 1
      {Step::kCreate, "b", {}, 3},
      {Step::kUpsert, "b", {1, 2, 3}, 400},
      {Step::kCheckpoint, "", {}, 0},
      {Step::kDelete, "a", {4, 5, 6}, 0},
      {Step::kUpsert, "a", {11, 12}, 500},
      // A crash mid-append: the log ends in a partial record that the next
      // open must cut off (the only way the database truncates a file).
      {Step::kTearAndReopen, "", {}, 0},
      {Step::kCompact, "a", {}, 0},
      {Step::kUpsert, "a", {2, 13}, 600},  // 2 comes back
      {Step::kDelete, "b", {2}, 0},
      {Step::kDelete, "a", {1, 15}, 0},  // 15 was never written
      {Step::kFlush, "", {}, 0},
      {Step::kUpsert, "b", {4}, 700},
      {Step::kCheckpoint, "", {}, 0},
      {Step::kUpsert, "a", {14}, 800},
      {Step::kDelete, "a", {7}, 0},
  };
  return *steps;
}

const Universe& TestUniverse() {
  static const Universe* u = new Universe{{"a", "b"}, 0, 16};
  return *u;
}

bool IsWrite(Step::Kind k) {
  return k == Step::kCreate || k == Step::kUpsert || k == Step::kDelete;
}

// ---------------------------------------------------------------------------
// What the database may hold: for each collection whether it may exist, and
// for each id the states it may be in. An acknowledged write replaces the
// possibilities of what it touches; a failed one adds to them.

struct Possible {
  std::map<std::string, std::set<bool>> exists;
  std::map<std::string, uint32_t> dims;
  std::map<std::pair<std::string, VectorId>, std::vector<std::optional<Value>>> rows;

  Possible() {
    for (const std::string& c : TestUniverse().collections) {
      exists[c] = {false};
      for (VectorId id = TestUniverse().first_id; id < TestUniverse().end_id; ++id) {
        rows[{c, id}] = {std::nullopt};
      }
    }
  }

  void Apply(const Step& s, bool acknowledged) {
    auto set = [&](const std::pair<std::string, VectorId>& key, std::optional<Value> v) {
      auto& r = rows.at(key);
      if (acknowledged) r.clear();
      if (std::find(r.begin(), r.end(), v) == r.end()) r.push_back(std::move(v));
    };
    switch (s.kind) {
      case Step::kCreate:
        if (acknowledged) exists[s.collection].clear();
        exists[s.collection].insert(true);
        dims[s.collection] = static_cast<uint32_t>(s.seed);
        break;
      case Step::kUpsert:
        for (size_t i = 0; i < s.ids.size(); ++i) {
          set({s.collection, s.ids[i]}, ValueFor(s.seed + i, dims.at(s.collection)));
        }
        break;
      case Step::kDelete:
        for (VectorId id : s.ids) set({s.collection, id}, std::nullopt);
        break;
      default:
        break;
    }
  }

  // "" if `state` is one of the possible states, else the first mismatches.
  std::string Check(const DbState& state) const {
    std::ostringstream os;
    for (const auto& [name, may] : exists) {
      auto it = state.find(name);
      const bool present = it != state.end();
      if (!may.count(present)) {
        os << "collection " << name << (present ? " exists" : " is missing") << "; ";
        continue;
      }
      if (!present) continue;
      if (it->second.dim != dims.at(name)) os << name << ": dim " << it->second.dim << "; ";
      for (VectorId id = TestUniverse().first_id; id < TestUniverse().end_id; ++id) {
        std::optional<Value> got;
        if (auto r = it->second.records.find(id); r != it->second.records.end()) got = r->second;
        const auto& options = rows.at({name, id});
        if (std::find(options.begin(), options.end(), got) == options.end()) {
          os << name << "/" << id << " is " << Describe(got) << ", expected "
             << Describe(options.front()) << (options.size() > 1 ? " or another" : "") << "; ";
        }
      }
    }
    return os.str();
  }
};

// The exact states after each prefix of the workload when every step
// succeeds: states[k] is the state after the first k steps.
std::vector<DbState> PrefixStates() {
  std::vector<DbState> states(1);
  DbState cur;
  std::map<std::string, uint32_t> dims;
  for (const Step& s : Workload()) {
    switch (s.kind) {
      case Step::kCreate:
        cur[s.collection].dim = static_cast<uint32_t>(s.seed);
        break;
      case Step::kUpsert:
        for (size_t i = 0; i < s.ids.size(); ++i) {
          cur[s.collection].records[s.ids[i]] = ValueFor(s.seed + i, cur[s.collection].dim);
        }
        break;
      case Step::kDelete:
        for (VectorId id : s.ids) cur[s.collection].records.erase(id);
        break;
      default:
        break;
    }
    states.push_back(cur);
  }
  return states;
}

// ---------------------------------------------------------------------------
// Running it.

struct RunConfig {
  SyncMode sync = SyncMode::kEveryWrite;
  uint64_t checkpoint_log_bytes = 0;  // 0: automatic checkpoints off
  size_t steps = 0;                   // run this many steps of the workload
  // Expected code of the first failure (kOk: no fault injected).
  StatusCode injected = StatusCode::kOk;
};

struct RunOutcome {
  Possible possible;
  size_t durable_steps = 0;  // steps known durable (last successful sync point)
  size_t failures = 0;
};

DbOptions Options(Env* env, const RunConfig& c) {
  DbOptions o;
  o.env = env;
  o.sync = c.sync;
  o.checkpoint_log_bytes = c.checkpoint_log_bytes;
  o.num_threads = 1;
  return o;
}

// Appends the start of a record header (a few bytes, no payload) to the live
// log, as a crash in the middle of an append leaves it.
void TearLiveLog(const std::string& dir) {
  auto m = storage::ReadCurrentManifest(Env::Default(), dir);
  if (!m.ok() || m->wal_files.empty()) return;  // a failed run may have no database yet
  auto f = Env::Default()->NewAppendableFile(dir + "/" + m->wal_files.back());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append(std::string("\x5a\xa5\x01", 3)).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

// Runs the first c.steps steps on `env`; leaves the database open in *db
// (null if an open failed). Fails the test if a call misbehaves.
void RunWorkload(FaultInjectionEnv* env, const std::string& dir, const RunConfig& c,
                 std::unique_ptr<DB>* db, RunOutcome* out) {
  const DbOptions options = Options(env, c);
  bool seen_failure = false;
  bool poisoned = false;  // a write failed since the last open
  auto note = [&](const Status& s, const std::string& what) {
    if (s.ok()) return;
    ++out->failures;
    if (c.injected == StatusCode::kOk) {
      ADD_FAILURE() << what << " failed with no fault injected: " << s.ToString();
    } else if (!seen_failure) {
      EXPECT_EQ(s.code(), c.injected) << what << ": the first failure must carry the injected "
                                         "code: " << s.ToString();
    } else {
      EXPECT_TRUE(s.code() == c.injected || s.code() == StatusCode::kFailedPrecondition)
          << what << ": " << s.ToString();
    }
    seen_failure = true;
  };

  auto opened = DB::Open(dir, options);
  note(opened.status(), "open");
  if (!opened.ok()) return;
  *db = std::move(*opened);

  for (size_t i = 0; i < c.steps && i < Workload().size(); ++i) {
    const Step& s = Workload()[i];
    const std::string what = "step " + std::to_string(i);
    Status st;
    bool issued = true;
    Collection* coll = nullptr;
    if (s.kind == Step::kUpsert || s.kind == Step::kDelete || s.kind == Step::kCompact) {
      // A collection whose creation failed is not there to write to or
      // compact.
      auto r = (*db)->GetCollection(s.collection);
      if (!r.ok()) {
        EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
        issued = false;
      } else {
        coll = *r;
      }
    }
    if (!issued) continue;
    switch (s.kind) {
      case Step::kCreate: {
        CollectionOptions co;
        co.dim = static_cast<uint32_t>(s.seed);
        co.M = 8;
        co.ef_construction = 32;
        co.quant = testutil::TestQuantization();
        co.quant_train_after = testutil::TestQuantTrainAfter();
        st = (*db)->CreateCollection(s.collection, co).status();
        break;
      }
      case Step::kUpsert: {
        std::vector<float> vectors;
        std::vector<Metadata> metadata;
        for (size_t r = 0; r < s.ids.size(); ++r) {
          Value v = ValueFor(s.seed + r, coll->options().dim);
          vectors.insert(vectors.end(), v.vector.begin(), v.vector.end());
          metadata.push_back(std::move(v.metadata));
        }
        st = coll->Upsert(s.ids, vectors, metadata);
        break;
      }
      case Step::kDelete:
        st = coll->Delete(s.ids);
        break;
      case Step::kCheckpoint:
        st = (*db)->Checkpoint();
        break;
      case Step::kCompact:
        st = (*db)->Compact(s.collection);
        break;
      case Step::kFlush:
        st = (*db)->Flush();
        break;
      case Step::kTearAndReopen: {
        st = (*db)->Close();
        note(st, what + " (close)");
        if (st.ok()) out->durable_steps = i;  // Close syncs the log
        db->reset();
        TearLiveLog(dir);
        auto again = DB::Open(dir, options);
        note(again.status(), what + " (reopen)");
        if (!again.ok()) return;
        *db = std::move(*again);
        poisoned = false;
        out->possible.Apply(s, true);
        continue;
      }
    }
    note(st, what);
    if (IsWrite(s.kind)) {
      if (c.checkpoint_log_bytes == 0 && poisoned) {
        EXPECT_FALSE(st.ok()) << what << " succeeded after an earlier write failed";
      }
      if (!st.ok()) poisoned = true;
    }
    out->possible.Apply(s, st.ok());
    if (st.ok() && (s.kind == Step::kCheckpoint || s.kind == Step::kCompact ||
                    s.kind == Step::kFlush)) {
      out->durable_steps = i + 1;
    }
  }
  // Whatever happened, the open database still answers reads, consistently
  // with what was acknowledged.
  auto live = ReadState(**db, TestUniverse());
  ASSERT_TRUE(live.ok()) << "reading the open database: " << live.status().ToString();
  const std::string bad = out->possible.Check(*live);
  EXPECT_EQ(bad, "") << "the open database shows a state no write history explains";
}

// Opens `dir` on the real file system and returns what it holds.
Result<DbState> ReopenAndRead(const std::string& dir) {
  DbOptions o;
  o.num_threads = 1;
  auto db = DB::Open(dir, o);
  if (!db.ok()) return db.status();
  auto state = ReadState(**db, TestUniverse());
  if (!state.ok()) return state.status();
  // A second open of the same files must give the same contents.
  Status s = (*db)->Close();
  if (!s.ok()) return s;
  db->reset();
  auto again = DB::Open(dir, o);
  if (!again.ok()) return again.status();
  auto state2 = ReadState(**again, TestUniverse());
  if (!state2.ok()) return state2.status();
  if (*state2 != *state) {
    return Status::Internal("two opens differ:\n" + Diff(*state, *state2));
  }
  return state;
}

// Ends the run like a power cut: unsynced data is dropped while the database
// is still open, and every later file operation fails, so that closing it
// cannot write anything more.
void PowerCut(FaultInjectionEnv* env, std::unique_ptr<DB>* db) {
  Status s = env->DropUnsyncedData();
  ASSERT_TRUE(s.ok()) << s.ToString();
  env->InjectFault(FaultOp::kAny, 1, FaultError::kIO, /*persistent=*/true);
  db->reset();
  env->ClearFaults();
}

// ---------------------------------------------------------------------------
// The fault sweep.

enum class Ending { kReopen, kPowerLoss };

struct SweepParam {
  FaultOp op;
  FaultError error;
  Ending ending;
  uint64_t checkpoint_log_bytes;
};

const char* OpName(FaultOp op) {
  switch (op) {
    case FaultOp::kWrite: return "Write";
    case FaultOp::kSync: return "Sync";
    case FaultOp::kRename: return "Rename";
    case FaultOp::kRemove: return "Remove";
    case FaultOp::kTruncate: return "Truncate";
    case FaultOp::kCreate: return "Create";
    case FaultOp::kSyncDir: return "SyncDir";
    case FaultOp::kAny: return "Any";
  }
  return "?";
}

std::string ParamName(const testing::TestParamInfo<SweepParam>& info) {
  const SweepParam& p = info.param;
  return std::string(OpName(p.op)) + (p.error == FaultError::kIO ? "_EIO" : "_ENOSPC") +
         (p.ending == Ending::kReopen ? "_Reopen" : "_PowerLoss") +
         (p.checkpoint_log_bytes ? "_AutoCheckpoint" : "");
}

class DbFaultSweep : public testing::TestWithParam<SweepParam> {};

TEST_P(DbFaultSweep, AcknowledgedWritesSurvive) {
  const SweepParam& p = GetParam();
  RunConfig c;
  c.sync = SyncMode::kEveryWrite;
  c.checkpoint_log_bytes = p.checkpoint_log_bytes;
  c.steps = Workload().size();
  c.injected =
      p.error == FaultError::kIO ? StatusCode::kIOError : StatusCode::kResourceExhausted;
  uint64_t runs_with_fault = 0;
  uint64_t runs_with_failure = 0;
  for (uint64_t n = 1;; ++n) {
    SCOPED_TRACE("fault at operation " + std::to_string(n) + " of kind " + OpName(p.op));
    ScratchDir scratch("omendb_fault");
    ASSERT_FALSE(scratch.path().empty());
    const std::string dir = scratch.path() + "/db";
    FaultInjectionEnv env(Env::Default());
    env.InjectFault(p.op, n, p.error);
    std::unique_ptr<DB> db;
    RunOutcome out;
    RunWorkload(&env, dir, c, &db, &out);
    if (HasFatalFailure()) return;
    const bool fired = env.faults_fired() > 0;
    if (p.ending == Ending::kPowerLoss) {
      PowerCut(&env, &db);
    } else {
      db.reset();  // Close, through the faulty env (the fault may fire here)
    }
    auto state = ReopenAndRead(dir);
    ASSERT_TRUE(state.ok()) << "reopen after the fault: " << state.status().ToString();
    const std::string bad = out.possible.Check(*state);
    ASSERT_EQ(bad, "") << "the reopened database lost or invented writes";
    if (!fired) {
      // The workload has fewer operations of this kind than n: done. The run
      // without a fault must have succeeded throughout.
      EXPECT_EQ(out.failures, 0u);
      break;
    }
    ++runs_with_fault;
    runs_with_failure += out.failures > 0 ? 1 : 0;
    ASSERT_LT(n, 20000u) << "the workload cannot have this many operations";
  }
  // The workload writes, syncs, creates, renames, syncs the directory and
  // removes files; truncation happens only when the torn tail is cut off.
  if (p.op != FaultOp::kTruncate) {
    EXPECT_GT(runs_with_fault, 0u);
  }
  if (p.op == FaultOp::kWrite || p.op == FaultOp::kSync || p.op == FaultOp::kAny) {
    EXPECT_GT(runs_with_failure, 0u) << "no injected fault was ever reported";
  }
  std::printf("[ sweep    ] %s: %llu runs with a fault, %llu of them reported an error\n",
              ParamName(testing::TestParamInfo<SweepParam>(p, 0)).c_str(),
              static_cast<unsigned long long>(runs_with_fault),
              static_cast<unsigned long long>(runs_with_failure));
}

std::vector<SweepParam> SweepParams() {
  std::vector<SweepParam> v;
  for (FaultOp op : {FaultOp::kWrite, FaultOp::kSync, FaultOp::kRename, FaultOp::kCreate,
                     FaultOp::kSyncDir, FaultOp::kRemove, FaultOp::kTruncate}) {
    for (FaultError e : {FaultError::kIO, FaultError::kNoSpace}) {
      for (Ending end : {Ending::kReopen, Ending::kPowerLoss}) v.push_back({op, e, end, 0});
    }
  }
  // Automatic checkpoints after a few hundred bytes of log, so faults also
  // hit checkpoints that run inside a write; every kind counted together.
  for (Ending end : {Ending::kReopen, Ending::kPowerLoss}) {
    v.push_back({FaultOp::kAny, FaultError::kIO, end, 600});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, DbFaultSweep, testing::ValuesIn(SweepParams()), ParamName);

// ---------------------------------------------------------------------------
// Power cuts at every step, no faults.

class DbPowerCut : public testing::TestWithParam<SyncMode> {};

TEST_P(DbPowerCut, AfterEveryStep) {
  const SyncMode sync = GetParam();
  const std::vector<DbState> prefix = PrefixStates();
  size_t cuts_losing_writes = 0;
  for (size_t steps = 0; steps <= Workload().size(); ++steps) {
    SCOPED_TRACE("power cut after step " + std::to_string(steps));
    ScratchDir scratch("omendb_fault");
    ASSERT_FALSE(scratch.path().empty());
    const std::string dir = scratch.path() + "/db";
    FaultInjectionEnv env(Env::Default());
    RunConfig c;
    c.sync = sync;
    c.steps = steps;
    std::unique_ptr<DB> db;
    RunOutcome out;
    RunWorkload(&env, dir, c, &db, &out);
    if (HasFatalFailure()) return;
    ASSERT_NE(db, nullptr);
    PowerCut(&env, &db);
    auto state = ReopenAndRead(dir);
    ASSERT_TRUE(state.ok()) << "reopen after the power cut: " << state.status().ToString();
    if (sync != SyncMode::kNone) {
      // Durable modes: every acknowledged write is there, nothing else.
      ASSERT_EQ(*state, prefix[steps]) << Diff(prefix[steps], *state);
      continue;
    }
    // kNone: the state after some step k, with k at least the last point the
    // log was known synced and at most the steps run.
    std::optional<size_t> match;
    for (size_t k = steps + 1; k-- > out.durable_steps;) {
      if (*state == prefix[k]) {
        match = k;
        break;
      }
    }
    ASSERT_TRUE(match.has_value())
        << "not the state after any step in [" << out.durable_steps << ", " << steps
        << "]; compared with the state after all of them:\n"
        << Diff(prefix[steps], *state);
    if (*match < steps) ++cuts_losing_writes;
  }
  if (sync == SyncMode::kNone) {
    // Unsynced writes must actually be at risk, or this test would not
    // exercise the prefix rule at all.
    EXPECT_GT(cuts_losing_writes, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, DbPowerCut,
                         testing::Values(SyncMode::kEveryWrite, SyncMode::kGroupCommit,
                                         SyncMode::kNone),
                         [](const testing::TestParamInfo<SyncMode>& mode) {
                           switch (mode.param) {
                             case SyncMode::kEveryWrite: return std::string("EveryWrite");
                             case SyncMode::kGroupCommit: return std::string("GroupCommit");
                             case SyncMode::kNone: return std::string("None");
                           }
                           return std::string("Unknown");
                         });

}  // namespace
}  // namespace omendb::robustness
