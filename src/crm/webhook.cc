#include <algorithm>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "crm/webhook.h"
#include "core/detail/thread.h"
#include "net/http_client.h"
#include "net/tls_client.h"
#include "util/backoff.h"
#include "net/endpoint.h"
#include "util/spawn.h"
#include "util/timer.h"

namespace assist {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

class CrmCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.crm"; }
  std::string message(int ev) const override {
    switch (static_cast<CrmErrc>(ev)) {
      case CrmErrc::bad_url: return "webhook URL is not an absolute http(s) URL with a host and no credentials";
      case CrmErrc::tls_setup: return "webhook TLS setup failed";
    }
    return "unknown CRM error";
  }
};

constexpr std::size_t kMaxResponseBytes = 64 * 1024;

// The result of one request: a network error, or an HTTP status.
using Attempt = net::HttpReply;

bool retryable_status(unsigned status) { return status == 408 || status == 429 || status >= 500; }

std::string body_of(const CrmUpdate& update) {
  return json::serialize(json::object{{"interaction_id", update.interaction_id},
                                      {"frame_id", update.frame_id},
                                      {"priority", update.priority},
                                      {"adopted", update.adopted}});
}

}  // namespace

const std::error_category& crm_category() noexcept {
  static const CrmCategory category;
  return category;
}

std::error_code make_error_code(CrmErrc e) noexcept { return {static_cast<int>(e), crm_category()}; }

struct CrmWebhook::Impl {
  explicit Impl(CrmWebhookOptions o)
      : options(std::move(o)),
        clock(options.clock != nullptr ? *options.clock : system_clock()),
        stop_deadline(io.get_executor(), clock),
        log(std::make_shared<const util::Logger>(options.log)) {
    if (options.random == nullptr) {
      own_random = std::make_unique<SeededRandom>(entropy_seed());
      options.random = own_random.get();
    }
  }

  CrmWebhookOptions options;
  Clock& clock;
  std::unique_ptr<Random> own_random;

  net::Endpoint url;  // the request's Host and target
  net::HttpTarget target;   // where to connect

  asio::io_context io{1};
  asio::steady_timer wake{io};            // cancelled when there is work or a stop
  util::Timer stop_deadline;              // fires when stop()'s deadline passes
  util::LoggerPtr log;
  std::thread thread;

  // I/O-thread state.
  bool abandon = false;                     // the stop deadline passed
  bool finished = false;                    // run() has returned
  net::HttpCallCanceller in_progress;       // aborts the attempt in progress on abandon
  util::Timer* backoff = nullptr;           // the retry wait in progress

  // Shared state, guarded by mu.
  mutable std::mutex mu;
  std::deque<CrmUpdate> queue;
  bool running_one = false;
  bool started = false;
  bool stopping = false;
  CrmStats counts;
  std::once_flag joined;

  void report(CrmUpdate update, CrmResult result, std::string error, unsigned attempts) {
    if (options.on_report) options.on_report(CrmReport{std::move(update), result, std::move(error), attempts});
  }

  Status configure() {
    std::string error;
    auto parsed = net::parse_endpoint(options.url, net::Scheme::http, error);
    if (!parsed) return {CrmErrc::bad_url, "webhook URL: " + error};
    url = std::move(*parsed);
    target.host = url.host;
    target.port = url.port;
    if (url.tls) {
      target.tls_config.ca_file = options.ca_file;
      target.tls_context = net::make_client_context(target.tls_config, error);
      if (!target.tls_context) return {CrmErrc::tls_setup, "webhook TLS: " + error};
    }
    return {};
  }

