#include "demo_command.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/audit.h"
#include "assist/gateway.h"
#include "core/source_example.h"
#include "assist/synchronizer.h"
#include "exit_codes.h"
#include "help.h"
#include "service/http_api.h"
#include "service/outcome_table.h"
#include "service/status_model.h"

namespace assist::cli {
namespace {

using namespace std::chrono_literals;

struct DemoOptions {
  int prompts = 10'000;
  int sessions = 500;
  double rate = 5'000;       // prompts/s offered: a busy contact center, not a flood
  int stale_every = 40;      // every Nth prompt was produced 3 s ago: never shown
  int supersede_every = 25;  // every Nth prompt is followed at once by a correction
  std::string audit_path;    // empty: a fresh temporary directory
  bool hold = false;         // keep the service up after the burst, for its status page
};

// --hold: what the service's HTTP API serves (the status page, /metrics, the
// outcome lookup), and the signals that end the hold. Made before any other
// thread runs (it adds a sink to the logger) and before the synchronizer,
// which reports its outcomes to it.
class HeldService {
 public:
  HeldService() : signals_(io_, SIGINT, SIGTERM) {
    spdlog::default_logger()->sinks().push_back(status_.error_sink());
  }
  OutcomeObserver* observer() { return &outcomes_; }

  // The API for `sync` on 127.0.0.1:0; null (and why, on stderr) when it
  // cannot listen. Destroy it before `sync`.
  std::unique_ptr<service::HttpApi> serve(Synchronizer& sync) {
    service::HttpApiOptions o;
    o.port = 0;
    o.status = &status_;
    o.outcomes = &outcomes_;
    auto api = std::make_unique<service::HttpApi>(o, sync);
    if (const Status started = api->start(); !started.ok()) {
      fmt::print(stderr, "cannot serve the status page: {}\n", started.message);
      return nullptr;
    }
    return api;
  }

  // Blocks until SIGINT or SIGTERM.
  void wait_for_signal() {
    signals_.async_wait([](const boost::system::error_code&, int) {});
    io_.run();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  service::OutcomeTable outcomes_;
  service::StatusModel status_;
};

// Prompt `i` of the burst, for `session`, in that session's `round`-th
// interaction: only the deliberate corrections supersede anything.
AssistPrompt burst_prompt(int i, int session, int round) {
  AssistPrompt p;
  p.session_id = fmt::format("SESS-{:04}", session);
  p.agent_id = fmt::format("AGT-{:04}", session);
  p.interaction_id = fmt::format("INT-{:04}-{}", session, round);
  const bool crm = i % 2 == 0;
  p.snippets = {{fmt::format("KB-{}", 2000 + i % 97), "Confirm the caller's identity with two factors.",
                 {"security"}, crm ? "CRM" : "KNOWLEDGE_BASE"}};
  if (i % 3 == 0)
    p.snippets.push_back({"KB-3001", "Offer the loyalty upgrade if tenure exceeds 3 years.",
                          {"retention", "upsell"}, "KNOWLEDGE_BASE"});
  p.priority_level = 1 + i % 5;
  p.priority_override = p.priority_level >= 4 && i % 7 == 0;
  return p;
}

// Collects every outcome; thread-safe.
class Tally {
 public:
  void add(const SyncOutcome& o) {
    std::lock_guard lock(mu_);
    ++by_kind_[o.kind];
    if (o.kind == OutcomeKind::nacked) ++nacks_[std::string(to_string(o.nack_code))];
    if (o.kind == OutcomeKind::acked) latencies_.push_back(o.latency_seconds);
    ++finished_;
    cv_.notify_all();
  }
  void refused(const std::string& why) {
    std::lock_guard lock(mu_);
    ++refused_[why];
  }
  void adopted() { adopted_.fetch_add(1); }

