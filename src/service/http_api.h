// The service's local HTTP/1.1 API (Boost.Beast on Asio coroutines):
//   POST /v1/prompts        one prompt object -> 202 {"frame_id"}; 400 with every violation;
//                           ?wait=outcome -> 200 with the final outcome (sequence included)
//   POST /v1/prompts/batch  NDJSON, one prompt per line -> NDJSON, one result per line
//   GET  /metrics           Prometheus text
//   GET  /healthz           200 while the process serves
//   GET  /readyz            200 when the token is valid and a gateway connection is open, else 503
//   GET  /                  the live status page; GET /v1/status its JSON
//   GET  /v1/prompts/{id}   the outcome of a recent prompt (PENDING until it has one)
// Errors are JSON: {"error":"...","violations":[{"field","reason"}]}. When an
// API key is set every path but /healthz and /readyz needs
// `Authorization: Bearer <key>` (compared in constant time; the status page
// itself holds no data and asks for the key); a non-loopback listener refuses
// to start without one; a request with two Authorization headers gets 400.
// docs/operations.md has the details.
#ifndef ASSIST_SRC_SERVICE_HTTP_API_H
#define ASSIST_SRC_SERVICE_HTTP_API_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "assist/synchronizer.h"

namespace assist::service {

class OutcomeTable;
class StatusModel;

// Where submitted prompts go instead of the synchronizer (scale-out ingest):
// calls `done` once, on any thread, with the ticket or the refusal.
using PromptRoute = std::function<void(AssistPrompt prompt, std::function<void(SubmitResult)> done)>;

struct HttpApiOptions {
  std::string host = "127.0.0.1";  // an IP address literal
  std::uint16_t port = 8080;       // 0: an ephemeral port, see HttpApi::port()
  std::string api_key;             // empty: no authentication (loopback only)
  std::size_t body_limit = 1 << 20;    // larger bodies: 413
  std::size_t header_limit = 16 << 10; // larger headers: 431
  // A client has this long to send a whole request (and to send the next one
  // on a kept-alive connection), and to read a response.
  std::chrono::milliseconds request_timeout{30'000};
  std::size_t max_connections = 1024;  // beyond it: 503 and close
  unsigned threads = 2;
  std::size_t max_batch_lines = 1000;  // per batch request: 413 beyond
  // Local mode: while the synchronizer is full (max_pending, or the audit
  // log behind) a request waits up to this long, all its prompts together,
  // for room before the rest are refused with 429. Pacing the client by its
  // response beats a 429 it must send again. 0: refuse at once.
  std::chrono::milliseconds admission_wait{1'000};
  // Not owned, outlive the HttpApi; null: their paths answer 404. `status`
  // serves GET / and /v1/status, and is sampled every
  // StatusModel::kSampleInterval while the API runs; `outcomes` answers
  // GET /v1/prompts/{frame_id}.
  StatusModel* status = nullptr;
  const OutcomeTable* outcomes = nullptr;
  // Empty: prompts go to the synchronizer (local mode). Set: to this route,
  // whose health (an error: /readyz 503 saying why) joins the synchronizer's.
  PromptRoute route;
  std::function<Status()> route_health;
  // More Prometheus text for /metrics (the route's figures); empty: none.
  std::function<std::string()> extra_metrics;
};

// Counters of the HTTP layer, for /metrics and tests.
struct HttpApiStats {
  std::uint64_t requests = 0;
  std::uint64_t unauthorized = 0;    // 401
  std::uint64_t rejected_size = 0;   // 413 and 431
  std::uint64_t prompts_accepted = 0;
  std::uint64_t prompts_refused = 0; // 400, 429, 503 on prompt submission
  std::uint64_t admission_waits = 0; // prompts that waited for room (admission_wait)
};

// Serves the API for `synchronizer`, which must outlive it.
class HttpApi {
 public:
  HttpApi(HttpApiOptions options, Synchronizer& synchronizer);
  // stop()s with no grace.
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds and starts serving on `threads` threads of its own. Fails (the
  // message naming the address) when it cannot bind, or when the address is
  // not loopback and there is no API key.
  Status start();

  // The bound port (after start()).
  std::uint16_t port() const;
  // "http://HOST:PORT".
  std::string url() const;

  // Stops taking prompts: they get 503, /readyz answers 503, and every answer
  // carries `Connection: close`. The listener stays open until stop(), so
  // probes during a drain get that 503 rather than a refused connection.
  // Requests already being served go on.
  void stop_accepting();

  // stop_accepting(), closes the listener, waits up to `grace` for requests
  // being served to finish, then closes every connection and joins the
  // threads. Requests
  // waiting for an outcome (?wait=outcome) finish once the synchronizer has
  // stopped, so stop the synchronizer first. Idempotent.
  void stop(std::chrono::milliseconds grace);

  HttpApiStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Prometheus text for the HTTP counters (assist_sync_http_*) and readiness
// (assist_sync_ready), appended to the synchronizer's metrics on /metrics.
std::string prometheus_text(const HttpApiStats& stats, bool ready);

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_HTTP_API_H
