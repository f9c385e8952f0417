#include "send_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "assist/frame.h"
#include "assist/synchronizer.h"
#include "core/detail/json_text.h"
#include "exit_codes.h"
#include "help.h"
#include "service/logging.h"
#include "service/prompt_input.h"

namespace assist::cli {
namespace {

using namespace std::chrono_literals;

struct SendArgs {
  std::string file = "-";
  std::string token_url;
  std::string realtime_url;
  std::string client_id;
  std::string client_secret_file;
  std::string audit;
  std::string audit_signing_key;
  std::string ca_file;
  std::string pin_sha256;
  bool token_in_query = false;
  bool json = false;
  std::size_t max_inflight = 1000;
  unsigned connections = transport::RealtimeOptions{}.max_connections;
  double timeout_s = 60.0;
};

// Milliseconds and seconds in the summary: three decimals are plenty.
double three_decimals(double v) { return std::round(v * 1000.0) / 1000.0; }

// Outcomes of accepted prompts and the fate of every other line. Thread-safe.
class SendTally {
 public:
  void outcome(const SyncOutcome& o) {
    std::unique_lock lock(mu_);
    switch (o.kind) {
      case OutcomeKind::acked:
        ++acked_;
        latencies_ms_.push_back(o.latency_seconds * 1000.0);
        break;
      case OutcomeKind::nacked: ++nacked_[std::string(to_string(o.nack_code))]; break;
      case OutcomeKind::rejected_validation: ++rejected_["validation"]; break;
      case OutcomeKind::rejected_freshness: ++rejected_["freshness"]; break;
      case OutcomeKind::rejected_concurrency: ++rejected_["concurrency"]; break;
      case OutcomeKind::superseded: ++superseded_; break;
      case OutcomeKind::failed: ++failed_; break;
      case OutcomeKind::unconfirmed: ++unconfirmed_; break;
    }
    ++finished_;
    const bool wake = wake_at_ && submitted_ - finished_ <= *wake_at_;
    lock.unlock();
    if (wake) cv_.notify_all();
  }
  void submitted() {
    std::lock_guard lock(mu_);
    ++submitted_;
  }
  // A line refused before acceptance: terminal (audited) for validation and a
  // full queue, not terminal for anything else.
  void refused(const std::string& reason, bool terminal) {
    std::lock_guard lock(mu_);
    ++rejected_[reason];
    if (!terminal) ++without_outcome_;
  }
  void malformed() {
    std::lock_guard lock(mu_);
    ++malformed_;
  }
  void line() {
    std::lock_guard lock(mu_);
    ++lines_;
  }
  // Waits until fewer than `limit` accepted prompts are unfinished, or
  // `until`. Once at the limit, until a quarter of them have finished: the
  // reader is woken once per batch, not once per outcome (a wake-up costs the
  // synchronizer thread more than the prompt).
  void wait_below(std::size_t limit, std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mu_);
    if (submitted_ - finished_ < limit) return;
    wait_until_at_most(lock, limit - std::max<std::size_t>(1, limit / 4), until);
  }
  bool wait_all(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mu_);
    return wait_until_at_most(lock, 0, until);
  }
  void mark_timed_out() {
    std::lock_guard lock(mu_);
    timed_out_ = submitted_ - finished_;
    without_outcome_ += timed_out_;
  }
  std::string progress() {
    std::lock_guard lock(mu_);
    return fmt::format("lines {}  submitted {}  finished {}  acked {}", lines_, submitted_, finished_, acked_);
  }
  bool every_line_terminal() {
    std::lock_guard lock(mu_);
    return malformed_ == 0 && without_outcome_ == 0 && finished_ == submitted_;
  }

  boost::json::object summary(double elapsed_s) {
    std::lock_guard lock(mu_);
    auto counts = [](const std::map<std::string, std::size_t>& m) {
      boost::json::object o;
      for (const auto& [k, v] : m) o[k] = v;
      return o;
    };
    boost::json::object s;
    s["lines"] = lines_;
    s["submitted"] = submitted_;
    s["acked"] = acked_;
    s["nacked"] = counts(nacked_);
    s["rejected"] = counts(rejected_);
    s["superseded"] = superseded_;
    s["failed"] = failed_;
    s["unconfirmed"] = unconfirmed_;
    s["malformed"] = malformed_;
    s["timed_out"] = timed_out_;
    s["p50_ms"] = three_decimals(percentile(0.50));
    s["p99_ms"] = three_decimals(percentile(0.99));
    s["elapsed_s"] = three_decimals(elapsed_s);
    return s;
  }

