#include "transport/pool.h"

#include <algorithm>


#include "core/detail/log_record.h"
#include "util/spawn.h"

namespace assist::transport {

namespace asio = boost::asio;

Pool::Pool(asio::any_io_executor ex, TokenProvider& tokens, RealtimeOptions opts, LinkHandler& handler,
           Clock& clock, Random& random, ConnectionFactory connect, util::LoggerPtr log)
    : executor_(std::move(ex)),
      tokens_(tokens),
      options_(std::move(opts)),
      handler_(handler),
      clock_(clock),
      random_(random),
      connect_(std::move(connect)),
      log_(std::move(log)) {
  if (connect_) return;
  std::string error;
  auto endpoint = net::parse_endpoint(options_.realtime_url, net::Scheme::websocket, error);
  if (!endpoint) {
    config_ = {make_error_code(TransportErrc::bad_url), "realtime_url: " + error};
    return;
  }
  auto target = std::make_shared<ConnectionTarget>();
  target->endpoint = std::move(*endpoint);
  target->token_in_query = options_.token_in_query;
  target->handshake_timeout = options_.handshake_timeout;
  target->retry_after_cap = options_.retry_after_cap;
  target->log = log_;
  if (target->endpoint.tls) {
    target->tls_config = {options_.tls.verify, options_.tls.ca_file, options_.tls.pin_sha256};
    target->tls_context = net::make_client_context(target->tls_config, error);
    if (!target->tls_context) {
      config_ = {make_error_code(TransportErrc::tls), "realtime TLS (tls options of the gateway): " + error};
      return;
    }
  }
  if (options_.token_in_query) {
    log_->warn(detail::LogRecord("token sent in the URL query (RFC 9700 advises against it); URLs are logged redacted"));
  }
  connect_ = websocket_connections(executor_, std::move(target), clock_);
}

Pool::~Pool() = default;

bool Pool::usable(const Slot& slot) const {
  const auto state = slot.link->state();
  return !slot.link->stopping() && state != LinkState::failed && state != LinkState::closed;
}

bool Pool::has_room(const Slot& slot, std::uint32_t learned) const {
  return usable(slot) && slot.sessions < (slot.link->has_hello() ? slot.link->max_sessions() : learned);
}

// A link that has no HELLO yet takes what the others' HELLO says (one
// gateway, one limit), not the default of 100: sessions placed beyond the
// real limit would be refused (SESSION_LIMIT).
std::uint32_t Pool::learned_max_sessions() const {
  std::uint32_t learned = 100;
  for (const auto& [id, slot] : links_)
    if (slot.link->has_hello()) learned = slot.link->max_sessions();
  return learned;
}

LinkId Pool::open_link() {
  const LinkId id = next_id_++;
  auto link = std::make_shared<Link>(
      id, LinkContext{executor_, tokens_, options_, connect_, handler_, clock_, random_, log_});
  links_[id].link = link;
  link->start();
  return id;
}

void Pool::start() {
  if (!links_.empty() || stopping_) return;
  if (!config_.ok()) {
    log_->error(detail::LogRecord("cannot open gateway connections").with("detail", config_.message));
    handler_.on_state(next_id_++, LinkState::failed, config_.code);
    return;
  }
  open_link();
}

std::optional<LinkId> Pool::place_session(const std::string& session_id) {
  if (const auto it = sessions_.find(session_id); it != sessions_.end()) return it->second;
  if (stopping_ || !config_.ok()) return std::nullopt;
  std::optional<LinkId> chosen;
  const auto hint = links_.find(fill_hint_);
  if (hint != links_.end() && hint->second.link->has_hello() && has_room(hint->second, 0)) {
    chosen = fill_hint_;
  } else {
    const std::uint32_t learned = learned_max_sessions();
    std::size_t live = 0;
    for (auto& [id, slot] : links_) {
      if (!usable(slot)) continue;
      ++live;
      if (!chosen && has_room(slot, learned)) chosen = id;
    }
    if (!chosen) {
      if (live >= options_.max_connections) return std::nullopt;
      chosen = open_link();
    }
  }
  fill_hint_ = *chosen;
  Slot& slot = links_[*chosen];
  if (slot.sessions++ == 0) ++slot.idle_generation;
  sessions_.emplace(session_id, *chosen);
  if (log_->should_log(LogLevel::debug)) {
    log_->debug(
        detail::LogRecord("session placed").with("session_id", session_id).with("link", *chosen).with("sessions", slot.sessions));
  }
  return chosen;
}

void Pool::release_session(const std::string& session_id) {
  const auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  const LinkId id = it->second;
  sessions_.erase(it);
  if (log_->should_log(LogLevel::debug))
    log_->debug(detail::LogRecord("session released").with("session_id", session_id).with("link", id));
  const auto slot_it = links_.find(id);
  if (slot_it == links_.end()) return;
  Slot& slot = slot_it->second;
  fill_hint_ = id;  // a free slot: the next placement (the one an eviction makes room for) takes it at once
  if (slot.sessions > 0 && --slot.sessions == 0 && !stopping_) {
    util::spawn(executor_, close_when_idle(id, ++slot.idle_generation), "pool idle close", log_);
  }
}

asio::awaitable<void> Pool::close_when_idle(LinkId id, std::uint64_t generation) {
  auto timer = std::make_shared<util::Timer>(executor_, clock_);
  timer->expires_after(options_.idle_close_after);
  auto& slot_timer = idle_timers_[id];
  if (slot_timer) slot_timer->cancel();  // an older watcher of this link is obsolete
  slot_timer = timer;
  co_await timer->wait();
  if (const auto t = idle_timers_.find(id); t != idle_timers_.end() && t->second == timer) idle_timers_.erase(t);
  auto it = links_.find(id);
  if (stopping_ || it == links_.end() || it->second.idle_generation != generation || it->second.sessions != 0) {
    co_return;
  }
  std::size_t others = 0;
  for (const auto& [other_id, slot] : links_) {
    if (other_id != id && usable(slot)) ++others;
  }
  if (others == 0) co_return;  // the last link stays open
  auto link = it->second.link;
  log_->info(detail::LogRecord("closing an idle link").with("link", id));
  link->stop(options_.rotation_drain);
  co_await link->wait_closed();
  it = links_.find(id);
  if (it != links_.end() && it->second.sessions == 0 && it->second.link == link) {
    closed_reconnects_ += link->reconnects();
    closed_rotations_ += link->rotations();
    closed_forced_ += link->forced_token_refreshes();
    links_.erase(it);
  }
}

std::size_t Pool::sessions_on(LinkId link) const {
  const auto it = links_.find(link);
  return it == links_.end() ? 0 : it->second.sessions;
}

void Pool::wake(LinkId link) {
  if (const auto it = links_.find(link); it != links_.end()) it->second.link->wake();
}

asio::awaitable<void> Pool::stop(std::chrono::milliseconds drain) {
  stopping_ = true;
  for (auto& [id, timer] : idle_timers_) timer->cancel();
  idle_timers_.clear();
  std::vector<std::shared_ptr<Link>> links;
  for (auto& [id, slot] : links_) links.push_back(slot.link);
  for (const auto& link : links) link->stop(drain);
  for (const auto& link : links) co_await link->wait_closed();
}

PoolStats Pool::stats() const {
  PoolStats out;
  out.sessions = sessions_.size();
  out.reconnects = closed_reconnects_;
  out.rotations = closed_rotations_;
  out.forced_token_refreshes = closed_forced_;
  for (const auto& [id, slot] : links_) {
    const auto state = slot.link->state();
    if (state == LinkState::up || state == LinkState::rotating) ++out.links_open;
    if (usable(slot)) ++out.links;
    out.reconnects += slot.link->reconnects();
    out.rotations += slot.link->rotations();
    out.forced_token_refreshes += slot.link->forced_token_refreshes();
    out.in_flight += slot.link->in_flight();
    out.max_backoff_step = std::max(out.max_backoff_step, slot.link->backoff_step());
  }
  out.token_refreshes = tokens_.tokens_fetched();
  return out;
}

}  // namespace assist::transport
