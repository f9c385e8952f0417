#include "gateway_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "assist/gateway.h"
#include "exit_codes.h"
#include "help.h"

namespace assist::cli {
namespace {

struct GatewayArgs {
  std::string listen = "127.0.0.1:0";
  std::string clients_file;
  std::int64_t token_ttl = 1800;
  std::string stats_file;
  std::string delivered_ids_file;
  std::int64_t idle_timeout_ms = 30000;
  std::int64_t ack_delay_ms = 0;
  std::int64_t ack_jitter_ms = 0;
  std::string refuse_handshakes;
  std::string fail_token_requests;
  std::int64_t go_away_after = 0;
  std::int64_t feedback_delay_ms = 0;
  std::int64_t session_length = 0;
  GatewayOptions options;
};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// "ID:SECRET:SCOPE,SCOPE"; the secret may not contain ':'. `where` names the
// line in errors, never its content (it holds a secret).
GatewayClient parse_client(const std::string& text, const std::string& where) {
  const auto parts = split(text, ':');
  if (parts.size() < 3 || parts[0].empty() || parts[1].empty()) {
    throw std::invalid_argument(where + ": expected ID:SECRET:SCOPE,SCOPE");
  }
  // Scopes contain ':' themselves (realtime:read): rejoin what follows the secret.
  std::string scopes = parts[2];
  for (std::size_t i = 3; i < parts.size(); ++i) scopes += ":" + parts[i];
  GatewayClient client{parts[0], parts[1], {}};
  for (auto& scope : split(scopes, ',')) {
    if (!scope.empty()) client.scopes.push_back(scope);
  }
  return client;
}

// The clients file: one ID:SECRET:SCOPE,SCOPE per line; blank lines and lines
// starting with '#' are skipped. A file, so that secrets stay out of argv
// (and `ps`).
std::vector<GatewayClient> read_clients_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(fmt::format("--clients-file: cannot read {}", path));
  std::vector<GatewayClient> clients;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    clients.push_back(parse_client(line.substr(start), fmt::format("{}:{}", path, number)));
  }
  if (clients.empty()) throw std::invalid_argument(fmt::format("--clients-file: {} holds no client", path));
  return clients;
}

// "N:STATUS[:RETRY_AFTER]".
GatewayRefusal parse_refusal(const std::string& text, const char* option) {
  const auto parts = split(text, ':');
  try {
    if (parts.size() == 2 || parts.size() == 3) {
      GatewayRefusal r;
      r.count = static_cast<std::uint32_t>(std::stoul(parts[0]));
      r.status = static_cast<unsigned>(std::stoul(parts[1]));
      if (parts.size() == 3) r.retry_after = std::chrono::seconds(std::stol(parts[2]));
      return r;
    }
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(fmt::format("{} takes N:STATUS[:RETRY_AFTER_SECONDS]", option));
}

// --delivered-ids: every delivered frame_id on a line of its own, appended
// with one write() as it is delivered (before its ACK), so a reader sees
// whole lines, and all of a connection's deliveries once it has closed.
class DeliveredIdsFile {
 public:
  ~DeliveredIdsFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Creates or empties `path`; false with the reason otherwise.
  bool open(const std::string& path, std::string& error) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) error = fmt::format("--delivered-ids {}: {}", path, std::strerror(errno));
    return fd_ >= 0;
  }
  void append(std::string_view frame_id) {
    const std::string line = std::string(frame_id) + '\n';
    if (::write(fd_, line.data(), line.size()) == static_cast<ssize_t>(line.size())) return;
    if (!failed_.exchange(true))
      fmt::print(stderr, "assist-sync gateway: cannot append to {}: {}\n", path_, std::strerror(errno));
  }

 private:
  int fd_ = -1;
  std::string path_;
  std::atomic<bool> failed_{false};
};