 private:
  double percentile(double p) const {
    if (latencies_ms_.empty()) return 0.0;
    auto v = latencies_ms_;
    const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
    return v[at];
  }

  // Waits until at most `unfinished` accepted prompts are without an outcome.
  bool wait_until_at_most(std::unique_lock<std::mutex>& lock, std::size_t unfinished,
                          std::chrono::steady_clock::time_point until) {
    wake_at_ = unfinished;
    const bool reached = cv_.wait_until(lock, until, [&] { return submitted_ - finished_ <= unfinished; });
    wake_at_.reset();
    return reached;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::size_t> wake_at_;  // while the reader waits: outcomes wake it at this many unfinished
  std::size_t lines_ = 0, submitted_ = 0, finished_ = 0, acked_ = 0, superseded_ = 0, failed_ = 0, unconfirmed_ = 0;
  std::size_t malformed_ = 0, timed_out_ = 0, without_outcome_ = 0;
  std::map<std::string, std::size_t> nacked_, rejected_;
  std::vector<double> latencies_ms_;
};

void print_text_summary(const boost::json::object& s) {
  auto n = [&](std::string_view key) { return boost::json::value_to<std::uint64_t>(s.at(key)); };
  fmt::print("{:=^52}\n", " assist-sync send summary ");
  fmt::print("{:<32}{:>20}\n", "lines", n("lines"));
  fmt::print("{:<32}{:>20}\n", "submitted (accepted)", n("submitted"));
  fmt::print("{:<32}{:>20}\n", "acked", n("acked"));
  for (const auto& [code, count] : s.at("nacked").as_object())
    fmt::print("{:<32}{:>20}\n", fmt::format("nacked {}", std::string_view(code)), count.as_uint64());
  for (const auto& [reason, count] : s.at("rejected").as_object())
    fmt::print("{:<32}{:>20}\n", fmt::format("rejected: {}", std::string_view(reason)), count.as_uint64());
  fmt::print("{:<32}{:>20}\n", "superseded", n("superseded"));
  fmt::print("{:<32}{:>20}\n", "failed", n("failed"));
  fmt::print("{:<32}{:>20}\n", "unconfirmed (may have shown)", n("unconfirmed"));
  fmt::print("{:<32}{:>20}\n", "malformed lines", n("malformed"));
  fmt::print("{:<32}{:>20}\n", "no outcome before --timeout", n("timed_out"));
  fmt::print("{:<32}{:>17.3f} ms\n", "write->ACK p50", s.at("p50_ms").as_double());
  fmt::print("{:<32}{:>17.3f} ms\n", "write->ACK p99", s.at("p99_ms").as_double());
  fmt::print("{:<32}{:>18.2f} s\n", "elapsed", s.at("elapsed_s").as_double());
  fmt::print("{:=^52}\n", "");
}

// The synchronizer's options from the arguments and the client secret
// (ASSIST_CLIENT_SECRET or the file); nullopt, said on stderr, without one.
std::optional<SynchronizerOptions> send_options(const SendArgs& args) {
  auto secret = transport::load_secret({"ASSIST_CLIENT_SECRET", args.client_secret_file});
  if (!secret) {
    fmt::print(stderr, "assist-sync send: no client secret: {} (set ASSIST_CLIENT_SECRET or --client-secret-file)\n",
               secret.error().message);
    return std::nullopt;
  }
  SynchronizerOptions so;
  so.token.client_secret = std::move(secret).value();
  service::register_secret(so.token.client_secret);
  so.token.token_url = args.token_url;
  so.token.client_id = args.client_id;
  so.token.tls.ca_file = args.ca_file;
  so.token.tls.pin_sha256 = args.pin_sha256;
  so.realtime.realtime_url = args.realtime_url;
  so.realtime.token_in_query = args.token_in_query;
  so.realtime.max_connections = args.connections;
  so.realtime.tls = so.token.tls;
  so.audit.path = args.audit;
  so.audit.signing_key_file = args.audit_signing_key;
  so.max_pending = std::max<std::size_t>(so.max_pending, args.max_inflight);
  return so;
}

// A progress line on stderr, rewritten in place, when stderr is a terminal.
class Progress {
 public:
  explicit Progress(SendTally& tally) : tally_(tally) {}
  bool tty() const { return tty_; }
  // At most every 250 ms unless `force`.
  void show(bool force) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < 250ms) return;
    last_ = now;
    fmt::print(stderr, "\r  {}\x1b[K", tally_.progress());
  }
  void finish() {
    if (tty_) fmt::print(stderr, "\r  {}\x1b[K\n", tally_.progress());
  }
  // A line's problem on stderr, after the progress line.
  void problem(std::size_t line, std::string_view what) {
    fmt::print(stderr, "{}line {}: {}\n", tty_ ? "\r" : "", line, what);
  }

 private:
  SendTally& tally_;
  const bool tty_ = ::isatty(STDERR_FILENO) == 1;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::chrono::steady_clock::time_point after_seconds(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(seconds));
}

