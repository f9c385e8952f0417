// The gateway emulator: the server side of the wire contract
// (docs/contract.md) as a real server on one listener: the OAuth token
// endpoint (POST /oauth/token), the real-time WebSocket (GET /realtime/v1) and
// a statistics endpoint (GET /stats). It is the project's embedded default,
// its test peer and a load/fault-test tool (`assist-sync gateway`).
// See docs/gateway.md for the behaviour where the protocol is silent.
#ifndef ASSIST_GATEWAY_H
#define ASSIST_GATEWAY_H

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "assist/clock.h"
#include "assist/status.h"

namespace assist {

// One OAuth client the token endpoint accepts, and the scopes it may be granted.
struct GatewayClient {
  std::string id;
  std::string secret;
  std::vector<std::string> scopes;
};

// A refusal the gateway injects: the next `count` requests get `status`,
// with `Retry-After: retry_after` (whole seconds) when the status is 429 or
// 503. count 0 = off.
struct GatewayRefusal {
  std::uint32_t count = 0;
  unsigned status = 503;
  std::chrono::seconds retry_after{1};
};

// Injected faults. All off by default. Every random decision draws from one
// generator seeded with `seed`, so a failing run can be replayed.
struct GatewayFaults {
  // Drop the TCP connection (no close frame) on every Nth frame received on
  // the gateway, counted over all connections. The frame is handled first (a
  // valid prompt is delivered) but its answer is never sent. 0 = off.
  std::uint64_t drop_every_n_frames = 0;
  // The same, on receipt of a frame with this probability. 0 = off.
  double drop_probability = 0.0;
  // Delay each ACK by ack_delay plus a uniform random extra in [0, ack_delay_jitter).
  std::chrono::milliseconds ack_delay{0};
  std::chrono::milliseconds ack_delay_jitter{0};
  // Refuse the next N WebSocket handshakes (401, 429 or 503).
  GatewayRefusal refuse_handshakes;
  // Answer the next N token requests with 429 or a 5xx.
  GatewayRefusal fail_token_requests;
  // Close every connection with 1001 this long after it opened. 0 = off.
  std::chrono::seconds go_away_after{0};
  std::uint64_t seed = 1;
};

// Emulated agent desktops. All off by default.
struct DesktopEmulation {
  // When send_feedback is true, every delivered prompt gets a PROMPT_FEEDBACK
  // feedback_delay after delivery: ADOPTED with adoption_probability, else
  // DISMISSED.
  bool send_feedback = false;
  double adoption_probability = 0.0;
  std::chrono::milliseconds feedback_delay{0};
  // A session ends (SESSION_ENDED, reason "interaction_completed") this long
  // after its first prompt on a connection. 0 = never.
  std::chrono::milliseconds session_length{0};
};

struct GatewayOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = an ephemeral port; port() tells which
  bool tls = false;
  // PEM files. Empty with tls: a self-signed certificate for 127.0.0.1 and
  // localhost is generated at start-up into a fresh temporary directory.
  std::string cert_file;
  std::string key_file;
  // Empty: one client demo-client / demo-secret holding
  // realtime:read agentassist:write interactions:read.
  std::vector<GatewayClient> clients;
  std::chrono::seconds token_ttl{1800};
  std::uint32_t max_sessions = 100;    // per connection
  std::uint32_t max_snippets = 10;     // advertised in HELLO; validation uses the core limits
  std::uint32_t max_inflight = 1000;   // unacknowledged prompts per connection
  std::uint32_t max_frame_bytes = 65536;
  std::uint32_t max_connections_per_client = 64;  // beyond it: 429 + Retry-After
  std::chrono::seconds connection_retry_after{1};  // Retry-After of that 429
  // A WebSocket with nothing received for half this long is pinged; nothing
  // received for this long closes it (Beast's keep-alive timeout).
  std::chrono::milliseconds idle_timeout{30000};
  // An HTTP request (or TLS handshake) must arrive whole within this time, so
  // slow partial requests cannot hold a connection.
  std::chrono::milliseconds request_timeout{10000};
  // TCP connections served at once; beyond it new ones are closed at once.
  std::uint32_t max_connections = 10000;
  // frame_ids remembered for deduplication; beyond it the oldest are
  // forgotten early (memory stays bounded under floods). The table is sized
  // for it at start (about 8 bytes per slot) so it never rehashes while serving.
  std::size_t dedup_capacity = 1'000'000;
  std::chrono::seconds dedup_window{600};
  DesktopEmulation desktop;
  GatewayFaults faults;
  // Time for token expiry, stale checks and prompt ages; nullptr =
  // system_clock(). Must outlive the Gateway.
  Clock* clock = nullptr;
  unsigned threads = 1;
  // Called with the frame_id of every prompt delivered to a desktop (once
  // per frame_id within the dedup window, not for duplicates or refusals),
  // on an I/O thread, before its ACK is queued. Tests compare these with the
  // client's audit log. Must be thread-safe when threads > 1 and must not
  // block for long. nullptr: nothing is called.
  std::function<void(std::string_view frame_id)> on_delivered = nullptr;
};