  // Waits until `n` outcomes are in or `deadline` passes; returns how many are.
  std::size_t wait_for(std::size_t n, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return finished_ >= n; });
    return finished_;
  }
  std::size_t finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  std::size_t count(OutcomeKind k) {
    std::lock_guard lock(mu_);
    return by_kind_[k];
  }
  double percentile_ms(double p) {
    std::lock_guard lock(mu_);
    if (latencies_.empty()) return 0.0;
    auto v = latencies_;
    const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
    return v[at] * 1000.0;
  }
  std::map<std::string, std::size_t> nacks() {
    std::lock_guard lock(mu_);
    return nacks_;
  }
  std::map<std::string, std::size_t> refusals() {
    std::lock_guard lock(mu_);
    return refused_;
  }
  std::size_t adopted_count() const { return adopted_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<OutcomeKind, std::size_t> by_kind_;
  std::map<std::string, std::size_t> nacks_;
  std::map<std::string, std::size_t> refused_;
  std::vector<double> latencies_;
  std::size_t finished_ = 0;
  std::atomic<std::size_t> adopted_{0};
};

// A directory of the user's choosing, or a fresh temporary one removed when
// the demo ends (a run writes megabytes of audit log).
class AuditPlace {
 public:
  explicit AuditPlace(const std::string& chosen) : path_(chosen) {
    if (!path_.empty()) return;
    std::string pattern = (std::filesystem::temp_directory_path() / "assist-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory");
    temp_dir_ = pattern;
    path_ = (std::filesystem::path(temp_dir_) / "audit.jsonl").string();
  }
  ~AuditPlace() {
    std::error_code ignored;
    if (!temp_dir_.empty()) std::filesystem::remove_all(temp_dir_, ignored);
  }
  AuditPlace(const AuditPlace&) = delete;
  AuditPlace& operator=(const AuditPlace&) = delete;

  const std::string& path() const { return path_; }
  bool temporary() const { return !temp_dir_.empty(); }

