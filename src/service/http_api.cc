#include "service/http_api.h"

#include <array>
#include <cctype>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/asio.h"
#include "assist/frame.h"
#include "assist/frame_id.h"
#include "core/detail/json_text.h"
#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "core/outcome_json.h"
#include "net/secret_compare.h"
#include "service/outcome_table.h"
#include "service/process_metrics.h"
#include "service/prompt_input.h"
#include "service/status_model.h"
#include "service/status_page.h"

namespace assist::service {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

Response json_response(http::status status, const json::value& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "assist-sync");
  res.body() = detail::to_json_text(body);
  res.body().push_back('\n');
  return res;
}

json::array violations_json(const std::vector<Violation>& violations) {
  json::array out;
  for (const auto& v : violations) out.push_back(json::object{{"field", v.field}, {"reason", v.reason}});
  return out;
}

json::object error_body(std::string_view message, const std::vector<Violation>& violations = {}) {
  json::object body{{"error", message}};
  body["violations"] = violations_json(violations);
  return body;
}

Response error_response(http::status status, std::string_view message, const std::vector<Violation>& violations = {}) {
  return json_response(status, error_body(message, violations));
}

// GET /v1/prompts/{frame_id}: what became of a recent prompt.
Response prompt_status(const OutcomeTable& table, std::string frame_id) {
  if (!is_uuid_v4(frame_id))
    return error_response(http::status::bad_request, "malformed frame_id",
                          {{"frame_id", "expected a UUID v4 (8-4-4-4-12 hexadecimal digits)"}});
  for (auto& c : frame_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // as issued
  const auto found = table.find(frame_id);
  if (!found)
    return error_response(http::status::not_found,
                          fmt::format("no recent prompt with this frame_id: unknown, or older than the last {} "
                                      "prompts or {} s (the audit log keeps every outcome)",
                                      table.options().capacity, table.options().max_age.count()));
  if (!found->finished) return json_response(http::status::ok, json::object{{"frame_id", frame_id}, {"outcome", "PENDING"}});
  return json_response(http::status::ok, outcome_json(found->outcome));
}

Response status_page_response() {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy", kStatusPageCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.body() = status_page_html();
  return res;
}

// How a refused submission maps to HTTP.
http::status refusal_status(const std::error_code& ec) {
  if (ec == SubmitErrc::invalid_prompt) return http::status::bad_request;
  if (ec == SubmitErrc::queue_full) return http::status::too_many_requests;
  return http::status::service_unavailable;  // not_running, audit_unavailable
}

}  // namespace

struct HttpApi::Impl {
  Impl(HttpApiOptions o, Synchronizer& s) : options(std::move(o)), sync(s) {}

  // ----- lifecycle -------------------------------------------------------------

