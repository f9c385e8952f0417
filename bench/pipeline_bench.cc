// End-to-end pipeline benchmark (issue: synchronizer, item 11): prompts
// acknowledged per second through the whole client path (validation,
// relevance, session scheduling, freshness check at write, frame encode,
// WebSocket write, ACK decode, metrics, audit log with its durability policy,
// ticket completion) against the gateway emulator running in another process.
//
// Two modes:
//   throughput: submit --prompts as fast as the synchronizer accepts them
//               (waiting for room when max_pending are pending) and report acked/s;
//   latency:    --rate R offers R prompts/s for --prompts / R seconds and
//               reports the write->ACK latency quantiles from the
//               synchronizer's own histogram, and the caller's: from the
//               sync_prompt() call to the outcome's callback.
//
//   pipeline_bench [--connections N] [--sessions S] [--prompts P] [--rate R]
//                  [--audit-policy group_commit|interval|never|off]
//                  [--audit-before-send write|fsync] [--tls]
//
// The gateway process is this executable re-run with --serve-gateway: it
// prints its port, serves until its stdin closes, then prints its stats and
// its own CPU time. See docs/performance.md for figures.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "assist/gateway.h"
#include "core/source_example.h"
#include "assist/synchronizer.h"
#include "metrics/metrics_registry.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The most resident memory this process has had, in MiB.
double max_rss_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// --serve-gateway: the emulator alone in this process, on one thread.
int serve_gateway(bool tls) {
  assist::GatewayOptions options;
  options.tls = tls;
  options.max_inflight = 1000;
  options.max_connections_per_client = 1000;  // --connections' limit
  assist::Gateway gateway(options);
  if (const auto started = gateway.start(); !started.ok()) {
    std::cerr << "cannot start the gateway: " << started.message << std::endl;
    return 2;
  }
  std::cout << gateway.port() << ' ' << (tls ? gateway.certificate_sha256() : "-") << std::endl;
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  const auto stats = gateway.stats();
  gateway.stop();
  std::cout << fmt::format("gateway_cpu_s {:.3f} gateway_max_rss_mib {:.1f}\n", cpu_seconds(), max_rss_mib())
            << stats.to_json() << std::endl;
  return 0;
}