// Reads `in` line by line and submits each prompt, at most max_inflight
// pending at a time, until the input ends or the synchronizer gives up
// (`fatal_code` set). Every line ends counted in `tally`.
void send_lines(std::istream& in, Synchronizer& sync, const SendArgs& args, const std::atomic<int>& fatal_code,
                SendTally& tally, Progress& progress) {
  std::string line;
  std::size_t number = 0;
  while (fatal_code.load() == exit_code::ok) {
    const auto read = service::read_prompt_line(in, line, service::kMaxPromptLineBytes);
    if (read == service::LineRead::end) break;
    ++number;
    if (read == service::LineRead::too_long) {
      tally.line();
      tally.malformed();
      progress.problem(number, fmt::format("longer than {} bytes", service::kMaxPromptLineBytes));
      continue;
    }
    const auto text = service::prompt_line_text(line);
    if (!text) continue;
    tally.line();
    auto decoded = decode_prompt_object(*text);
    if (!decoded) {
      tally.malformed();
      progress.problem(number, decoded.error().message);
      continue;
    }
    tally.wait_below(args.max_inflight, after_seconds(args.timeout_s));
    auto result = sync.sync_prompt(std::move(decoded).value());
    if (!result) {
      const bool invalid = result.error().code == SubmitErrc::invalid_prompt;
      const bool full = result.error().code == SubmitErrc::queue_full;
      tally.refused(invalid ? "validation" : full ? "queue_full" : "not_sent", invalid || full);
      progress.problem(number, result.error().message);
      continue;
    }
    tally.submitted();
    result.value().then([&tally](const SyncOutcome& o) { tally.outcome(o); });
    progress.show(false);
  }
}

// Waits up to --timeout for the outcomes of what was submitted; stops
// waiting at once when the synchronizer gave up (what was pending has ended).
void wait_for_outcomes(const SendArgs& args, const std::atomic<int>& fatal_code, SendTally& tally,
                       Progress& progress) {
  const auto deadline = after_seconds(args.timeout_s);
  while (!tally.wait_all(std::min(deadline, std::chrono::steady_clock::now() + 250ms))) {
    progress.show(true);
    if (fatal_code.load() != exit_code::ok) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      tally.mark_timed_out();
      break;
    }
  }
}