void finish_options(GatewayArgs& args) {
  auto& o = args.options;
  const auto colon = args.listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen takes HOST:PORT");
  o.host = args.listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  const auto port_text = args.listen.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    throw std::invalid_argument(fmt::format("--listen: '{}' is not a port (0-65535)", port_text));
  o.port = static_cast<std::uint16_t>(port);
  if (!args.clients_file.empty()) o.clients = read_clients_file(args.clients_file);
  o.token_ttl = std::chrono::seconds(args.token_ttl);
  o.idle_timeout = std::chrono::milliseconds(args.idle_timeout_ms);
  o.faults.ack_delay = std::chrono::milliseconds(args.ack_delay_ms);
  o.faults.ack_delay_jitter = std::chrono::milliseconds(args.ack_jitter_ms);
  if (!args.refuse_handshakes.empty()) {
    o.faults.refuse_handshakes = parse_refusal(args.refuse_handshakes, "--refuse-handshakes");
    const auto s = o.faults.refuse_handshakes.status;
    if (s != 401 && s != 403 && s != 429 && s != 503) {
      throw std::invalid_argument("--refuse-handshakes: status must be 401, 403, 429 or 503");
    }
  }
  if (!args.fail_token_requests.empty()) {
    o.faults.fail_token_requests = parse_refusal(args.fail_token_requests, "--fail-token-requests");
    const auto s = o.faults.fail_token_requests.status;
    if (s != 429 && (s < 500 || s > 599)) {
      throw std::invalid_argument("--fail-token-requests: status must be 429 or 5xx");
    }
  }
  o.faults.go_away_after = std::chrono::seconds(args.go_away_after);
  o.desktop.feedback_delay = std::chrono::milliseconds(args.feedback_delay_ms);
  o.desktop.session_length = std::chrono::seconds(args.session_length);
}

int run(GatewayArgs& args) {
  try {
    finish_options(args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "assist-sync gateway: {}\n", e.what());
    return exit_code::usage;
  }
  DeliveredIdsFile delivered_ids;  // outlives the gateway, which calls into it
  if (!args.delivered_ids_file.empty()) {
    std::string error;
    if (!delivered_ids.open(args.delivered_ids_file, error)) {
      fmt::print(stderr, "assist-sync gateway: {}\n", error);
      return 2;
    }
    args.options.on_delivered = [&delivered_ids](std::string_view id) { delivered_ids.append(id); };
  }
  // Block the stop signals before any gateway thread exists, so that only
  // sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Gateway gateway(args.options);
  if (const Status started = gateway.start(); !started.ok()) {
    fmt::print(stderr, "assist-sync gateway: {}\n", started.message);
    return exit_code::failure;
  }
  std::string line = fmt::format("gateway listening on {}://{}:{} token_url={} realtime_url={} stats_url={}",
                                 args.options.tls ? "https" : "http", args.options.host, gateway.port(),
                                 gateway.token_url(), gateway.realtime_url(), gateway.stats_url());
  if (args.options.tls) {
    line += fmt::format(" cert={} sha256={}", gateway.certificate_file(), gateway.certificate_sha256());
  }
  fmt::print("{}\n", line);
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  gateway.stop();
  if (!args.stats_file.empty()) {
    std::ofstream out(args.stats_file, std::ios::trunc);
    out << gateway.stats().to_json() << '\n';
    if (!out.flush()) {
      fmt::print(stderr, "assist-sync gateway: cannot write {}\n", args.stats_file);
      return exit_code::failure;
    }
  }
  return exit_code::ok;
}