// The gateway child process: its stdin and stdout are pipes to us.
class GatewayProcess {
 public:
  GatewayProcess(const char* self, bool tls) {
    int to_child[2];
    int from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      ::close(to_child[1]);
      ::close(from_child[0]);
      const char* argv[] = {self, "--serve-gateway", tls ? "--tls" : nullptr, nullptr};
      ::execv("/proc/self/exe", const_cast<char* const*>(argv));
      std::_Exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_child_ = to_child[1];
    from_child_ = ::fdopen(from_child[0], "r");
    const auto first = read_line();
    char pin[128] = {};
    if (std::sscanf(first.c_str(), "%hu %127s", &port_, pin) != 2) throw std::runtime_error("gateway did not start: " + first);
    pin_ = pin;
  }
  ~GatewayProcess() {
    if (to_child_ >= 0) ::close(to_child_);
    if (from_child_ != nullptr) std::fclose(from_child_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }

  // Ends the child; returns what it printed (its CPU time and stats).
  std::string finish() {
    ::close(to_child_);
    to_child_ = -1;
    std::string out;
    for (std::string line = read_line(); !line.empty(); line = read_line()) out += line;
    return out;
  }

  std::uint16_t port() const { return port_; }
  const std::string& pin() const { return pin_; }

 private:
  std::string read_line() {
    std::array<char, 8192> buf{};
    if (std::fgets(buf.data(), static_cast<int>(buf.size()), from_child_) == nullptr) return {};
    return buf.data();
  }

  pid_t pid_ = -1;
  int to_child_ = -1;
  std::FILE* from_child_ = nullptr;
  std::uint16_t port_ = 0;
  std::string pin_;
};

// The source example's content without override, spread over `sessions`; a
// distinct interaction per prompt so nothing is superseded (`kind` tells the
// warm-up's from the timed run's).
assist::AssistPrompt make_prompt(long i, int sessions, std::string_view kind = "INT") {
  auto p = assist::source_example_prompt();
  const auto session = i % sessions;
  p.session_id = fmt::format("SESS-{:05}", session);
  p.agent_id = fmt::format("AGT-{:05}", session);
  p.interaction_id = fmt::format("{}-{}", kind, i);
  p.priority_override = false;
  p.priority_level = 3;
  return p;
}

struct Config {
  int connections = 1;
  int sessions = 0;  // 0: 100 per connection
  long prompts = 200'000;
  double rate = 0;   // prompts/s; 0: as fast as accepted
  std::string audit_policy = "group_commit";
  std::string audit_before_send = "write";
  bool tls = false;
};

// The synchronizer's options for `cfg` against `gateway`; the audit log (if
// any) in `dir`.
assist::SynchronizerOptions bench_options(const Config& cfg, const GatewayProcess& gateway, int sessions,
                                          const std::filesystem::path& dir) {
  const auto scheme = cfg.tls ? "s" : "";
  assist::SynchronizerOptions so;
  so.token.token_url = fmt::format("http{}://127.0.0.1:{}/oauth/token", scheme, gateway.port());
  so.token.client_id = "demo-client";
  so.token.client_secret = "demo-secret";
  so.realtime.realtime_url = fmt::format("ws{}://127.0.0.1:{}/realtime/v1", scheme, gateway.port());
  if (cfg.tls) so.token.tls.pin_sha256 = so.realtime.tls.pin_sha256 = gateway.pin();
  so.realtime.max_connections = static_cast<unsigned>(cfg.connections);
  // Back-pressure at about twice the gateway's in-flight window (1000) per
  // connection: enough to keep every window full, short enough that nothing
  // waits long (or goes stale) in a queue, and before any session's queue
  // (64) fills. The submitter sees queue_full and retries.
  so.max_pending = std::min<std::size_t>(2000 * static_cast<std::size_t>(cfg.connections),
                                         static_cast<std::size_t>(sessions) * so.max_queued_per_session / 2);
  if (cfg.audit_policy != "off") {
    std::filesystem::create_directories(dir);
    so.audit.path = (dir / "audit.jsonl").string();
    so.audit.durability = *assist::parse_audit_durability(cfg.audit_policy);  // checked by CLI11
    so.audit.before_send = *assist::parse_audit_before_send(cfg.audit_before_send);
  }
  return so;
}

struct TimedRun {
  bool refused = false;  // a prompt was refused for another reason than queue_full
  long room_waits = 0;          // waits of 100 µs for room (Synchronizer::room())
  long queue_full_retries = 0;  // refused anyway (the audit log behind)
  double elapsed = 0.0;     // seconds, first submission to the last outcome
  double client_cpu = 0.0;  // seconds of this process's CPU meanwhile
  assist::HistogramSnapshot caller_latency;  // sync_prompt() called -> outcome, as the caller sees it
};

// cfg.prompts prompts, at cfg.rate or as fast as accepted; waits (up to
// 10 minutes) for every outcome.
TimedRun timed_run(assist::Synchronizer& sync, const Config& cfg, int sessions) {
  TimedRun run;
  std::atomic<long> finished{0};
  assist::LatencyHistogram caller_latency;
  const auto cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (long i = 0; i < cfg.prompts; ++i) {
    if (cfg.rate > 0) {
      const auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                static_cast<double>(i) / cfg.rate));
      if (due > Clock::now() + 200us) std::this_thread::sleep_until(due);
    }
    for (;;) {
      // Waits for room rather than being refused: a refusal is validated and
      // audited (SYNC_REJECTED_CONCURRENCY), work the run would count.
      while (sync.room() == 0) {
        ++run.room_waits;
        std::this_thread::sleep_for(100us);
      }
      const auto submitted = Clock::now();
      auto r = sync.sync_prompt(make_prompt(i, sessions));
      if (r) {
        r.value().then([&finished, &caller_latency, submitted](const assist::SyncOutcome&) {
          caller_latency.record(Clock::now() - submitted);
          finished.fetch_add(1);
        });
        break;
      }
      if (r.error().code != assist::SubmitErrc::queue_full) {
        fmt::print(stderr, "prompt {} refused: {}\n", i, r.error().message);
        run.refused = true;
        return run;
      }
      ++run.queue_full_retries;
      std::this_thread::sleep_for(100us);
    }
  }
  while (finished.load() < cfg.prompts && Clock::now() - t0 < 600s) std::this_thread::sleep_for(1ms);
  run.elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  run.client_cpu = cpu_seconds() - cpu0;
  run.caller_latency = caller_latency.snapshot();
  return run;
}