int run_send(const SendArgs& args) {
  auto so = send_options(args);
  if (!so) return exit_code::usage;
  std::ifstream file;
  if (args.file != "-") {
    file.open(args.file, std::ios::binary);
    if (!file) {
      fmt::print(stderr, "assist-sync send: cannot read {}: {}\n", args.file, std::strerror(errno));
      return exit_code::usage;
    }
  }
  std::istream& in = args.file != "-" ? static_cast<std::istream&>(file) : std::cin;

  SendTally tally;  // outlives the synchronizer, whose tickets report into it
  // Set (on the synchronizer thread) when it gives up for good: credentials
  // refused, not a gateway, the audit log unwritable. Every pending prompt has
  // then ended; send stops reading at once and exits with the code that says which.
  std::atomic<int> fatal_code{exit_code::ok};
  so->on_fatal = [&fatal_code](const SynchronizerStatus& status) {
    fatal_code.store(exit_code::for_fatal(status));
  };
  Synchronizer sync(*so);
  if (const Status started = sync.start(); !started.ok()) {
    fmt::print(stderr, "assist-sync send: cannot start: {}\n", started.message);
    // An option that cannot work is bad usage; anything else (the audit log
    // cannot be opened) a failure.
    return started.code.category() == option_category() ? exit_code::usage : exit_code::failure;
  }
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress(tally);
  send_lines(in, sync, args, fatal_code, tally, progress);
  wait_for_outcomes(args, fatal_code, tally, progress);
  sync.stop();  // every prompt still pending ends as failed, audited
  progress.finish();
  const auto summary = tally.summary(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (args.json) fmt::print("{}\n", detail::to_json_text(summary));
  else print_text_summary(summary);
  if (const int code = fatal_code.load(); code != exit_code::ok) {
    const auto status = sync.status();
    fmt::print(stderr, "assist-sync send: gave up: {}\n",
               status.fatal.message.empty() ? status.fatal.code.message() : status.fatal.message);
    return code;
  }
  return tally.every_line_terminal() ? exit_code::ok : exit_code::failure;
}

}  // namespace

std::function<int()> add_send_command(CLI::App& app) {
  auto args = std::make_shared<SendArgs>();
  auto* cmd = app.add_subcommand(
      "send",
      "Send prompts (JSONL, one prompt object per line) to a gateway. The client secret comes from "
      "ASSIST_CLIENT_SECRET or --client-secret-file, never from the command line");
  cmd->add_option("file", args->file, "JSONL file, or - for standard input")->capture_default_str();
  cmd->add_option("--token-url", args->token_url, "OAuth token endpoint, http(s)://host[:port]/path")->required();
  cmd->add_option("--realtime-url", args->realtime_url, "Real-time WebSocket, ws(s)://host[:port]/path")->required();
  cmd->add_option("--client-id", args->client_id, "OAuth client id")->required();
  cmd->add_option("--client-secret-file", args->client_secret_file,
                  "File holding the client secret (used when ASSIST_CLIENT_SECRET is unset)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--audit", args->audit, "Audit log file (JSONL, hash-chained); default: none");
  cmd->add_option("--audit-signing-key", args->audit_signing_key,
                  "Ed25519 private key (PEM) to sign audit digests with (assist-sync audit keygen)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--token-in-query", args->token_in_query,
                "Send the token as ?access_token= instead of an Authorization header");
  auto* ca = cmd->add_option("--ca-file", args->ca_file, "PEM bundle to trust instead of the system store")
                 ->check(CLI::ExistingFile);
  cmd->add_option("--pin-sha256", args->pin_sha256, "Trust exactly the certificate with this SHA-256 (hex)")
      ->excludes(ca);
  cmd->add_flag("--json", args->json, "Print the summary as one JSON object on stdout");
  cmd->add_option("--max-inflight", args->max_inflight, "Accepted prompts without an outcome at most")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--connections", args->connections,
                  "Gateway connections at most, opened as sessions need them (each carries up to 100 sessions)")
      ->check(CLI::Range(1u, 10'000u))
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for the outcomes after the last line")
      ->check(CLI::Range(0.0, 86'400.0))
      ->capture_default_str();
  document(*cmd,
           {{"ASSIST_CLIENT_SECRET=… assist-sync send prompts.jsonl --token-url https://platform.example.com/oauth/token "
             "--realtime-url wss://api.example.com/realtime/v1 --client-id my-client --audit audit.jsonl",
             "cat prompts.jsonl | assist-sync send - --client-secret-file secret.txt --token-url … --realtime-url … "
             "--client-id … --json"},
            {{"ASSIST_CLIENT_SECRET", "the OAuth client secret (else --client-secret-file)"}},
            {{exit_code::ok, "every line ended in an outcome (see the summary for which)"},
             {exit_code::failure, "some line did not: unparsable, refused, or no outcome before --timeout"},
             {exit_code::usage, "bad usage, no client secret, FILE unreadable"},
             {exit_code::gateway_fatal, "the gateway refuses the credentials or the configuration, or is no usable gateway"},
             {exit_code::audit_fatal, "the audit log cannot be written: sending stopped at once"}}});
  return [cmd, args] { return *cmd ? run_send(*args) : -1; };
}

}  // namespace assist::cli