 private:
  std::string path_;
  std::string temp_dir_;
};

// What the burst does on purpose, so the summary can say so.
struct BurstPlan {
  int prompts = 0;
  int corrections = 0;  // prompts followed at once by a correction
  int stale = 0;        // prompts produced 3 s ago
};

BurstPlan plan_of(const DemoOptions& opt) {
  BurstPlan plan;
  plan.prompts = opt.prompts;
  for (int i = 0; i < opt.prompts; ++i) {
    if (opt.supersede_every > 0 && i % opt.supersede_every == 0) ++plan.corrections;
    if (opt.stale_every > 0 && i % opt.stale_every == opt.stale_every - 1) ++plan.stale;
  }
  return plan;
}

// The outcome of every accepted prompt, and what the burst did on purpose.
void print_summary(Tally& tally, const BurstPlan& plan, std::size_t accepted, std::size_t finished, double elapsed,
                   const GatewayStats& stats) {
  auto row = [](std::string_view name, std::size_t n) { fmt::print("{:<34}{:>26}\n", name, n); };
  auto detail_row = [](std::string_view name, std::size_t n) { fmt::print("  {:<32}{:>26}\n", name, n); };
  const auto acked = tally.count(OutcomeKind::acked);
  fmt::print("\n{:=^60}\n", " assist-sync demo summary ");
  row("prompts accepted", accepted);
  detail_row("the example prompt", 1);
  detail_row("burst prompts", static_cast<std::size_t>(plan.prompts));
  detail_row("corrections sent on purpose", static_cast<std::size_t>(plan.corrections));
  row("acked (shown on an agent desktop)", acked);
  for (const auto& [code, n] : tally.nacks()) row("NACKed " + code, n);
  row("rejected: stale at write", tally.count(OutcomeKind::rejected_freshness));
  detail_row("produced 3 s ago on purpose", static_cast<std::size_t>(plan.stale));
  row("rejected: session queue full", tally.count(OutcomeKind::rejected_concurrency));
  row("superseded by a correction", tally.count(OutcomeKind::superseded));
  row("rejected: validation", tally.count(OutcomeKind::rejected_validation));
  row("failed", tally.count(OutcomeKind::failed));
  row("unconfirmed (may have been shown)", tally.count(OutcomeKind::unconfirmed));
  row("without an outcome", accepted - finished);
  for (const auto& [why, n] : tally.refusals()) row("refused before acceptance: " + why, n);
  fmt::print("{:<34}{:>23.3f} ms\n", "write->ACK latency p50", tally.percentile_ms(0.50));
  fmt::print("{:<34}{:>23.3f} ms\n", "write->ACK latency p99", tally.percentile_ms(0.99));
  fmt::print("{:<34}{:>25.1f}%\n", "adoption rate (adopted / acked)",
             acked ? 100.0 * static_cast<double>(tally.adopted_count()) / static_cast<double>(acked) : 0.0);
  row("gateway connections used", stats.connections_opened);
  row("shown on desktops (gateway)", stats.prompts_delivered);
  row("duplicates suppressed (gateway)", stats.duplicates_suppressed);
  row("order violations (gateway)", stats.order_violations);
  fmt::print("{:<34}{:>22.1f} s\n", "burst elapsed", elapsed);
}

// The embedded gateway: TLS with a self-signed certificate the synchronizer pins.
GatewayOptions demo_gateway_options() {
  GatewayOptions options;
  options.tls = true;
  options.desktop.send_feedback = true;
  options.desktop.adoption_probability = 0.35;
  options.desktop.feedback_delay = 20ms;
  return options;
}

// The synchronizer, pointed at `gateway`, auditing to `audit`, counting
// adoptions in `tally` (its CRM callback).
SynchronizerOptions demo_synchronizer_options(const Gateway& gateway, const AuditPlace& audit, Tally& tally) {
  SynchronizerOptions so;
  so.token.token_url = gateway.token_url();
  so.token.client_id = "demo-client";
  so.token.client_secret = "demo-secret";  // the emulator's built-in demo client
  so.token.tls.pin_sha256 = gateway.certificate_sha256();
  so.realtime.realtime_url = gateway.realtime_url();
  so.realtime.tls.pin_sha256 = gateway.certificate_sha256();
  so.realtime.max_connections = 8;
  so.audit.path = audit.path();
  so.crm_callback = [&tally](const std::string&, const CrmUpdate& n) {
    if (n.adopted) tally.adopted();
  };
  return so;
}

// The source's example prompt, end to end; nullopt when it was refused.
std::optional<SyncOutcome> run_example(Synchronizer& sync, Tally& tally) {
  auto first = sync.sync_prompt(source_example_prompt());
  if (!first) {
    fmt::print(stderr, "assist-sync demo: example prompt refused: {}\n", first.error().message);
    return std::nullopt;
  }
  const auto example = first.value().future().wait_for(10s) == std::future_status::ready
                           ? first.value().wait()
                           : SyncOutcome{};
  fmt::print("example prompt SESS-998877 / INT-112233: {} (frame {}, sequence {}, {:.3f} ms)\n",
             to_string(example.kind), first.value().frame_id(), example.sequence,
             example.latency_seconds * 1000.0);
  tally.add(example);
  return example;
}

struct BurstResult {
  std::size_t accepted = 0;  // the prompts accepted before it included
  std::size_t finished = 0;
  double elapsed = 0.0;  // seconds, from the first submission until every outcome (or 30 s)
};

// A realistic burst over many sessions, so the pool opens several
// connections; waits up to 30 s for the outcome of every prompt accepted,
// the `accepted_before` it (the example) included.
BurstResult run_burst(Synchronizer& sync, const DemoOptions& opt, const BurstPlan& plan, Tally& tally,
                      std::size_t accepted_before) {
  fmt::print("sending {} prompts over {} sessions at {:.0f}/s; on purpose, {} are followed at once by a "
             "correction (superseding them when still queued) and {} were produced 3 s ago (too old to show)...\n",
             plan.prompts, opt.sessions, opt.rate, plan.corrections, plan.stale);
  BurstResult result{accepted_before};
  const auto t0 = std::chrono::steady_clock::now();
  auto submit = [&](AssistPrompt p) {
    auto r = sync.sync_prompt(std::move(p));
    if (!r) {
      tally.refused(r.error().code.message());
      return;
    }
    ++result.accepted;
    r.value().then([&tally](const SyncOutcome& o) { tally.add(o); });
  };
  auto last_report = t0;
  for (int i = 0; i < opt.prompts; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                           std::chrono::duration<double>(i / opt.rate)));
    auto p = burst_prompt(i, i % opt.sessions, i / opt.sessions);
    if (opt.stale_every > 0 && i % opt.stale_every == opt.stale_every - 1)
      p.timestamp = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - 3.0;
    const bool correct = opt.supersede_every > 0 && i % opt.supersede_every == 0;
    auto correction = p;
    submit(std::move(p));
    if (correct) {
      correction.snippets[0].content += " (updated guidance)";
      submit(std::move(correction));
    }
    if (const auto now = std::chrono::steady_clock::now(); now - last_report > 500ms) {
      fmt::print("  submitted {:>6}  finished {:>6}  acked {:>6}\n", result.accepted, tally.finished(),
                 tally.count(OutcomeKind::acked));
      last_report = now;
    }
  }
  result.finished = tally.wait_for(result.accepted, std::chrono::steady_clock::now() + 30s);
  result.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

// The audit file and what verifying its chain found.
void print_audit_verdict(const AuditPlace& audit, const AuditVerifyReport& report) {
  fmt::print("{:<34}{:>26}\n", "audit file", audit.temporary() ? "temporary, removed at exit" : audit.path());
  if (audit.temporary()) fmt::print("  (--audit FILE keeps it)\n");
  fmt::print("{:<34}{:>26}\n", "audit verify",
             report.ok() ? fmt::format("OK, {} lines", report.lines)
                         : fmt::format("{} problems", report.problems.size()));
  for (const auto& p : report.problems) fmt::print("  {}\n", p.describe());
  fmt::print("{:=^60}\n", "");
}

int run_demo(const DemoOptions& opt) {
  // First: it adds a sink to the logger, which no other thread may use yet.
  std::optional<HeldService> held;
  if (opt.hold) held.emplace();

  Gateway gateway(demo_gateway_options());
  if (const Status started = gateway.start(); !started.ok()) {
    fmt::print(stderr, "assist-sync demo: cannot start the gateway emulator: {}\n", started.message);
    return exit_code::failure;
  }
  fmt::print("gateway emulator on {} (TLS, certificate sha256 {})\n", gateway.realtime_url(),
             gateway.certificate_sha256());

  Tally tally;
  const AuditPlace audit(opt.audit_path);
  auto so = demo_synchronizer_options(gateway, audit, tally);
  if (held) so.observer = held->observer();
  Synchronizer sync(so);
  if (const Status started = sync.start(); !started.ok()) {
    fmt::print(stderr, "assist-sync demo: cannot start: {}\n", started.message);
    return exit_code::failure;
  }
  const auto api = held ? held->serve(sync) : nullptr;
  if (held && !api) return 1;
  if (api) {
    fmt::print("status page: {}/ (live during the burst, and after it until Ctrl-C)\n", api->url());
    std::fflush(stdout);
  }

  const auto example = run_example(sync, tally);
  if (!example) return exit_code::failure;
  const auto plan = plan_of(opt);
  const auto burst = run_burst(sync, opt, plan, tally, 1);
  std::this_thread::sleep_for(100ms);  // let late adoption feedback arrive before the summary
  if (api) {
    fmt::print("burst done; the service stays up: status page {}/, metrics {}/metrics\n"
               "press Ctrl-C (or send SIGTERM) to stop and print the summary\n",
               api->url(), api->url());
    std::fflush(stdout);
    held->wait_for_signal();
    api->stop_accepting();
  }
  sync.stop();
  if (api) api->stop(1s);
  const auto stats = gateway.stats();
  gateway.stop();

  const auto report = verify_audit(audit_chain_files(so.audit.path));
  print_summary(tally, plan, burst.accepted, burst.finished, burst.elapsed, stats);
  print_audit_verdict(audit, report);
  if (burst.finished < burst.accepted) {
    fmt::print(stderr, "assist-sync demo: {} prompts have no terminal outcome\n", burst.accepted - burst.finished);
    return exit_code::failure;
  }
  return report.ok() && example->kind == OutcomeKind::acked ? exit_code::ok : exit_code::failure;
}

}  // namespace

