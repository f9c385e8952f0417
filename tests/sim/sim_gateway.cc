#include "sim/sim_gateway.h"

#include <deque>

#include <fmt/format.h>

#include "util/spawn.h"
#include "util/timer.h"

namespace assist::sim {

namespace asio = boost::asio;
using std::chrono::microseconds;

namespace {

asio::awaitable<void> sleep_for(const asio::any_io_executor& ex, Clock& clock, microseconds d) {
  util::Timer timer(ex, clock);
  timer.expires_after(d);
  co_await timer.wait();
}

}  // namespace

// The server's view of one connection, shared with the client's end.
struct SimGateway::Conn {
  Conn(const asio::any_io_executor& ex, Clock& clock) : readable(ex, clock) {}
  enum class Mode { open, half_open, no_acks };
  std::uint64_t id = 0;
  Mode mode = Mode::open;
  bool alive = false;
  std::uint16_t close_code = 0;  // how it died, as the client reads it (0: reset)
  std::deque<std::string> to_client;
  util::Timer readable;  // cancelled when to_client grows or the connection dies
  std::set<std::string> sessions;
  std::uint64_t pongs = 0;
};

// The client's end: a transport::Connection over the simulated network.
class SimConnection final : public transport::Connection {
 public:
  SimConnection(SimGateway& gateway, std::shared_ptr<SimGateway::Conn> conn)
      : gw_(gateway), conn_(std::move(conn)), description_(fmt::format("sim://gateway/conn-{}", conn_->id)) {}

  asio::awaitable<transport::OpenResult> open(const std::string& access_token) override {
    co_return co_await gw_.handshake(conn_, access_token);
  }

  asio::awaitable<std::error_code> read(std::string& text) override {
    while (conn_->alive && conn_->to_client.empty()) {
      conn_->readable.expires_never();
      co_await conn_->readable.wait();
    }
    if (!conn_->alive) co_return closed_error();
    text = std::move(conn_->to_client.front());
    conn_->to_client.pop_front();
    co_return std::error_code{};
  }

  std::error_code gather(std::string_view text) override {
    if (!conn_->alive) return closed_error();
    burst_.emplace_back(text);
    return {};
  }

  asio::awaitable<std::error_code> flush() override {
    auto frames = std::move(burst_);
    burst_.clear();
    if (!conn_->alive) co_return closed_error();
    const auto conn = conn_;  // the bytes are on their way, whatever the client does next
    const SimGateway::Sent sent{gw_.clock_.unix_now(), gw_.clock_.steady_now()};
    co_await sleep_for(gw_.executor_, gw_.clock_, gw_.net_delay());
    for (const auto& frame : frames) {
      if (!conn->alive) break;
      gw_.receive(conn, frame, sent);
    }
    co_return std::error_code{};
  }

  asio::awaitable<std::error_code> ping() override {
    if (!conn_->alive) co_return closed_error();
    if (conn_->mode != SimGateway::Conn::Mode::half_open) {
      util::spawn(gw_.executor_, pong(conn_, gw_.executor_, gw_.clock_, 2 * gw_.net_delay()), "sim pong", util::Logger::process_default());
    }
    co_return std::error_code{};
  }

  asio::awaitable<void> close(std::uint16_t) override {
    if (!conn_->alive) co_return;
    conn_->alive = false;
    conn_->readable.cancel();
    co_await sleep_for(gw_.executor_, gw_.clock_, 2 * gw_.net_delay());
  }

  void abort() override {
    conn_->alive = false;
    conn_->readable.cancel();
  }

  std::uint64_t pongs() const override { return conn_->pongs; }
  const std::string& description() const override { return description_; }

 private:
  static asio::awaitable<void> pong(std::shared_ptr<SimGateway::Conn> conn, asio::any_io_executor ex, Clock& clock,
                                    microseconds after) {
    co_await sleep_for(ex, clock, after);
    if (conn->alive && conn->mode != SimGateway::Conn::Mode::half_open) ++conn->pongs;
  }