  Status start() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options.host, ec);
    if (ec) {
      return {std::make_error_code(std::errc::invalid_argument),
              fmt::format("cannot listen on '{}': not an IP address", options.host)};
    }
    if (!address.is_loopback() && options.api_key.empty()) {
      return {std::make_error_code(std::errc::permission_denied),
              fmt::format("refusing to listen on {} (not loopback) without an API key", options.host)};
    }
    const tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return {std::error_code(ec.value(), std::system_category()),
              fmt::format("cannot listen on {}:{}: {}", options.host, options.port, ec.message())};
    }
    bound_port = acceptor.local_endpoint().port();
    asio::co_spawn(io, accept_loop(), asio::detached);
    if (options.status) asio::co_spawn(io, sample_status(), asio::detached);
    for (unsigned i = 0; i < std::max(1u, options.threads); ++i)
      threads.push_back(detail::named_thread("assist-http", [this] { io.run(); }));
    return {};
  }

  // The listener stays open while draining: probes get 503, not a refused connection.
  void stop_accepting() { draining.store(true); }

  void stop(std::chrono::milliseconds grace) {
    if (threads.empty()) return;
    stop_accepting();
    close_listener();
    {
      std::unique_lock lock(busy_mu);
      if (!busy_cv.wait_for(lock, grace, [this] { return busy == 0; }))
        spdlog::warn(detail::LogRecord("HTTP API stopping with requests still being served")
                         .with("requests", busy)
                         .text());
    }
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
    threads.clear();
  }

  // Closes the acceptor on an I/O thread (where the accept loop uses it) and
  // waits until it is closed: once stop() has stopped those threads, a close
  // still queued would never run, and the kernel would go on accepting
  // connections that no one answers.
  void close_listener() {
    std::promise<void> closed;
    asio::post(io, [this, &closed] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
      closed.set_value();
    });
    closed.get_future().wait();
  }

  // ----- serving ---------------------------------------------------------------

  asio::awaitable<void> accept_loop() {
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), use_tuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn(detail::LogRecord("HTTP accept failed").with("listen", url()).error(ec).text());
        continue;
      }
      auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
  }

  // Feeds the status page's figures over the last minute.
  asio::awaitable<void> sample_status() {
    asio::steady_timer timer(io);
    for (;;) {
      options.status->sample(sync.metrics());
      timer.expires_after(StatusModel::kSampleInterval);
      auto [ec] = co_await timer.async_wait(use_tuple);
      if (ec) co_return;
    }
  }

  // Counts a request being served, for stop()'s grace period.
  struct Busy {
    explicit Busy(Impl& i) : impl(i) {
      std::lock_guard lock(impl.busy_mu);
      ++impl.busy;
    }
    ~Busy() {
      std::lock_guard lock(impl.busy_mu);
      if (--impl.busy == 0) impl.busy_cv.notify_all();
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    Impl& impl;
  };

  asio::awaitable<void> session(tcp::socket socket) {
    struct Count {
      explicit Count(std::atomic<std::size_t>& c) : n(c), value(++c) {}
      ~Count() { --n; }
      Count(const Count&) = delete;
      Count& operator=(const Count&) = delete;
      std::atomic<std::size_t>& n;
      std::size_t value;
    } count(connections);
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    beast::tcp_stream stream(std::move(socket));
    if (count.value > options.max_connections) {
      auto res = error_response(http::status::service_unavailable, "too many connections");
      co_await write_and_close(stream, std::move(res), false);
      co_return;
    }
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      parser.body_limit(options.body_limit);
      stream.expires_after(options.request_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (ec) {
        if (ec == http::error::body_limit) {
          stats_rejected_size.fetch_add(1);
          co_await write_and_close(stream, error_response(http::status::payload_too_large,
                                                          fmt::format("body larger than {} bytes", options.body_limit)),
                                   true);
        } else if (ec == http::error::header_limit) {
          stats_rejected_size.fetch_add(1);
          co_await write_and_close(stream, error_response(http::status::request_header_fields_too_large,
                                                          fmt::format("headers larger than {} bytes", options.header_limit)),
                                   true);
        } else if (ec.category() == make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
                   ec != http::error::partial_message) {
          co_await write_and_close(stream, error_response(http::status::bad_request, "malformed HTTP request: " + ec.message()),
                                   true);
        }
        break;  // end of stream, timeout, reset: nothing to answer
      }
      Busy serving(*this);
      auto req = parser.release();
      auto res = co_await handle(req);
      res.keep_alive(req.keep_alive() && !draining.load());
      res.prepare_payload();
      stream.expires_after(options.request_timeout);
      const bool keep_alive = res.keep_alive();
      auto [wec, written] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !keep_alive) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Answers and closes. With `linger`, reads and discards what the client is
  // still sending (bounded) so it sees the answer instead of a reset.
  asio::awaitable<void> write_and_close(beast::tcp_stream& stream, Response res, bool linger) {
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(options.request_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (ec || !linger) co_return;
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    std::size_t drained = 0;
    while (drained < 8 * options.body_limit) {
      auto [rec, got] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
      if (rec) break;
      drained += got;
    }
  }

  bool authorized(const Request& req) const {
    if (options.api_key.empty()) return true;
    const auto header = req[http::field::authorization];
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() <= scheme.size() || !beast::iequals(header.substr(0, scheme.size()), scheme)) return false;
    const auto given = header.substr(scheme.size());
    return net::secrets_equal(std::string_view(given.data(), given.size()), options.api_key);
  }

  static bool is_read(http::verb method) { return method == http::verb::get || method == http::verb::head; }

  Response method_not_allowed(const Request& req, const std::string& path, std::string_view allowed) const {
    auto res = error_response(http::status::method_not_allowed,
                              fmt::format("{} does not allow {}", path, std::string_view(req.method_string())));
    res.set(http::field::allow, allowed);
    return res;
  }

  // The request target's path into `path` and whether it asks ?wait=outcome;
  // the 400 when the target is malformed or asks anything else of wait.
  std::optional<Response> parse_target(const Request& req, std::string& path, bool& wait) const {
    auto target = boost::urls::parse_origin_form(req.target());
    if (!target) return error_response(http::status::bad_request, "malformed request target");
    path = std::string(target->path());
    for (const auto& param : target->params()) {
      if (param.key != "wait") continue;
      if (param.value != "outcome") return error_response(http::status::bad_request, "query parameter wait: expected 'outcome'");
      wait = true;
    }
    return std::nullopt;
  }

  // The paths open without the API key: the probes, and the status page
  // (no data in it). nullopt for any other path.
  std::optional<Response> answer_open(const Request& req, const std::string& path) {
    const bool known = path == "/healthz" || path == "/readyz" || (path == "/" && options.status);
    if (!known) return std::nullopt;
    if (!is_read(req.method())) return method_not_allowed(req, path, "GET, HEAD");
    if (path == "/healthz") return json_response(http::status::ok, json::object{{"status", "ok"}});
    if (path == "/") return status_page_response();
    if (draining.load())
      return json_response(http::status::service_unavailable, json::object{{"ready", false}, {"error", "shutting down"}});
    const Status route = options.route_health ? options.route_health() : Status{};
    if (sync.ready() && route.ok()) return json_response(http::status::ok, json::object{{"ready", true}});
    return json_response(http::status::service_unavailable,
                         json::object{{"ready", false}, {"error", route.ok() ? readiness_problem(sync.status()) : route.message}});
  }

  // The refusal of a request to a path that needs the API key; nullopt
  // when it may go on.
  std::optional<Response> refuse_unauthorized(const Request& req) {
    // Which of two would count is ambiguous between proxies and servers: refuse both.
    if (req.count(http::field::authorization) > 1)
      return error_response(http::status::bad_request, "more than one Authorization header");
    if (authorized(req)) return std::nullopt;
    stats_unauthorized.fetch_add(1);
    auto res = error_response(http::status::unauthorized, "missing or wrong API key (Authorization: Bearer <key>)");
    res.set(http::field::www_authenticate, "Bearer realm=\"assist-sync\"");
    return res;
  }

  // GET /metrics, /v1/status and /v1/prompts/{frame_id} (`lookup`).
  Response answer_read(const Request& req, const std::string& path, bool lookup) {
    if (!is_read(req.method())) return method_not_allowed(req, path, "GET, HEAD");
    if (path == "/metrics") {
      Response res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = assist::prometheus_text(sync.metrics()) + prometheus_text(stats(), sync.ready()) +
                   process_prometheus_text() + (options.extra_metrics ? options.extra_metrics() : std::string());
      return res;
    }
    return lookup ? prompt_status(*options.outcomes, path.substr(kPromptsPrefix.size())) : status_document();
  }

  static constexpr std::string_view kPromptsPrefix = "/v1/prompts/";

  asio::awaitable<Response> handle(const Request& req) {
    stats_requests.fetch_add(1);
    std::string path;
    bool wait = false;
    if (auto refused = parse_target(req, path, wait)) co_return std::move(*refused);
    if (auto answered = answer_open(req, path)) co_return std::move(*answered);
    const bool lookup = path.starts_with(kPromptsPrefix) && path != "/v1/prompts/batch" && options.outcomes;
    const bool read = path == "/metrics" || lookup || (path == "/v1/status" && options.status);
    if (!read && path != "/v1/prompts" && path != "/v1/prompts/batch")
      co_return error_response(http::status::not_found, fmt::format("no such resource: {}", path));
    if (auto refused = refuse_unauthorized(req)) co_return std::move(*refused);
    if (read) co_return answer_read(req, path, lookup);
    if (req.method() != http::verb::post) co_return method_not_allowed(req, path, "POST");
    if (draining.load()) co_return error_response(http::status::service_unavailable, "shutting down");
    if (path == "/v1/prompts") co_return co_await submit_one(req.body(), wait);
    co_return co_await submit_batch(req.body(), wait);
  }

  // GET /v1/status.
  Response status_document() const {
    const auto m = sync.metrics();
    auto res = json_response(http::status::ok, options.status->document(m, sync.ready(), component_health(sync, m)));
    res.set(http::field::cache_control, "no-store");
    return res;
  }

  // One submission: the response status and its JSON (a refusal, or the ticket).
  struct Submission {
    http::status status = http::status::accepted;
    json::object body;
    PromptTicket ticket;
  };

  Submission undecodable(const DecodeError& error) {
    stats_refused.fetch_add(1);
    Submission out;
    out.status = http::status::bad_request;
    out.body = error_body("invalid prompt: " + error.message, {decode_violation(error)});
    return out;
  }

  Submission answered(SubmitResult result) {
    Submission out;
    if (!result) {
      stats_refused.fetch_add(1);
      out.status = refusal_status(result.error().code);
      out.body = error_body(result.error().message, result.error().violations);
      return out;
    }
    stats_accepted.fetch_add(1);
    out.ticket = result.value();
    out.body = json::object{{"frame_id", out.ticket.frame_id()}, {"status", "ACCEPTED"}};
    return out;
  }

  // The end of a request's wait for room in the synchronizer.
  using Deadline = std::chrono::steady_clock::time_point;
  Deadline admission_deadline() const { return std::chrono::steady_clock::now() + options.admission_wait; }

  // Until the synchronizer has room for a prompt, `until` passes or the API
  // drains: room appears as outcomes come in (about one per 10 µs under
  // load), so a short poll costs little and a waiting request no thread.
  asio::awaitable<void> wait_for_room(Deadline until) {
    if (sync.room() > 0 || std::chrono::steady_clock::now() >= until) co_return;
    stats_admission_waits.fetch_add(1);
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (sync.room() == 0 && !draining.load() && std::chrono::steady_clock::now() < until) {
      timer.expires_after(kRoomPoll);
      co_await timer.async_wait(use_tuple);
    }
  }
  static constexpr std::chrono::milliseconds kRoomPoll{1};

  // One prompt. Local mode: sync_prompt never blocks, so it runs here, on
  // this thread, once there is room.
  asio::awaitable<Submission> submit(std::string_view text, Deadline until) {
    auto decoded = decode_prompt_object(text);
    if (!decoded) co_return undecodable(decoded.error());
    // Two statements, not a conditional with a co_await in each branch (g++ 12
    // destroys such temporaries twice), and no coroutine of its own in between.
    if (options.route) {
      auto routed = co_await async_route(options.route, std::move(decoded).value());
      co_return answered(std::move(routed));
    }
    co_await wait_for_room(until);
    co_return answered(sync.sync_prompt(std::move(decoded).value()));
  }

  // A batch in local mode: as submit() for each line, without a coroutine
  // per line (its frame and resumption cost as much as the submission).
  asio::awaitable<std::vector<Submission>> submit_all_here(const std::vector<PromptLine>& lines) {
    // One deadline for the whole request: its last line waits no longer than its first.
    const auto until = admission_deadline();
    std::vector<Submission> out;
    out.reserve(lines.size());
    for (const auto& line : lines) {
      auto decoded = decode_prompt_object(line.text);
      if (!decoded) {
        out.push_back(undecodable(decoded.error()));
        continue;
      }
      if (sync.room() == 0) co_await wait_for_room(until);  // asked here first: no coroutine when there is room
      out.push_back(answered(sync.sync_prompt(std::move(decoded).value())));
    }
    co_return out;
  }

  // A batch for the route: every prompt handed over at once and the answers
  // awaited together, so a batch costs one round trip to the stream, not one
  // per prompt (the route keeps their order: one connection publishes them).
  asio::awaitable<std::vector<Submission>> submit_all_to_route(const std::vector<PromptLine>& lines) {
    std::vector<Submission> out(lines.size());
    std::vector<AssistPrompt> prompts;
    std::vector<std::size_t> slots;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      auto decoded = decode_prompt_object(lines[i].text);
      if (!decoded) {
        out[i] = undecodable(decoded.error());
        continue;
      }
      prompts.push_back(std::move(decoded).value());
      slots.push_back(i);
    }
    auto answers = co_await async_route_all(options.route, std::move(prompts));
    for (std::size_t k = 0; k < slots.size(); ++k) out[slots[k]] = answered(std::move(*answers[k]));
    co_return out;
  }

  // Every prompt to the route at once; completes, on the awaiting
  // coroutine's executor, with the answers in the prompts' order.
  static asio::awaitable<std::vector<std::optional<SubmitResult>>> async_route_all(const PromptRoute& route,
                                                                                  std::vector<AssistPrompt>&& prompts) {
    using Answers = std::vector<std::optional<SubmitResult>>;
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(Answers)>(
        [](auto handler, const PromptRoute* to, std::vector<AssistPrompt>* all) {
          auto executor = asio::get_associated_executor(handler);
          struct Gather {
            decltype(handler) waiting;
            Answers answers;
            std::atomic<std::size_t> left;
          };
          auto gather = std::make_shared<Gather>(std::move(handler), Answers(all->size()), all->size());
          auto finish = [gather, executor] {
            asio::post(executor, [gather] { std::move(gather->waiting)(std::move(gather->answers)); });
          };
          // `all` lives in the awaiting coroutine, which may resume on another
          // thread as soon as the last answer is in: not read after the last call.
          const std::size_t count = all->size();
          if (count == 0) return finish();
          for (std::size_t i = 0; i < count; ++i) {
            (*to)(std::move((*all)[i]), [gather, finish, i](SubmitResult result) {
              gather->answers[i] = std::move(result);
              if (gather->left.fetch_sub(1) == 1) finish();
            });
          }
        },
        asio::use_awaitable, &route, &prompts);
  }

  // The route's answer, resumed on the awaiting coroutine's executor. The
  // initiation is stateless and takes pointers, so no non-trivial temporary
  // sits in the co_await expression (as in assist/asio.h).
  static asio::awaitable<SubmitResult> async_route(const PromptRoute& route, AssistPrompt&& prompt) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(SubmitResult)>(
        [](auto handler, const PromptRoute* to, AssistPrompt* p) {
          auto executor = asio::get_associated_executor(handler);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          (*to)(std::move(*p), [shared, executor](SubmitResult result) {
            asio::post(executor, [shared, result = std::move(result)]() mutable { std::move(*shared)(std::move(result)); });
          });
        },
        asio::use_awaitable, &route, &prompt);
  }

  asio::awaitable<Response> submit_one(std::string_view body, bool wait) {
    auto s = co_await submit(body, admission_deadline());
    if (!s.ticket.valid()) {
      auto res = json_response(s.status, s.body);
      if (s.status == http::status::too_many_requests || s.status == http::status::service_unavailable)
        res.set(http::field::retry_after, "1");
      co_return res;
    }
    if (!wait) co_return json_response(http::status::accepted, s.body);
    const auto outcome = co_await async_wait(s.ticket, asio::use_awaitable);
    co_return json_response(http::status::ok, outcome_json(outcome));
  }

  asio::awaitable<Response> submit_batch(std::string_view body, bool wait) {
    const auto batch = split_prompt_lines(body, options.max_batch_lines);
    if (batch.count > options.max_batch_lines)
      co_return error_response(http::status::payload_too_large,
                               fmt::format("batch has {} prompts; at most {} per request", batch.count,
                                           options.max_batch_lines));
    std::vector<Submission> results;
    if (options.route) results = co_await submit_all_to_route(batch.lines);
    else results = co_await submit_all_here(batch.lines);
    for (std::size_t i = 0; i < results.size(); ++i) {
      results[i].body["line"] = batch.lines[i].number;
      results[i].body["status"] = static_cast<unsigned>(results[i].status);
    }
    std::string out;
    for (auto& r : results) {
      if (wait && r.ticket.valid()) {
        const auto line = r.body["line"];
        r.body = outcome_json(co_await async_wait(r.ticket, asio::use_awaitable));
        r.body["line"] = line;
        r.body["status"] = 200;
      }
      detail::append_json_text(r.body, out);
      out.push_back('\n');
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/x-ndjson");
    res.set(http::field::server, "assist-sync");
    res.body() = std::move(out);
    co_return res;
  }

  std::string url() const {
    const bool v6 = options.host.find(':') != std::string::npos;
    return v6 ? fmt::format("http://[{}]:{}", options.host, bound_port.load())
              : fmt::format("http://{}:{}", options.host, bound_port.load());
  }

  HttpApiStats stats() const {
    HttpApiStats s;
    s.requests = stats_requests.load();
    s.unauthorized = stats_unauthorized.load();
    s.rejected_size = stats_rejected_size.load();
    s.prompts_accepted = stats_accepted.load();
    s.prompts_refused = stats_refused.load();
    s.admission_waits = stats_admission_waits.load();
    return s;
  }

  // Declared before `io`: coroutine frames still pending when the io_context
  // is destroyed touch these from their destructors (Count, Busy).
  HttpApiOptions options;
  Synchronizer& sync;
  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> connections{0};
  std::mutex busy_mu;
  std::condition_variable busy_cv;
  std::size_t busy = 0;
  std::atomic<std::uint64_t> stats_requests{0};
  std::atomic<std::uint64_t> stats_unauthorized{0};
  std::atomic<std::uint64_t> stats_rejected_size{0};
  std::atomic<std::uint64_t> stats_accepted{0};
  std::atomic<std::uint64_t> stats_refused{0};
  std::atomic<std::uint64_t> stats_admission_waits{0};

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
};