// Counters since start(). Tests and benchmarks prove delivery properties from
// these.
struct GatewayStats {
  std::uint64_t frames_received = 0;        // text or binary WebSocket messages
  std::uint64_t prompts_delivered = 0;      // unique frame_ids shown to a desktop
  std::uint64_t acks_sent = 0;              // including duplicate ACKs
  std::uint64_t duplicates_suppressed = 0;  // ACK duplicate:true
  std::map<std::string, std::uint64_t> nacks_by_code;  // "STALE" -> n
  std::uint64_t stale_arrivals = 0;
  std::uint64_t connections_opened = 0;     // WebSocket handshakes accepted
  std::uint64_t connections_active = 0;
  std::uint64_t closes_4001 = 0;
  std::uint64_t closes_1001 = 0;
  std::uint64_t closes_1009 = 0;
  std::uint64_t connections_dropped = 0;    // TCP dropped by a fault
  double max_prompt_age_at_delivery_s = 0.0;
  std::uint64_t order_violations = 0;       // shown after a higher sequence of its session
  std::uint64_t sessions_ended = 0;         // SESSION_ENDED sent
  std::uint64_t feedback_sent = 0;
  std::uint64_t token_requests = 0;
  std::uint64_t tokens_issued = 0;
  std::uint64_t token_errors = 0;           // 4xx/5xx answers, injected ones included
  std::uint64_t handshakes_refused = 0;
  std::uint64_t bad_requests = 0;           // malformed or oversized HTTP

  // One JSON object with the members above (nacks_by_code nested).
  std::string to_json() const;
};

// The emulator. Thread-safe: every member may be called from any thread.
class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  // Stops the gateway if it is running.
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds host:port and serves on `threads` threads of its own. A failure
  // names the address it cannot bind (the OS's code), or the TLS certificate
  // it cannot load or make. A second call while running does nothing.
  [[nodiscard]] Status start();
  // Closes the listener and every connection (without close frames), and joins
  // the threads. Idempotent.
  void stop();

  // The bound port; 0 before start().
  std::uint16_t port() const;
  // "http://127.0.0.1:PORT/oauth/token" (https with TLS).
  std::string token_url() const;
  // "ws://127.0.0.1:PORT/realtime/v1" (wss with TLS).
  std::string realtime_url() const;
  // "http://127.0.0.1:PORT/stats" (https with TLS).
  std::string stats_url() const;
  // The PEM certificate served, and its SHA-256 (64 lower-case hex digits);
  // both empty without TLS.
  std::string certificate_file() const;
  std::string certificate_sha256() const;

  GatewayStats stats() const;

  // Runtime controls, for tests and operators.
  // Refuses the next `n` handshakes with `status` (401, 403, 429 or 503).
  void refuse_next_handshakes(std::uint32_t n, unsigned status,
                              std::chrono::seconds retry_after = std::chrono::seconds(1));
  // Answers the next `n` token requests with `status` (429 or 5xx).
  void fail_next_token_requests(std::uint32_t n, unsigned status,
                                std::chrono::seconds retry_after = std::chrono::seconds(1));
  // Sends a close frame with `code` (e.g. 1001) on every open connection.
  void close_all(std::uint16_t code);
  // While stalled, prompts are accepted but no ACKs are sent; releasing sends
  // the held ACKs in order.
  void set_stalled(bool stalled);
  // Sends SESSION_ENDED (reason "ended_by_gateway") for `session_id` on every
  // connection holding it, and frees its slot.
  void end_session(const std::string& session_id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace assist

#endif  // ASSIST_GATEWAY_H