// Where it listens, TLS, clients and tokens, files it writes, and limits.
void add_serving_options(CLI::App& cmd, GatewayArgs& args) {
  auto& o = args.options;
  cmd.add_option("--listen", args.listen, "HOST:PORT to listen on; port 0 picks a free one")->capture_default_str();
  auto* tls = cmd.add_flag("--tls", o.tls, "Serve https/wss");
  auto* cert = cmd.add_option("--cert", o.cert_file, "PEM certificate (with --tls and --key; default: self-signed)")
                   ->check(CLI::ExistingFile)
                   ->needs(tls);
  auto* key = cmd.add_option("--key", o.key_file, "PEM private key (with --cert)")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  cmd.add_option("--clients-file", args.clients_file,
                 "File of accepted clients, one ID:SECRET:SCOPE,SCOPE per line, # comments "
                 "(default: demo-client:demo-secret with all three scopes)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--token-ttl", args.token_ttl, "Token lifetime in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--stats-file", args.stats_file, "Write the stats as JSON here on SIGTERM/SIGINT");
  cmd.add_option("--delivered-ids", args.delivered_ids_file,
                 "Append the frame_id of every prompt delivered to a desktop to this file, one per line, as it is "
                 "delivered (the file is emptied at start)");
  cmd.add_option("--max-sessions", o.max_sessions, "Sessions per connection")->capture_default_str();
  cmd.add_option("--max-inflight", o.max_inflight, "Unacknowledged prompts per connection")->capture_default_str();
  cmd.add_option("--max-frame-bytes", o.max_frame_bytes, "Largest frame; beyond it close 1009")->capture_default_str();
  cmd.add_option("--max-connections-per-client", o.max_connections_per_client, "Beyond it handshakes get 429")
      ->capture_default_str();
  cmd.add_option("--idle-timeout-ms", args.idle_timeout_ms, "Ping after half, close after all of it")
      ->capture_default_str();
  cmd.add_option("--threads", o.threads, "I/O threads")->capture_default_str();
}

// The faults it injects, and the emulated desktops' feedback.
void add_behaviour_options(CLI::App& cmd, GatewayArgs& args) {
  auto& o = args.options;
  cmd.add_option("--drop-every", o.faults.drop_every_n_frames,
                 "Drop the TCP connection (no close frame) on every Nth frame received");
  cmd.add_option("--drop-probability", o.faults.drop_probability,
                 "Drop the TCP connection on a frame with this probability")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--ack-delay-ms", args.ack_delay_ms, "Delay every ACK");
  cmd.add_option("--ack-jitter-ms", args.ack_jitter_ms, "Add a random ACK delay up to this");
  cmd.add_option("--refuse-handshakes", args.refuse_handshakes,
                 "N:STATUS[:RETRY_AFTER]: refuse the next N handshakes (401/403/429/503)");
  cmd.add_option("--fail-token-requests", args.fail_token_requests,
                 "N:STATUS[:RETRY_AFTER]: answer the next N token requests with 429 or 5xx");
  cmd.add_option("--go-away-after", args.go_away_after, "Close each connection with 1001 after S seconds");
  cmd.add_option("--seed", o.faults.seed, "Seed of every random fault decision")->capture_default_str();
  cmd.add_flag("--feedback", o.desktop.send_feedback, "Send PROMPT_FEEDBACK for delivered prompts");
  cmd.add_option("--adoption-probability", o.desktop.adoption_probability,
                 "Share of prompts the agent ADOPTS (with --feedback)")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--feedback-delay-ms", args.feedback_delay_ms, "Delay of PROMPT_FEEDBACK");
  cmd.add_option("--session-length", args.session_length,
                 "SESSION_ENDED this many seconds after a session's first prompt (0: never)");
}

}  // namespace

std::function<int()> add_gateway_command(CLI::App& app) {
  auto args = std::make_shared<GatewayArgs>();
  auto* cmd = app.add_subcommand("gateway", "Run the assist gateway emulator (token endpoint + real-time WebSocket)");
  add_serving_options(*cmd, *args);
  add_behaviour_options(*cmd, *args);
  document(*cmd,
           {{"assist-sync gateway --listen 127.0.0.1:9000",
             "assist-sync gateway --tls --listen 127.0.0.1:9443 --clients-file clients.txt --token-ttl 60",
             "assist-sync gateway --drop-every 500 --ack-delay-ms 20 --refuse-handshakes 3:503:1 --stats-file stats.json"},
            {},
            {{exit_code::ok, "stopped by SIGTERM/SIGINT (after writing --stats-file)"},
             {exit_code::failure, "cannot listen, load the certificate, or write --stats-file"},
             {exit_code::usage, "bad usage: an invalid option value, --cert without --key, an unreadable clients file"}}});
  return [cmd, args]() -> int { return *cmd ? run(*args) : -1; };
}

}  // namespace assist::cli