  http::request<http::string_body> make_request(const CrmUpdate& update) const {
    http::request<http::string_body> request{http::verb::post, url.target, 11};
    request.set(http::field::host, url.host_header);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::user_agent, "assist-sync");
    request.keep_alive(false);  // one connection per request
    for (const auto& [name, value] : options.headers) request.set(name, value);
    request.body() = body_of(update);
    request.prepare_payload();
    return request;
  }

  asio::awaitable<void> deliver(CrmUpdate update) {
    const unsigned max_attempts = std::max(1u, options.max_attempts);
    const transport::BackoffOptions backoff_options{options.initial_backoff, 2.0, options.max_backoff};
    std::string error;
    bool delivered = false;
    unsigned attempts = 0;
    while (attempts < max_attempts && !abandon) {
      ++attempts;
      const auto request = make_request(update);  // a named local: g++ 12 mishandles temporaries in co_await
      const Attempt out = co_await net::http_call(target, request, options.timeout, kMaxResponseBytes, &in_progress);
      if (!out.net_error && out.status >= 200 && out.status < 300) {
        delivered = true;
        break;
      }
      error = out.net_error ? fmt::format("POST failed: {}", out.net_error.message())
                            : fmt::format("POST answered HTTP {}", out.status);
      if (!out.net_error && !retryable_status(out.status)) break;
      if (attempts == max_attempts || abandon) break;
      util::Timer wait(co_await asio::this_coro::executor, clock);
      wait.expires_after(util::full_jitter(backoff_options, attempts - 1, *options.random));
      backoff = &wait;
      co_await wait.wait();
      backoff = nullptr;
    }
    if (!delivered && abandon) error = fmt::format("stopped before delivery ({})", error.empty() ? "no attempt" : error);
    {
      std::lock_guard lock(mu);
      running_one = false;
      ++(delivered ? counts.delivered : counts.failed);
    }
    report(std::move(update), delivered ? CrmResult::delivered : CrmResult::failed,
           delivered ? std::string() : fmt::format("{} after {} attempt(s)", error, attempts), attempts);
  }

  asio::awaitable<void> run() {
    for (;;) {
      std::optional<CrmUpdate> next;
      std::deque<CrmUpdate> abandoned;
      {
        std::lock_guard lock(mu);
        if (abandon) {
          abandoned.swap(queue);
          counts.dropped += abandoned.size();
        } else if (!queue.empty()) {
          next = std::move(queue.front());
          queue.pop_front();
          running_one = true;
        } else if (stopping) {
          break;
        }
      }
      for (auto& update : abandoned) report(std::move(update), CrmResult::dropped, "stopped before delivery", 0);
      if (abandon) break;
      if (next) {
        co_await deliver(std::move(*next));
        continue;
      }
      wake.expires_at(asio::steady_timer::time_point::max());
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    finished = true;
    stop_deadline.cancel();
  }

  asio::awaitable<void> give_up_at_deadline() {
    const bool passed = co_await stop_deadline.wait();
    if (passed) give_up();
  }

  // On the I/O thread: the stop deadline passed.
  void give_up() {
    abandon = true;
    in_progress.cancel();
    if (backoff != nullptr) backoff->cancel();
    wake.cancel();
  }
};

CrmWebhook::CrmWebhook(CrmWebhookOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

CrmWebhook::~CrmWebhook() { stop(impl_->clock.steady_now()); }

Status CrmWebhook::start() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.started || d.stopping) return {};
  }
  if (auto bad = d.configure(); !bad.ok()) return bad;
  util::spawn(d.io.get_executor(), d.run(), "CRM webhook", d.log, [&d](std::exception_ptr) {
    // Nothing delivers any more: end as a stop that passed its deadline would.
    d.abandon = true;
    d.finished = true;
    d.stop_deadline.cancel();
  });
  std::lock_guard lock(d.mu);
  d.started = true;
  d.thread = detail::named_thread("assist-webhook", [&d] { d.io.run(); });
  return {};
}

bool CrmWebhook::submit(CrmUpdate update) {
  Impl& d = *impl_;
  const char* why = nullptr;
  {
    std::lock_guard lock(d.mu);
    if (d.started && !d.stopping && d.queue.size() < d.options.queue_capacity) {
      d.queue.push_back(std::move(update));
      asio::post(d.io, [&d] { d.wake.cancel(); });
      return true;
    }
    ++d.counts.dropped;
    why = !d.started ? "webhook not started" : d.stopping ? "webhook is stopping" : "queue full";
  }
  d.report(std::move(update), CrmResult::dropped, why, 0);
  return false;
}

bool CrmWebhook::stop(Clock::steady_time deadline) {
  Impl& d = *impl_;
  bool started = false;
  {
    std::lock_guard lock(d.mu);
    started = d.started;
    if (!d.stopping) {
      d.stopping = true;
      if (d.started) {
        asio::post(d.io, [&d, deadline] {
          if (d.finished) return;  // drained before this ran
          d.stop_deadline.expires_at(deadline);
          util::spawn(d.io.get_executor(), d.give_up_at_deadline(), "CRM webhook stop deadline", d.log);
          d.wake.cancel();
        });
      }
    }
  }
  if (started) std::call_once(d.joined, [&d] { d.thread.join(); });
  // The I/O thread has ended (or never ran): `abandon` is stable.
  return !d.abandon;
}

CrmStats CrmWebhook::stats() const {
  std::lock_guard lock(impl_->mu);
  CrmStats s = impl_->counts;
  s.queued = impl_->queue.size() + (impl_->running_one ? 1 : 0);
  return s;
}

}  // namespace assist
