#include "ingest/jetstream_ingest.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "assist/frame_id.h"
#include "bus/bus_error.h"
#include "bus/partition.h"
#include "bus/partition_owner.h"
#include "bus/subscription.h"
#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "ingest/acknowledger.h"
#include "ingest/partition_worker.h"
#include "ingest/prompt_stream.h"
#include "sync/intake.h"
#include "sync/prompt_ticket.h"
#include "util/logger.h"

namespace assist::ingest {

using detail::LogRecord;
using Steady = std::chrono::steady_clock;

namespace {

// How long a ticket waits for its outcome to appear on the outcomes stream
// before it is forgotten (its prompt is in some instance's audit log).
constexpr auto kWaiterHorizon = std::chrono::minutes(10);

Status bad_option(std::string message) { return Status{make_error_code(bus::BusErrc::bad_config), std::move(message)}; }

}  // namespace

struct JetStreamIngest::Impl {
  Impl(IngestOptions o, Synchronizer& s) : options(std::move(o)), sync(s) {}

  Status check_options() const {
    if (options.connect.servers.empty()) return bad_option("ingest: no NATS server given (servers)");
    if (options.partitions < 1 || options.partitions > 1024)
      return bad_option(fmt::format("ingest: partitions {} is outside 1..1024", options.partitions));
    if (options.lease_ttl.count() <= 0) return bad_option("ingest: lease_ttl must be positive");
    // A redelivery must find its prompt stale: never written twice while fresh.
    if (std::chrono::duration<double>(options.ack_wait).count() <= options.acceptance.freshness_seconds)
      return bad_option(fmt::format("ingest: ack_wait ({} ms) must be longer than the freshness threshold ({} s)",
                                    options.ack_wait.count(), options.acceptance.freshness_seconds));
    if (options.instance_id.empty()) return bad_option("ingest: instance_id is empty");
    if (options.replicas < 1 || options.replicas > 5)
      return bad_option(fmt::format("ingest: replicas {} is outside 1..5", options.replicas));
    if (options.max_age.count() != 0 &&
        (options.max_age < bus::StreamConfig{}.duplicate_window || options.max_age <= options.ack_wait))
      return bad_option(fmt::format(
          "ingest: max_age ({} ms) must be at least the duplicate window (2 min) and longer than ack_wait ({} ms)",
          options.max_age.count(), options.ack_wait.count()));
    return {};
  }

  // ----- the route -------------------------------------------------------------

  void submit(AssistPrompt prompt, std::function<void(SubmitResult)> done) {
    if (auto violations = sync::prepare_for_acceptance(prompt, options.acceptance, system_clock().unix_now());
        !violations.empty()) {
      auto message = "invalid prompt: " + describe(violations);
      done(sync::submit_error(SubmitErrc::invalid_prompt, std::move(message), std::move(violations)));
      return;
    }
    std::shared_lock lock(connection_mu);
    if (!connection || !connected.load()) {
      publish_failures.fetch_add(1);
      done(sync::submit_error(SubmitErrc::ingest_unavailable, "scale-out ingest: " + problem().message));
      return;
    }
    std::string frame_id;
    {
      std::lock_guard ids_lock(ids_mu);
      frame_id = ids.next();
    }
    const auto partition = bus::partition_of(prompt.session_id, options.partitions);
    auto state = std::make_shared<PromptTicket::State>(frame_id, tickets);
    await_outcome(frame_id, state);
    connection->publish_async(
        prompt_subject(partition), encode_prompt_message(frame_id, prompt), frame_id,
        [this, state, frame_id, done = std::move(done)](Result<bus::PublishAck> stored) {
          if (!stored) {
            forget_waiter(frame_id);
            publish_failures.fetch_add(1);
            done(sync::submit_error(SubmitErrc::ingest_unavailable,
                         "scale-out ingest: the prompt stream did not store it: " + stored.error().message));
            return;
          }
          published.fetch_add(1);
          if (options.observer) options.observer->on_accepted(frame_id);
          done(TicketFactory::issue(state));
        });
  }