HttpApi::HttpApi(HttpApiOptions options, Synchronizer& synchronizer)
    : impl_(std::make_shared<Impl>(std::move(options), synchronizer)) {}
HttpApi::~HttpApi() { impl_->stop(std::chrono::milliseconds(0)); }
Status HttpApi::start() { return impl_->start(); }
std::uint16_t HttpApi::port() const { return impl_->bound_port.load(); }
std::string HttpApi::url() const { return impl_->url(); }
void HttpApi::stop_accepting() { impl_->stop_accepting(); }
void HttpApi::stop(std::chrono::milliseconds grace) { impl_->stop(grace); }
HttpApiStats HttpApi::stats() const { return impl_->stats(); }

std::string prometheus_text(const HttpApiStats& stats, bool ready) {
  std::string out;
  auto single = [&out](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    out += fmt::format("# HELP assist_sync_{0} {1}\n# TYPE assist_sync_{0} {2}\nassist_sync_{0} {3}\n", name, help, type,
                       value);
  };
  single("ready", "gauge", "1 when the token is valid and a gateway connection is open, else 0.", ready ? 1 : 0);
  single("http_requests_total", "counter", "Requests received by the local HTTP API.", stats.requests);
  single("http_unauthorized_total", "counter", "Requests refused for a missing or wrong API key.", stats.unauthorized);
  single("http_too_large_total", "counter", "Requests refused for oversized headers or bodies.", stats.rejected_size);
  out += "# HELP assist_sync_http_prompts_total Prompts submitted over HTTP, by result.\n"
         "# TYPE assist_sync_http_prompts_total counter\n";
  out += fmt::format("assist_sync_http_prompts_total{{result=\"accepted\"}} {}\n", stats.prompts_accepted);
  out += fmt::format("assist_sync_http_prompts_total{{result=\"refused\"}} {}\n", stats.prompts_refused);
  single("http_admission_waits_total", "counter",
         "Prompts that waited for room in the synchronizer before being submitted (local mode).",
         stats.admission_waits);
  return out;
}

}  // namespace assist::service
