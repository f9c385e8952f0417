// The deterministic simulation's gateway: the contract's server side in
// memory, on the simulation's clock and executor, with seeded faults. It
// hands the synchronizer its connections (transport::Connection) and token
// answers (transport::TokenTransport), and keeps the ledger of what reached
// the simulated desktops, against which the invariants are checked.
#ifndef ASSIST_TESTS_SIM_SIM_GATEWAY_H
#define ASSIST_TESTS_SIM_SIM_GATEWAY_H

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"
#include "assist/frame.h"
#include "transport/connection.h"
#include "transport/token_provider.h"

namespace assist::sim {

// What the gateway does wrong, and how often; drawn per seed.
struct FaultPlan {
  // Token endpoint.
  double token_ttl_s = 1800;
  bool first_token_429 = false;
  double token_5xx_p = 0;
  double token_timeout_p = 0;
  // Handshakes.
  double refuse_401_p = 0;
  double refuse_429_p = 0;
  double refuse_503_p = 0;
  // The network and the desktops.
  double net_delay_max_ms = 2;  // one way; stays under the client's freshness margin
  double ack_delay_max_ms = 20;
  double slow_ack_p = 0;  // an ACK that takes slow_ack_ms
  double slow_ack_ms = 300;
  // Per frame received.
  double drop_p = 0;        // the connection dies while the burst arrives (after any frame)
  double half_open_p = 0;   // the connection goes silent both ways
  double stop_acking_p = 0; // shows what arrives, answers nothing more (pings still answered)
  double going_away_p = 0;  // close 1001
  double nack_p = 0;        // a NACK of a random code instead of showing
  double session_ended_p = 0;
  double feedback_p = 0;
  std::uint32_t max_sessions = 3;
  std::uint32_t max_inflight = 16;
};

// What reached the desktops, and every contract breach seen.
struct Ledger {
  struct Shown {
    std::string session_id;
    std::uint64_t sequence = 0;
  };
  std::unordered_map<std::string, Shown> shown;           // by frame_id
  std::unordered_map<std::string, std::uint64_t> last_sequence;  // per session, of shown frames
  std::vector<std::string> violations;
  std::uint64_t frames = 0;
  std::uint64_t duplicates = 0;  // replays of a shown frame_id, suppressed
  std::uint64_t connections = 0;
  std::uint64_t tokens = 0;
};

class SimGateway {
 public:
  SimGateway(boost::asio::any_io_executor executor, ManualClock& clock, std::uint64_t seed, FaultPlan plan,
             double freshness_seconds);
  ~SimGateway();

  // Prints what the gateway sees and does, with the simulated time (replays).
  void trace(bool on) { trace_ = on; }
  transport::ConnectionFactory connections();
  transport::TokenTransport token_transport();
  const Ledger& ledger() const { return ledger_; }

  struct Conn;  // the server side of one connection (sim_gateway.cc)

 private:
  friend class SimConnection;
  boost::asio::awaitable<transport::OpenResult> handshake(const std::shared_ptr<Conn>& conn, const std::string& token);
  boost::asio::awaitable<transport::TokenReply> token_request();
  double uniform();
  bool chance(double p) { return p > 0 && uniform() < p; }
  std::chrono::microseconds net_delay();
  // When a burst left the client.
  struct Sent {
    double unix = 0;
    Clock::steady_time steady;
  };
  void receive(const std::shared_ptr<Conn>& conn, const std::string& text, const Sent& sent);
  void answer(const std::shared_ptr<Conn>& conn, std::string frame, std::chrono::microseconds after);
  void prompt(const std::shared_ptr<Conn>& conn, const PromptSync& frame, const Sent& sent);
  // A fault that ends or silences the connection as this frame arrives;
  // true when the frame was lost with it.
  bool disturbed(const std::shared_ptr<Conn>& conn);
  void kill(const std::shared_ptr<Conn>& conn, std::uint16_t close_code);

  boost::asio::any_io_executor executor_;
  ManualClock& clock_;
  SeededRandom random_;
  FaultPlan plan_;
  double freshness_;
  Ledger ledger_;
  std::map<std::string, double> tokens_;  // access token -> expiry (unix s)
  std::map<std::string, NackCode> refused_;  // injected refusals, by frame_id
  std::uint64_t token_requests_ = 0;
  std::uint64_t next_id_ = 1;
  bool trace_ = false;
  void log(const std::shared_ptr<Conn>& conn, std::string_view what);
};

}  // namespace assist::sim

#endif