  std::error_code closed_error() const {
    switch (conn_->close_code) {
      case 1001: return make_error_code(transport::TransportErrc::going_away);
      case 4001: return make_error_code(transport::TransportErrc::token_expired);
      default: return make_error_code(transport::TransportErrc::closed_by_peer);
    }
  }

  SimGateway& gw_;
  std::shared_ptr<SimGateway::Conn> conn_;
  std::vector<std::string> burst_;
  std::string description_;
};

SimGateway::SimGateway(asio::any_io_executor executor, ManualClock& clock, std::uint64_t seed, FaultPlan plan,
                       double freshness_seconds)
    : executor_(std::move(executor)), clock_(clock), random_(seed), plan_(plan), freshness_(freshness_seconds) {}

SimGateway::~SimGateway() = default;

double SimGateway::uniform() { return random_.uniform(); }

microseconds SimGateway::net_delay() {
  return microseconds(50 + static_cast<std::int64_t>(uniform() * (plan_.net_delay_max_ms * 1000.0 - 50.0)));
}

transport::ConnectionFactory SimGateway::connections() {
  return [this]() -> std::shared_ptr<transport::Connection> {
    auto conn = std::make_shared<Conn>(executor_, clock_);
    conn->id = next_id_++;
    return std::make_shared<SimConnection>(*this, std::move(conn));
  };
}

transport::TokenTransport SimGateway::token_transport() {
  return [this]() { return token_request(); };
}

asio::awaitable<transport::TokenReply> SimGateway::token_request() {
  co_await sleep_for(executor_, clock_, 2 * net_delay());
  transport::TokenReply reply;
  const bool first = token_requests_++ == 0;
  if (first && plan_.first_token_429) {
    reply.status = 429;
    reply.retry_after = "1";
    co_return reply;
  }
  if (chance(plan_.token_timeout_p)) {
    co_await sleep_for(executor_, clock_, std::chrono::seconds(2));
    reply.net_error = make_error_code(transport::TransportErrc::timeout);
    co_return reply;
  }
  if (chance(plan_.token_5xx_p)) {
    reply.status = 503;
    co_return reply;
  }
  const std::string token = fmt::format("tok-{}", token_requests_);
  tokens_[token] = clock_.unix_now() + plan_.token_ttl_s;
  ++ledger_.tokens;
  reply.status = 200;
  // A float expires_in and an unknown member: what a foreign endpoint may send.
  reply.body = fmt::format(
      R"({{"access_token":"{}","token_type":"Bearer","expires_in":{:.1f},"scope":"realtime:read agentassist:write interactions:read","ext":{{"a":1}}}})",
      token, plan_.token_ttl_s);
  co_return reply;
}

asio::awaitable<transport::OpenResult> SimGateway::handshake(const std::shared_ptr<Conn>& conn, const std::string& token) {
  co_await sleep_for(executor_, clock_, 2 * net_delay());
  transport::OpenResult out;
  const auto it = tokens_.find(token);
  const auto refuse = [&](transport::TransportErrc code, unsigned status) {
    out.error = make_error_code(code);
    out.http_status = status;
    out.detail = fmt::format("upgrade refused with {}", status);
  };
  if (it == tokens_.end() || it->second <= clock_.unix_now() || chance(plan_.refuse_401_p)) {
    refuse(transport::TransportErrc::handshake_unauthorized, 401);
    co_return out;
  }
  if (chance(plan_.refuse_429_p)) {
    refuse(transport::TransportErrc::handshake_rate_limited, 429);
    out.retry_after = std::chrono::milliseconds(500);
    co_return out;
  }
  if (chance(plan_.refuse_503_p)) {
    refuse(transport::TransportErrc::handshake_unavailable, 503);
    co_return out;
  }
  // The HELLO as a foreign gateway may write it: a fractional
  // token_expires_at and members this version does not know.
  const std::string hello = fmt::format(
      R"({{"type":"HELLO","connection_id":"conn-{}","max_sessions":{},"max_snippets":10,"max_inflight":{},"max_frame_bytes":65536,"token_expires_at":{:.2f},"region":"sim","limits":{{"x":1}}}})",
      conn->id, plan_.max_sessions, plan_.max_inflight, it->second);
  auto decoded = decode_frame(hello);
  if (!decoded || !std::holds_alternative<Hello>(decoded.value())) {
    out.error = make_error_code(transport::TransportErrc::bad_hello);
    out.detail = decoded ? "not a HELLO" : decoded.error().message;
    co_return out;
  }
  out.hello = std::get<Hello>(decoded.value());
  conn->alive = true;
  log(conn, "OPEN");
  ++ledger_.connections;
  // The gateway closes with 4001 when the connection's token expires.
  util::spawn(executor_,
              [](SimGateway* self, std::shared_ptr<Conn> c, double expiry) -> asio::awaitable<void> {
                const auto wait = std::chrono::duration<double>(expiry - self->clock_.unix_now());
                co_await sleep_for(self->executor_, self->clock_, std::chrono::duration_cast<microseconds>(wait));
                if (c->alive) self->kill(c, 4001);
              }(this, conn, it->second),
              "sim token expiry", util::Logger::process_default());
  co_return out;
}

void SimGateway::log(const std::shared_ptr<Conn>& conn, std::string_view what) {
  if (trace_) fmt::print("t={:.6f} conn-{} {}\n", clock_.unix_now() - 1.7e9, conn ? conn->id : 0, what);
}

void SimGateway::kill(const std::shared_ptr<Conn>& conn, std::uint16_t close_code) {
  if (!conn->alive) return;
  log(conn, fmt::format("KILL close={}", close_code));
  conn->alive = false;
  conn->close_code = close_code;
  conn->readable.cancel();
}

void SimGateway::answer(const std::shared_ptr<Conn>& conn, std::string frame, microseconds after) {
  util::spawn(executor_,
              [](SimGateway* self, std::shared_ptr<Conn> c, std::string text, microseconds d) -> asio::awaitable<void> {
                co_await sleep_for(self->executor_, self->clock_, d);
                if (!c->alive || c->mode != Conn::Mode::open) co_return;
                c->to_client.push_back(std::move(text));
                c->readable.cancel();
              }(this, conn, std::move(frame), after + net_delay()),
              "sim answer", util::Logger::process_default());
}

bool SimGateway::disturbed(const std::shared_ptr<Conn>& conn) {
  if (conn->mode == Conn::Mode::half_open) return true;
  if (chance(plan_.drop_p)) {
    kill(conn, 0);
    return true;
  }
  if (chance(plan_.going_away_p)) {
    kill(conn, 1001);
    return true;
  }
  if (chance(plan_.half_open_p)) {
    conn->mode = Conn::Mode::half_open;
    log(conn, "HALF-OPEN");
    return true;
  }
  if (chance(plan_.stop_acking_p)) {
    conn->mode = Conn::Mode::no_acks;
    log(conn, "STOPS ACKING");
  }
  return false;
}

void SimGateway::receive(const std::shared_ptr<Conn>& conn, const std::string& text, const Sent& sent) {
  ++ledger_.frames;
  auto decoded = decode_frame(text);
  if (!decoded) {
    ledger_.violations.push_back("the client sent an undecodable frame: " + decoded.error().message);
    return;
  }
  if (const auto* end = std::get_if<SessionEnd>(&decoded.value())) {
    log(conn, "RECV SESSION_END " + end->session_id);
    conn->sessions.erase(end->session_id);
    return;
  }
  if (const auto* p = std::get_if<PromptSync>(&decoded.value())) {
    if (!disturbed(conn)) prompt(conn, *p, sent);
    return;
  }
  ledger_.violations.push_back("the client sent a frame only a server sends");
}

void SimGateway::prompt(const std::shared_ptr<Conn>& conn, const PromptSync& p, const Sent& sent) {
  const auto nack = [&](NackCode code, std::string reason) {
    log(conn, fmt::format("  NACK {} {}", to_string(code), reason));
    answer(conn, encode(Nack{p.frame_id, p.sequence, code, std::string(to_string(code)), std::move(reason)}),
           microseconds(200));
  };
  const auto ack_delay = [&] {
    if (chance(plan_.slow_ack_p)) return microseconds(static_cast<std::int64_t>(plan_.slow_ack_ms * 1000));
    return microseconds(100 + static_cast<std::int64_t>(uniform() * plan_.ack_delay_max_ms * 1000));
  };
  const std::string& sid = p.payload.session_id;
  log(conn, fmt::format("RECV {} seq {} {}", sid, p.sequence, p.frame_id.substr(0, 8)));
  if (ledger_.shown.count(p.frame_id)) {  // a replay: not shown again
    ++ledger_.duplicates;
    answer(conn, encode(Ack{p.frame_id, p.sequence, true}), ack_delay());
    return;
  }
  const double now = clock_.unix_now();
  // The age on arrival as the client's clock judged it when the burst left,
  // plus the time in transit: a step of the wall clock while a frame travels
  // (a simulated fault) is not an age the client could have seen.
  const double transit = std::chrono::duration<double>(clock_.steady_now() - sent.steady).count();
  const double age = sent.unix - *p.payload.timestamp + transit;
  if (*p.payload.timestamp > now + 5.0) return nack(NackCode::invalid_frame, "timestamp is in the future");
  if (age > p.payload.ttl_seconds) return nack(NackCode::stale, "older than its ttl");
  if (!conn->sessions.count(sid) && conn->sessions.size() >= plan_.max_sessions) {
    std::string held;
    for (const auto& s : conn->sessions) held += " " + s;
    return nack(NackCode::session_limit, "too many sessions on this connection:" + held);
  }
  // An injected refusal is about the frame itself (its content, the token's
  // scope): a replay of it is refused the same way. A transient refusal lost
  // with its connection would let the replay be shown after a later frame of
  // its session, which no client can prevent without sending one frame per
  // session at a time.
  if (auto refused = refused_.find(p.frame_id); refused != refused_.end()) return nack(refused->second, "injected, again");
  if (chance(plan_.nack_p)) {
    static constexpr NackCode codes[] = {NackCode::invalid_frame, NackCode::forbidden, NackCode::stale};
    const NackCode code = codes[static_cast<std::size_t>(uniform() * 3) % 3];
    refused_.emplace(p.frame_id, code);
    return nack(code, "injected");
  }
  conn->sessions.insert(sid);
  log(conn, "  SHOW");
  if (age > freshness_)
    ledger_.violations.push_back(fmt::format("frame {} of {} shown {:.4f} s old (freshness {} s)", p.frame_id, sid, age, freshness_));
  if (auto last = ledger_.last_sequence.find(sid); last != ledger_.last_sequence.end() && last->second >= p.sequence)
    ledger_.violations.push_back(fmt::format("session {}: frame {} (sequence {}) shown after sequence {}", sid,
                                             p.frame_id, p.sequence, last->second));
  ledger_.last_sequence[sid] = p.sequence;
  ledger_.shown.emplace(p.frame_id, Ledger::Shown{sid, p.sequence});
  if (conn->mode == Conn::Mode::open) answer(conn, encode(Ack{p.frame_id, p.sequence, false}), ack_delay());
  if (chance(plan_.feedback_p)) {
    answer(conn, encode(PromptFeedback{p.frame_id, sid, FeedbackAction::adopted, now}), std::chrono::milliseconds(50));
  }
  if (chance(plan_.session_ended_p)) {
    log(conn, "  SESSION_ENDED " + sid);
    conn->sessions.erase(sid);
    answer(conn, encode(SessionEnded{sid, "interaction over"}), microseconds(500));
  }
}

}  // namespace assist::sim