  void await_outcome(const std::string& frame_id, const std::shared_ptr<PromptTicket::State>& state) {
    const auto now = Steady::now();
    std::lock_guard lock(waiters_mu);
    while (!waiter_order.empty() && now - waiter_order.front().first > kWaiterHorizon) {
      waiters.erase(waiter_order.front().second);
      waiter_order.pop_front();
    }
    waiters[frame_id] = state;
    waiter_order.emplace_back(now, frame_id);
  }

  void forget_waiter(const std::string& frame_id) {
    std::lock_guard lock(waiters_mu);
    waiters.erase(frame_id);
  }

  // An outcome on the stream: the ticket of a prompt this instance accepted, if any.
  void on_outcome_message(std::string_view data) {
    auto outcome = decode_outcome_message(data);
    if (!outcome) return;
    std::shared_ptr<PromptTicket::State> state;
    {
      std::lock_guard lock(waiters_mu);
      auto it = waiters.find(outcome->frame_id);
      if (it == waiters.end()) return;  // accepted elsewhere, or a second publication
      state = it->second.lock();
      waiters.erase(it);
    }
    if (options.observer) options.observer->on_outcome(*outcome);
    if (state) state->complete(*outcome);
  }

  // ----- the lifecycle thread ------------------------------------------------

  void run() {
    if (connect_with_backoff()) {
      const auto interval = std::max(options.lease_ttl / 3, std::chrono::milliseconds(1));
      while (!wait_for_stop(interval)) tick();
      drain();
    }
    close();
  }

  // True once stop() was called, after waiting at most `time` for it.
  bool wait_for_stop(std::chrono::milliseconds time) {
    std::unique_lock lock(stop_mu);
    return stop_cv.wait_for(lock, time, [&] { return stopping; });
  }

  bool connect_with_backoff() {
    auto backoff = options.retry_initial;
    for (;;) {
      const Status opened = open();
      if (opened.ok()) {
        set_problem({});
        log->info(LogRecord("scale-out ingest connected to NATS")
                      .with("servers", shown_servers())
                      .with("instance", options.instance_id)
                      .with("stream", options.stream));
        tick();
        return true;
      }
      set_problem(opened);
      log->error(LogRecord("scale-out ingest cannot use NATS: retrying")
                     .with("reason", opened.message)
                     .with("retry_in_ms", static_cast<std::int64_t>(backoff.count()))
                     .error(opened.code));
      if (wait_for_stop(backoff)) return false;
      backoff = std::min(backoff * 2, options.retry_max);
    }
  }

  std::string shown_servers() const {
    std::string out;
    for (const auto& s : options.connect.servers) out += (out.empty() ? "" : ",") + bus::shown_server_url(s);
    return out;
  }

  // Connects, makes sure of both streams, then opens the lease bucket and the outcome feed.
  Status open() {
    auto connect_options = options.connect;
    connect_options.on_connection_change = [this](bool up) {
      connected.store(up);
      if (!up) set_problem(Status{make_error_code(bus::BusErrc::unreachable), "the connection to NATS is lost; reconnecting"});
      else set_problem({});
    };
    auto opened = bus::Connection::connect(std::move(connect_options));
    if (!opened) return opened.error();
    auto& c = *opened.value();
    if (Status s = c.ensure_stream(stream_config(options.stream, kPromptSubjects)); !s.ok()) return s;
    if (Status s = c.ensure_stream(stream_config(outcome_stream_name(options.stream), kOutcomeSubjects)); !s.ok())
      return s;
    auto owned = bus::PartitionOwner::open(c, owner_options());
    if (!owned) return owned.error();
    auto feed = bus::Subscription::open(c, std::string(kOutcomeSubjects),
                                        [this](std::string_view, std::string_view data) { on_outcome_message(data); });
    if (!feed) return feed.error();
    outcome_feed.emplace(std::move(feed).value());
    owner.emplace(std::move(owned).value());
    std::unique_lock lock(connection_mu);
    acknowledger = std::make_shared<Acknowledger>(sync, c, options.instance_id, log);
    connection = std::move(opened).value();
    connected.store(true);
    return {};
  }

  bus::StreamConfig stream_config(std::string name, std::string_view subjects) const {
    bus::StreamConfig config;
    config.name = std::move(name);
    config.subjects = {std::string(subjects)};
    config.replicas = options.replicas;
    config.max_age = options.max_age;
    return config;
  }

