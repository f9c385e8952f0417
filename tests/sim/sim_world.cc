#include "sim/sim_world.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/clock.h"
#include "sim/sim_gateway.h"
#include "sync/synchronizer_core.h"

namespace assist::sim {

namespace {

using namespace std::chrono_literals;

// What the producer does, and the run's shape; drawn per seed.
struct Scenario {
  FaultPlan faults;
  int sessions = 5;
  int prompts = 100;
  double duration_s = 30;
  double stop_at_s = 30;
  double flood_p = 0;     // a prompt is a flood of 30-120 prompts instead
  double stale_p = 0;     // produced 1-4 s before it is submitted
  double future_p = 0;    // stamped ahead of the clock
  double override_p = 0.1;
  double same_interaction_p = 0.3;  // supersedes an unsent prompt of its session
  double throw_p = 0;     // its outcome callback throws
  int clock_jumps = 0;    // wall-clock steps of up to +-3 s
};

Scenario draw_scenario(SeededRandom& r) {
  const auto maybe = [&r](double p, double value) { return r.uniform() < p ? value * (0.2 + r.uniform()) : 0.0; };
  Scenario s;
  auto& f = s.faults;
  f.token_ttl_s = r.uniform() < 0.3 ? 4.0 : 1800.0;
  f.first_token_429 = r.uniform() < 0.3;
  f.token_5xx_p = maybe(0.3, 0.2);
  f.token_timeout_p = maybe(0.1, 0.1);
  f.refuse_401_p = maybe(0.2, 0.1);
  f.refuse_429_p = maybe(0.2, 0.2);
  f.refuse_503_p = maybe(0.2, 0.2);
  f.net_delay_max_ms = 0.1 + r.uniform() * 1.9;
  f.ack_delay_max_ms = 1 + r.uniform() * 40;
  f.slow_ack_p = maybe(0.3, 0.05);
  f.slow_ack_ms = 100 + r.uniform() * 2000;
  f.drop_p = maybe(0.5, 0.01);
  f.half_open_p = maybe(0.2, 0.003);
  f.stop_acking_p = maybe(0.2, 0.003);
  f.going_away_p = maybe(0.2, 0.003);
  f.nack_p = maybe(0.3, 0.05);
  f.session_ended_p = maybe(0.5, 0.05);
  f.feedback_p = maybe(0.5, 0.2);
  f.max_sessions = 1 + static_cast<std::uint32_t>(r.uniform() * 4);
  f.max_inflight = 1 + static_cast<std::uint32_t>(r.uniform() * 32);
  s.sessions = 1 + static_cast<int>(r.uniform() * 10);
  s.prompts = 10 + static_cast<int>(r.uniform() * 150);
  s.duration_s = 5 + r.uniform() * 40;
  s.stop_at_s = r.uniform() < 0.3 ? r.uniform() * s.duration_s : s.duration_s + 5;
  s.flood_p = maybe(0.3, 0.03);
  s.stale_p = maybe(0.3, 0.1);
  s.future_p = maybe(0.2, 0.05);
  s.override_p = r.uniform() * 0.3;
  s.same_interaction_p = r.uniform() * 0.6;
  s.throw_p = maybe(0.3, 0.1);
  s.clock_jumps = r.uniform() < 0.2 ? 1 + static_cast<int>(r.uniform() * 3) : 0;
  return s;
}

SynchronizerOptions client_options(ManualClock& clock, Random& random) {
  SynchronizerOptions o;
  o.token.token_url = "http://sim.invalid/oauth/token";
  o.token.client_id = "sim";
  o.token.client_secret = "sim-secret";
  o.token.backoff = {100ms, 2.0, 2000ms};
  o.token.max_total = 20'000ms;
  o.token.retry_after_cap = 5'000ms;
  o.realtime.realtime_url = "ws://sim.invalid/realtime/v1";
  o.realtime.ping_interval = 2'000ms;
  o.realtime.pong_timeout = 1'000ms;
  o.realtime.handshake_timeout = 2'000ms;
  o.realtime.reconnect = {100ms, 2.0, 2'000ms};
  o.realtime.healthy_reset_after = 10'000ms;
  o.realtime.ack_timeout = 3'000ms;
  o.realtime.max_connections = 3;
  o.realtime.idle_close_after = 5'000ms;
  o.realtime.rotation_drain = 1'000ms;
  o.max_pending = 150;
  o.max_queued_per_session = 8;
  o.stop_drain = 2'000ms;
  o.clock = &clock;
  o.random = &random;
  return o;
}

// One producer action at a moment of the run.
struct Action {
  double at = 0;
  std::function<void()> run;
};

class World {
 public:
  World(std::uint64_t seed, bool verbose)
      : seed_(seed),
        plan_random_(seed),
        scenario_(draw_scenario(plan_random_)),
        client_random_(seed ^ 0x5eed5eed5eedULL),
        options_(client_options(clock_, client_random_)),
        core_(options_, sync::Seams{[this] { return gateway_->connections()(); },
                                    [this] { return gateway_->token_transport()(); }, false, seed}),
        gateway_(std::make_unique<SimGateway>(core_.io().get_executor(), clock_, seed * 7919 + 1, scenario_.faults,
                                              options_.freshness_seconds)) {
    gateway_->trace(verbose);
  }

  SimResult run();

 private:
  // Runs the loop until `t` (seconds since the start): every handler due,
  // the clock jumping from alarm to alarm.
  void run_until(double t);
  void check(bool condition, std::string what) {
    if (!condition) result_.violations.push_back(std::move(what));
  }
  std::vector<Action> schedule();
  void submit(int session, bool stale, bool future);
  void check_outcomes();
  double now_s() const {
    return std::chrono::duration<double>(clock_.steady_now() - start_).count();
  }

  struct Tracked {
    int outcomes = 0;
    OutcomeKind kind = OutcomeKind::failed;
    std::string reason;
  };

  std::uint64_t seed_;
  SeededRandom plan_random_;
  Scenario scenario_;
  ManualClock clock_{1'700'000'000.0};
  SeededRandom client_random_;
  SynchronizerOptions options_;
  sync::SynchronizerCore core_;
  std::unique_ptr<SimGateway> gateway_;  // made after core_, whose executor it runs on
  Clock::steady_time start_ = clock_.steady_now();
  std::map<std::string, std::shared_ptr<Tracked>> accepted_;  // by frame_id
  std::vector<std::string> interactions_;                     // per session, the current one
  std::uint64_t throws_expected_ = 0;
  std::shared_ptr<std::uint64_t> throws_done_ = std::make_shared<std::uint64_t>(0);
  std::uint64_t refused_ = 0;
  std::uint64_t next_interaction_ = 0;
  bool livelock_ = false;
  SimResult result_;
};

void World::run_until(double t) {
  const auto target = start_ + std::chrono::duration_cast<Clock::steady_time::duration>(std::chrono::duration<double>(t));
  std::uint64_t handlers = 0;
  for (;;) {
    while (auto n = core_.io().poll()) {
      handlers += n;
      if (handlers > 20'000'000 && !livelock_) {
        livelock_ = true;
        check(false, fmt::format("livelock: handlers keep running at t={:.3f} s without time passing", now_s()));
        return;
      }
    }
    if (!clock_.advance_to_next_alarm(target)) break;
  }
  while (core_.io().poll() > 0) {
  }
}

void World::submit(int session, bool stale, bool future) {
  const double now = clock_.unix_now();
  AssistPrompt p;
  p.session_id = fmt::format("S{}", session);
  p.agent_id = fmt::format("A{}", session);
  auto& interaction = interactions_[static_cast<std::size_t>(session)];
  if (interaction.empty() || plan_random_.uniform() >= scenario_.same_interaction_p)
    interaction = fmt::format("I{}", next_interaction_++);
  p.interaction_id = interaction;
  p.snippets.push_back(KnowledgeSnippet{"KB-1", "Verify the account.", {"billing"}, "CRM"});
  p.priority_level = 1 + static_cast<int>(plan_random_.uniform() * 5);
  p.priority_override = p.priority_level >= 4 && plan_random_.uniform() < scenario_.override_p;
  p.ttl_seconds = 10 + static_cast<int>(plan_random_.uniform() * 111);
  p.timestamp = now;
  if (stale) p.timestamp = now - (1.0 + plan_random_.uniform() * 3.0);
  if (future) p.timestamp = now + 1.5 + plan_random_.uniform() * 3600.0;
  const bool throws = plan_random_.uniform() < scenario_.throw_p;
  const bool may_be_refused_as_future = future;
  auto submitted = core_.submit(std::move(p));
  if (!submitted) {
    ++refused_;
    return;
  }
  check(!may_be_refused_as_future,
        fmt::format("a prompt stamped ahead of the clock beyond the allowed skew was accepted ({})",
                    submitted.value().frame_id()));
  auto tracked = std::make_shared<Tracked>();
  accepted_.emplace(submitted.value().frame_id(), tracked);
  if (throws) ++throws_expected_;
  submitted.value().then([tracked, throws, done = throws_done_](const SyncOutcome& o) {
    ++tracked->outcomes;
    tracked->kind = o.kind;
    tracked->reason = o.reason;
    if (throws) {
      ++*done;
      throw std::runtime_error("a user's outcome callback fails");
    }
  });
}

std::vector<Action> World::schedule() {
  std::vector<Action> actions;
  for (int i = 0; i < scenario_.prompts; ++i) {
    const double at = plan_random_.uniform() * scenario_.duration_s;
    const int count = plan_random_.uniform() < scenario_.flood_p ? 30 + static_cast<int>(plan_random_.uniform() * 90) : 1;
    const bool stale = plan_random_.uniform() < scenario_.stale_p;
    const bool future = plan_random_.uniform() < scenario_.future_p;
    const int session = static_cast<int>(plan_random_.uniform() * scenario_.sessions);
    actions.push_back({at, [this, count, stale, future, session] {
                         for (int k = 0; k < count; ++k)
                           submit(count == 1 ? session : (session + k) % scenario_.sessions, stale, future && k == 0);
                       }});
  }
  for (int j = 0; j < scenario_.clock_jumps; ++j) {
    const double at = plan_random_.uniform() * scenario_.duration_s;
    const double step = (plan_random_.uniform() - 0.5) * 6.0;
    actions.push_back({at, [this, step] { clock_.jump_unix(step); }});
  }
  std::stable_sort(actions.begin(), actions.end(), [](const Action& a, const Action& b) { return a.at < b.at; });
  return actions;
}

void World::check_outcomes() {
  const auto& shown = gateway_->ledger().shown;
  for (const auto& [frame_id, t] : accepted_) {
    if (t->outcomes != 1) {
      check(false, fmt::format("prompt {} ended {} times (exactly once expected)", frame_id, t->outcomes));
      continue;
    }
    const bool was_shown = shown.count(frame_id) > 0;
    switch (t->kind) {
      case OutcomeKind::acked:
        check(was_shown, fmt::format("prompt {} ACKED but never reached a desktop", frame_id));
        break;
      case OutcomeKind::unconfirmed:
        break;  // may or may not have been shown: that is what it says
      default:
        check(!was_shown, fmt::format("prompt {} recorded {} ({}) but it was shown", frame_id, to_string(t->kind),
                                      t->reason));
    }
  }
}

SimResult World::run() {
  result_.seed = seed_;
  interactions_.resize(static_cast<std::size_t>(scenario_.sessions));
  if (const auto started = core_.start(); !started.ok()) {
    check(false, "start() failed: " + started.message);
    return result_;
  }
  for (auto& action : schedule()) {
    if (action.at >= scenario_.stop_at_s || livelock_) break;
    run_until(action.at);
    action.run();
  }
  run_until(std::min(scenario_.stop_at_s, scenario_.duration_s + 5));
  const double stop_started = now_s();
  core_.begin_stop();
  const double bound = std::chrono::duration<double>(options_.stop_drain).count() + 0.5;
  while (!core_.stop_drained() && !livelock_ && now_s() < stop_started + bound + 60) run_until(now_s() + 0.1);
  check(core_.stop_drained() && now_s() <= stop_started + bound,
        fmt::format("stop() took {:.3f} s (bound {:.3f} s)", now_s() - stop_started, bound));
  core_.stop();
  // A prompt offered after stop() is refused, never accepted and lost.
  AssistPrompt late;
  late.session_id = "late";
  check(!core_.submit(std::move(late)), "a prompt was accepted after stop()");
  check_outcomes();
  for (const auto& v : gateway_->ledger().violations) check(false, "gateway: " + v);
  check(*throws_done_ == throws_expected_ && core_.metrics().callback_errors == throws_expected_,
        fmt::format("{} throwing callbacks, {} ran, {} counted", throws_expected_, *throws_done_,
                    core_.metrics().callback_errors));
  std::map<OutcomeKind, int> kinds;
  for (const auto& [id, t] : accepted_) ++kinds[t->kind];
  std::string by_kind;
  for (const auto& [kind, n] : kinds) by_kind += fmt::format(" {}={}", to_string(kind), n);
  const auto& l = gateway_->ledger();
  result_.summary = fmt::format(
      "seed {}: {:.1f} s simulated; accepted {} refused {};{}; frames {} shown {} duplicates {} connections {} "
      "tokens {}",
      seed_, now_s(), accepted_.size(), refused_, by_kind, l.frames, l.shown.size(), l.duplicates, l.connections,
      l.tokens);
  return result_;
}

}  // namespace

SimResult run_simulation(std::uint64_t seed, bool verbose) {
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::off);
  World world(seed, verbose);
  return world.run();
}

}  // namespace assist::sim
