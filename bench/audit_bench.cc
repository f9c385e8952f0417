// Audit log throughput per durability policy (real files under /tmp) and the
// cost of recording a latency.
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "assist/audit.h"
#include "audit/audit_line.h"
#include "audit/audit_log.h"
#include "metrics/metrics_registry.h"

namespace {

using assist::AuditDurability;

assist::AuditEvent sample_event(std::uint64_t i) {
  assist::AuditEvent e;
  e.type = assist::AuditEventType::sync_acked;
  e.session_id = "SESS-998877";
  e.agent_id = "AGT-4455";
  e.interaction_id = "INT-112233";
  e.frame_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  e.sequence = i;
  e.priority_override = true;
  e.relevance_score = 0.8;
  e.latency_seconds = 0.0123;
  e.success = true;
  return e;
}

// A fresh audit file in its own directory under /tmp, removed afterwards.
class ScratchLog {
 public:
  explicit ScratchLog(AuditDurability durability, assist::AuditBeforeSend before_send = assist::AuditBeforeSend::write)
      : dir_(std::filesystem::path("/tmp") / ("assist-audit-bench-" + std::to_string(::getpid()))),
        log_([&] {
          std::filesystem::remove_all(dir_);
          std::filesystem::create_directories(dir_);
          return assist::AuditOptions{.path = (dir_ / "audit.jsonl").string(),
                                      .durability = durability,
                                      .sync_interval = std::chrono::milliseconds(100),
                                      .before_send = before_send};
        }()) {
    if (log_.open()) throw std::runtime_error(log_.status_message());
  }
  ~ScratchLog() {
    log_.close();
    std::filesystem::remove_all(dir_);
  }
  assist::AuditLog& log() { return log_; }

 private:
  std::filesystem::path dir_;
  assist::AuditLog log_;
};

// Waits until the writer has finished everything appended (written, and
// synced when the policy says so), without forcing an fsync as flush() would.
void drain(assist::AuditLog& log) {
  while (log.pending() > 0) std::this_thread::yield();
}

// 1000 appends, drained: sustained events per second under each policy.
void BM_AuditThroughput(benchmark::State& state) {
  ScratchLog scratch(static_cast<AuditDurability>(state.range(0)));
  std::uint64_t i = 0;
  for (auto _ : state) {
    for (int n = 0; n < 1000; ++n) scratch.log().append(sample_event(++i));
    drain(scratch.log());
  }
  if (scratch.log().status()) state.SkipWithError("audit write failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
}
BENCHMARK(BM_AuditThroughput)
    ->ArgName("policy")
    ->Arg(static_cast<int>(AuditDurability::group_commit))
    ->Arg(static_cast<int>(AuditDurability::interval))
    ->Arg(static_cast<int>(AuditDurability::never))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Four threads appending at once (group commit), each draining per 1000 events.
void BM_AuditThroughputConcurrent(benchmark::State& state) {
  static ScratchLog* scratch = nullptr;
  if (state.thread_index() == 0) scratch = new ScratchLog(AuditDurability::group_commit);
  std::uint64_t i = 0;
  for (auto _ : state) {
    for (int n = 0; n < 1000; ++n) scratch->log().append(sample_event(++i));
    drain(scratch->log());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
  if (state.thread_index() == 0) {
    delete scratch;
    scratch = nullptr;
  }
}
BENCHMARK(BM_AuditThroughputConcurrent)->Threads(4)->Unit(benchmark::kMillisecond)->UseRealTime();

// One event made durable (append + flush): the latency a caller waiting for
// durability would see.
void BM_AuditDurableAppend(benchmark::State& state) {
  ScratchLog scratch(static_cast<AuditDurability>(state.range(0)));
  std::uint64_t i = 0;
  for (auto _ : state) {
    scratch.log().append(sample_event(++i));
    if (scratch.log().flush()) state.SkipWithError("audit write failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
}
BENCHMARK(BM_AuditDurableAppend)
    ->ArgName("policy")
    ->Arg(static_cast<int>(AuditDurability::group_commit))
    ->Arg(static_cast<int>(AuditDurability::never))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Write-ahead, as the synchronizer thread pays it per burst of frames: the
// burst's SYNC_BROADCAST lines appended, then commit() before the burst may
// be sent. Arg 0: commit() waits for the write (before_send = write); 1: for
// the fsync too (before_send = fsync, group commit); 2: no commit (the
// appends alone, the floor: what a frame waited before write-ahead).
void BM_WriteAheadBurst(benchmark::State& state) {
  ScratchLog scratch(AuditDurability::group_commit,
                     state.range(0) == 1 ? assist::AuditBeforeSend::fsync : assist::AuditBeforeSend::write);
  const bool commit = state.range(0) != 2;
  const auto burst = state.range(1);
  std::uint64_t i = 0;
  for (auto _ : state) {
    for (std::int64_t n = 0; n < burst; ++n) scratch.log().append(sample_event(++i));
    if (commit && scratch.log().commit()) state.SkipWithError("audit commit failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
}
BENCHMARK(BM_WriteAheadBurst)
    ->ArgNames({"wait", "burst"})
    ->ArgsProduct({{0, 1, 2}, {1, 16, 64}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The cost of append() alone (the caller's side; the writer runs behind).
void BM_AuditAppendCall(benchmark::State& state) {
  ScratchLog scratch(AuditDurability::never);
  std::uint64_t i = 0;
  const auto event = sample_event(1);
  for (auto _ : state) {
    scratch.log().append(event);
    if (++i % 4096 == 0) {
      state.PauseTiming();
      scratch.log().flush();
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_AuditAppendCall);

// The writer's work per event: one line formatted and hashed into the chain.
void BM_AuditLine(benchmark::State& state) {
  const auto event = sample_event(1);
  std::string prev(assist::audit_detail::kGenesisHash);
  std::string buffer;
  std::uint64_t seq = 0;
  for (auto _ : state) {
    buffer.clear();
    assist::audit_detail::append_line(buffer, ++seq, 1'700'000'000.123, event, prev);
    prev = assist::audit_detail::sha256_hex(buffer);
    benchmark::DoNotOptimize(buffer);
  }
}
BENCHMARK(BM_AuditLine);

void BM_HistogramRecord(benchmark::State& state) {
  static assist::LatencyHistogram histogram;
  std::mt19937_64 rng(static_cast<std::uint64_t>(state.thread_index()) + 1);
  std::uniform_int_distribution<std::int64_t> nanos(1'000, 2'000'000'000);
  std::array<std::chrono::nanoseconds, 1024> values{};
  for (auto& v : values) v = std::chrono::nanoseconds(nanos(rng));
  std::size_t i = 0;
  for (auto _ : state) histogram.record(values[i++ & 1023]);
}
BENCHMARK(BM_HistogramRecord)->Threads(1)->Threads(2);

void BM_PrometheusText(benchmark::State& state) {
  assist::Metrics metrics;
  for (int i = 0; i < 10'000; ++i) metrics.record_ack(std::chrono::microseconds(100 + i));
  for (auto _ : state) benchmark::DoNotOptimize(assist::prometheus_text(metrics.snapshot()));
}
BENCHMARK(BM_PrometheusText)->Unit(benchmark::kMicrosecond);

}  // namespace