  bus::PartitionOwnerOptions owner_options() {
    bus::PartitionOwnerOptions o;
    o.replicas = options.replicas;
    o.instance_id = options.instance_id;
    o.partitions = options.partitions;
    o.lease_ttl = options.lease_ttl;
    o.on_acquired = [this](std::uint32_t p) {
      if (!draining) consume(p);
    };
    o.on_lost = [this](std::uint32_t p) { retire(p); };
    return o;
  }

  void tick() {
    if (const Status ticked = owner->tick(); !ticked.ok())
      log->warn(LogRecord("partition leases not renewed").with("reason", ticked.message).error(ticked.code));
    if (draining) return;
    for (const auto p : std::set<std::uint32_t>(unconsumed)) consume(p);  // consumers that failed to open
  }

  void consume(std::uint32_t partition) {
    bus::ConsumerConfig config;
    config.stream = options.stream;
    config.durable = fmt::format("partition-{}", partition);
    config.subject = prompt_subject(partition);
    config.ack_wait = options.ack_wait;
    auto consumer = bus::PullConsumer::open(*connection, config);
    if (!consumer) {
      unconsumed.insert(partition);
      log->warn(LogRecord("cannot open the partition's consumer: retrying at the next renewal")
                    .with("partition", partition)
                    .with("reason", consumer.error().message));
      return;
    }
    unconsumed.erase(partition);
    workers[partition] = std::make_unique<PartitionWorker>(
        partition, std::make_shared<bus::PullConsumer>(std::move(consumer).value()), sync, acknowledger, counters, log);
    partitions_held.fetch_add(1);
    log->info(LogRecord("partition taken").with("partition", partition).with("instance", options.instance_id));
  }

  void retire(std::uint32_t partition) {
    unconsumed.erase(partition);
    auto it = workers.find(partition);
    if (it == workers.end()) return;
    workers.erase(it);  // stops fetching; what it handed over is still acknowledged
    partitions_held.fetch_sub(1);
    log->info(LogRecord("partition given up").with("partition", partition).with("instance", options.instance_id));
  }

  // Stops fetching, lets what was taken be acknowledged (the leases renewed
  // meanwhile), then hands the partitions over at once.
  void drain() {
    draining = true;
    workers.clear();
    partitions_held.store(0);
    const auto deadline = Steady::now() + drain_for;
    const auto interval = std::max(options.lease_ttl / 3, std::chrono::milliseconds(1));
    while (!acknowledger->wait_idle(std::min(deadline, Steady::now() + interval)) && Steady::now() < deadline) tick();
    if (const auto left = acknowledger->taken(); left > 0)
      log->warn(LogRecord("stopping with prompts not yet acknowledged: they will be redelivered")
                    .with("prompts", static_cast<std::uint64_t>(left)));
    if (!connected.load()) {
      // Each release would wait for its timeout: the leases expire after their TTL instead.
      log->warn(LogRecord("NATS unreachable: partition leases left to expire after their TTL"));
      return;
    }
    if (const Status released = owner->stop(); !released.ok())
      log->warn(LogRecord("partition leases not released: they expire after their TTL").with("reason", released.message));
  }

  void close() {
    if (acknowledger) acknowledger->stop();
    outcome_feed.reset();
    owner.reset();
    std::unique_lock lock(connection_mu);
    connected.store(false);
    connection.reset();  // completes the publications still waiting, with an error
  }

  Status problem() const {
    std::lock_guard lock(problem_mu);
    if (problem_.ok()) return Status{make_error_code(bus::BusErrc::unreachable), "not connected to NATS yet"};
    return problem_;
  }
  void set_problem(Status s) {
    std::lock_guard lock(problem_mu);
    problem_ = std::move(s);
  }

  Status health() const {
    std::shared_lock lock(connection_mu);
    if (connection && connected.load()) return {};
    return problem();
  }

  IngestStats stats() const {
    IngestStats s;
    s.published = published.load();
    s.publish_failures = publish_failures.load();
    s.consumed = counters.submitted.load();
    s.redelivered = counters.redelivered.load();
    s.malformed = counters.malformed.load();
    s.partitions_held = partitions_held.load();
    std::shared_lock lock(connection_mu);
    if (acknowledger) s.acknowledged = acknowledger->counts().acknowledged;
    return s;
  }