void print_report(const Config& cfg, int sessions, const TimedRun& run, std::uint64_t acked,
                  const assist::HistogramSnapshot& ack_latency, const std::string& gateway_report) {
  fmt::print("connections {}  sessions {}  prompts {}  offered {}  audit {}{}\n", cfg.connections, sessions,
             cfg.prompts, cfg.rate > 0 ? fmt::format("{:.0f}/s", cfg.rate) : "max", cfg.audit_policy,
             cfg.tls ? "  tls" : "");
  fmt::print("acked {}  other outcomes {}  waits for room {}  queue_full retries {}  elapsed {:.3f} s\n", acked,
             cfg.prompts - static_cast<long>(acked), run.room_waits, run.queue_full_retries, run.elapsed);
  fmt::print("throughput {:.0f} acked/s   client process CPU {:.2f} s ({:.0f}% of one core)   client max RSS {:.1f} MiB\n",
             static_cast<double>(acked) / run.elapsed, run.client_cpu, 100.0 * run.client_cpu / run.elapsed,
             max_rss_mib());
  const auto quantiles = [](const assist::HistogramSnapshot& h) {
    return fmt::format("p50 {:.3f} ms  p90 {:.3f} ms  p99 {:.3f} ms  p999 {:.3f} ms", h.quantile(0.5) * 1e3,
                       h.quantile(0.9) * 1e3, h.quantile(0.99) * 1e3, h.quantile(0.999) * 1e3);
  };
  fmt::print("write->ACK latency {}\n", quantiles(ack_latency));
  fmt::print("submit->outcome latency {}\n", quantiles(run.caller_latency));
  fmt::print("gateway: {}\n", gateway_report);
}

int run(const Config& cfg, const char* self) {
  GatewayProcess gateway(self, cfg.tls);
  const int sessions = cfg.sessions > 0 ? cfg.sessions : 100 * cfg.connections;
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("pipeline-bench-{}", ::getpid());
  assist::Synchronizer sync(bench_options(cfg, gateway, sessions, dir));
  if (const auto started = sync.start(); !started.ok()) {
    fmt::print(stderr, "cannot start: {}\n", started.message);
    return 2;
  }
  // Warm up: every session the timed run uses placed, so connections are
  // open before timing (the timed run places no session).
  for (int s = 0; s < sessions; ++s) {
    if (auto r = sync.sync_prompt(make_prompt(s, sessions, "WARM")); r) r.value().wait();
  }
  const auto before = sync.metrics();
  const auto timed = timed_run(sync, cfg, sessions);
  if (timed.refused) return 1;
  const auto after = sync.metrics();
  sync.stop();
  const auto gateway_report = gateway.finish();

  const auto acked = after.syncs_successful - before.syncs_successful;
  // Quantiles over the timed window only: subtract the warm-up's buckets.
  auto window = after.ack_latency;
  for (std::size_t b = 0; b < window.buckets.size(); ++b) window.buckets[b] -= before.ack_latency.buckets[b];
  window.count -= before.ack_latency.count;
  print_report(cfg, sessions, timed, acked, window, gateway_report);
  std::filesystem::remove_all(dir);
  return static_cast<long>(acked) == cfg.prompts ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"assist-sync end-to-end pipeline benchmark"};
  Config cfg;
  bool serve = false;
  app.add_flag("--serve-gateway", serve, "internal: run the gateway emulator for a parent benchmark");
  app.add_option("--connections", cfg.connections, "gateway connections (100 sessions each)")->check(CLI::Range(1, 1000));
  app.add_option("--sessions", cfg.sessions, "sessions (default 100 per connection)")->check(CLI::Range(1, 100'000));
  app.add_option("--prompts", cfg.prompts, "prompts in the timed run")->check(CLI::Range(1L, 100'000'000L));
  app.add_option("--rate", cfg.rate, "offered prompts/s (default: as fast as accepted)")->check(CLI::Range(0.0, 1e7));
  app.add_option("--audit-policy", cfg.audit_policy, "audit durability")
      ->check(CLI::IsMember({"group_commit", "interval", "never", "off"}));
  app.add_option("--audit-before-send", cfg.audit_before_send, "what a frame waits for: its line written, or fsynced")
      ->check(CLI::IsMember({"write", "fsync"}));
  app.add_flag("--tls", cfg.tls, "wss/https with the emulator's self-signed certificate, pinned");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return serve ? serve_gateway(cfg.tls) : run(cfg, argv[0]);
  } catch (const std::exception& e) {
    fmt::print(stderr, "pipeline_bench: {}\n", e.what());
    return 2;
  }
}