std::function<int()> add_demo_command(CLI::App& app) {
  auto opt = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Run the source's example and a burst against the embedded gateway emulator");
  cmd->add_option("--prompts", opt->prompts, "prompts in the burst")->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--sessions", opt->sessions, "sessions the burst spreads over")->check(CLI::Range(1, 100'000));
  cmd->add_option("--rate", opt->rate, "prompts per second offered in the burst")->check(CLI::Range(1.0, 1e6));
  cmd->add_option("--audit", opt->audit_path,
                  "audit log file, kept (default: a temporary directory, removed when the demo ends)");
  cmd->add_flag("--hold", opt->hold,
                "serve the status page (and /metrics, /v1/status) on 127.0.0.1 during the burst, and keep the "
                "service up after it until Ctrl-C or SIGTERM");
  document(*cmd, {{"assist-sync demo", "assist-sync demo --prompts 2000 --sessions 100 --rate 1000",
                   "assist-sync demo --audit demo.jsonl && assist-sync audit verify demo.jsonl",
                   "assist-sync demo --hold   # then open the status page it prints"},
                  {{"TMPDIR", "where the temporary audit directory goes (default /tmp)"}},
                  {{exit_code::ok, "the example was acked, every prompt has an outcome, the audit chain is intact"},
                   {exit_code::failure, "any of those is not so, or the demo cannot start"},
                   {exit_code::usage, "bad usage"}}});
  return [cmd, opt]() -> int {
    if (!*cmd) return -1;
    try {
      return run_demo(*opt);
    } catch (const std::exception& e) {
      fmt::print(stderr, "assist-sync demo: {}\n", e.what());
      return exit_code::failure;
    }
  };
}

}  // namespace assist::cli