  void stop(std::chrono::milliseconds drain) {
    {
      std::lock_guard lock(stop_mu);
      if (!stopping) drain_for = drain;
      stopping = true;
    }
    stop_cv.notify_all();
    std::lock_guard join_lock(join_mu);
    if (thread.joinable()) thread.join();
  }

  IngestOptions options;
  Synchronizer& sync;
  const util::LoggerPtr log = util::Logger::process_default();
  const std::shared_ptr<TicketContext> tickets = std::make_shared<TicketContext>(log);

  std::mutex ids_mu;
  FrameIdGenerator ids;

  std::mutex waiters_mu;  // guards the two below
  std::unordered_map<std::string, std::weak_ptr<PromptTicket::State>> waiters;
  std::deque<std::pair<Steady::time_point, std::string>> waiter_order;

  mutable std::shared_mutex connection_mu;  // submit() reads `connection` while the lifecycle thread may reset it
  std::unique_ptr<bus::Connection> connection;
  std::atomic<bool> connected{false};
  mutable std::mutex problem_mu;
  Status problem_;

  std::shared_ptr<Acknowledger> acknowledger;  // set under connection_mu; kept until destruction
  // The lifecycle thread's.
  std::optional<bus::Subscription> outcome_feed;
  std::optional<bus::PartitionOwner> owner;
  std::map<std::uint32_t, std::unique_ptr<PartitionWorker>> workers;
  std::set<std::uint32_t> unconsumed;  // held, its consumer not open yet
  bool draining = false;

  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> publish_failures{0};
  ConsumeCounters counters;
  std::atomic<std::uint64_t> partitions_held{0};

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::chrono::milliseconds drain_for{0};
  std::mutex join_mu;
  std::thread thread;
};

std::string prometheus_text(const IngestStats& s, bool healthy) {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    out += fmt::format("# HELP assist_sync_ingest_{0} {1}\n# TYPE assist_sync_ingest_{0} {2}\nassist_sync_ingest_{0} {3}\n",
                       name, help, type, value);
  };
  metric("nats_up", "gauge", "1 while connected to NATS with the streams in place, else 0.", healthy ? 1 : 0);
  metric("published_total", "counter", "Prompts accepted here and stored by JetStream.", s.published);
  metric("publish_failures_total", "counter", "Prompts refused because JetStream did not store them (503).",
         s.publish_failures);
  metric("consumed_total", "counter", "Prompts taken from this instance's partitions into its synchronizer.", s.consumed);
  metric("redelivered_total", "counter", "Of those, prompts delivered before (an earlier owner died or stalled).",
         s.redelivered);
  metric("malformed_total", "counter", "Stream messages that were not PROMPT_SYNC frames (logged, dropped).",
         s.malformed);
  metric("acknowledged_total", "counter", "Messages acknowledged after their outcome was audited.", s.acknowledged);
  metric("partitions_held", "gauge", "Partitions this instance holds and consumes.", s.partitions_held);
  return out;
}

JetStreamIngest::JetStreamIngest(IngestOptions options, Synchronizer& sync)
    : impl_(std::make_unique<Impl>(std::move(options), sync)) {}

JetStreamIngest::~JetStreamIngest() { stop(std::chrono::milliseconds(0)); }

Status JetStreamIngest::start() {
  if (Status checked = impl_->check_options(); !checked.ok()) return checked;
  if (!impl_->thread.joinable()) impl_->thread = detail::named_thread("assist-ingest", [impl = impl_.get()] { impl->run(); });
  return {};
}

void JetStreamIngest::submit(AssistPrompt prompt, std::function<void(SubmitResult)> done) {
  impl_->submit(std::move(prompt), std::move(done));
}

Status JetStreamIngest::health() const { return impl_->health(); }
IngestStats JetStreamIngest::stats() const { return impl_->stats(); }
void JetStreamIngest::stop(std::chrono::milliseconds drain) { impl_->stop(drain); }

}  // namespace assist::ingest
