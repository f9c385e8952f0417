// What an operator meets first, tested on the real binary: exit status,
// --help and --version, configuration diagnostics, structured logs, signals
// and shutdown, systemd readiness, plain-decimal JSON, the demo's temporary
// files, the emulator's clients file.
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>
#include <map>
#include <set>

#include "apps/cli_support.h"
#include "assist/version.h"

namespace assist::testing {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::map<std::string, std::string> kSecret{{"ASSIST_CLIENT_SECRET", "demo-secret"}};

// A JSON number written in exponent form (3.74E-1, 1E0) anywhere in `text`.
bool has_exponent_number(const std::string& text) {
  return std::regex_search(text, std::regex(R"([:,\[]-?\d+(\.\d+)?[eE][-+]?\d)"));
}

class OperatorTest : public CliTest {
 protected:
  // A configuration that passes validation, for a gateway nobody listens on.
  void write_offline_config(const std::string& name = "run.toml") const {
    write(name, "[gateway]\ntoken_url = \"http://127.0.0.1:1/oauth/token\"\nrealtime_url = "
                "\"ws://127.0.0.1:1/realtime/v1\"\nclient_id = \"c\"\n[audit]\npath = \"" +
                    path("audit.jsonl") + "\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
  }
};

// ----- exit status, --help, --version -------------------------------------

TEST_F(OperatorTest, UsageErrorsExit2WhateverCli11WouldSay) {
  ChildProcess missing_config({kBinary, "run", "--config", path("nope.toml")});  // CLI11: 105
  EXPECT_EQ(missing_config.wait(20s), 2) << missing_config.err();
  EXPECT_NE(missing_config.err().find("nope.toml"), std::string::npos) << missing_config.err();

  ChildProcess no_file({kBinary, "audit", "verify"});  // CLI11: 106
  EXPECT_EQ(no_file.wait(20s), 2) << no_file.err();

  ChildProcess unknown_flag({kBinary, "run", "--colour"});  // CLI11: 109
  EXPECT_EQ(unknown_flag.wait(20s), 2) << unknown_flag.err();

  ChildProcess no_command({kBinary});
  EXPECT_EQ(no_command.wait(20s), 2) << no_command.err();

  write("cert.pem", "not used\n");
  ChildProcess cert_without_key({kBinary, "gateway", "--tls", "--cert", path("cert.pem")});  // was 1
  EXPECT_EQ(cert_without_key.wait(20s), 2) << cert_without_key.err();
  EXPECT_NE(cert_without_key.err().find("--key"), std::string::npos) << cert_without_key.err();

  ChildProcess bad_port({kBinary, "gateway", "--listen", "127.0.0.1:http"});
  EXPECT_EQ(bad_port.wait(20s), 2) << bad_port.err();
  EXPECT_NE(bad_port.err().find("'http' is not a port"), std::string::npos) << bad_port.err();
}

TEST_F(OperatorTest, EveryCommandPrintsItsVersionAndDocumentedHelp) {
  const std::string version = "assist-sync " + std::string(assist::version());
  const std::vector<std::vector<std::string>> commands = {
      {}, {"demo"}, {"run"}, {"send"}, {"gateway"}, {"audit"}, {"audit", "verify"}};
  for (const auto& command : commands) {
    auto argv = command;
    argv.insert(argv.begin(), kBinary);
    argv.push_back("--version");
    ChildProcess v(argv);
    EXPECT_EQ(v.wait(20s), 0) << argv.size() << v.err();
    EXPECT_EQ(v.out(), version + "\n");

    argv.back() = "--help";
    ChildProcess h(argv);
    EXPECT_EQ(h.wait(20s), 0) << h.err();
    for (const auto* section : {"EXAMPLES:", "ENVIRONMENT:", "EXIT STATUS:"})
      EXPECT_NE(h.out().find(section), std::string::npos) << section << " in\n" << h.out();
  }
}

// ----- configuration diagnostics -------------------------------------------

TEST_F(OperatorTest, AMisspeltVariableStopsRunNamingTheClosestName) {
  write_offline_config();
  auto env = kSecret;
  env["ASSIST_GATWAY_CLIENT_ID"] = "typo";
  ChildProcess run({kBinary, "run", "--config", path("run.toml")}, env);
  ASSERT_EQ(run.wait(20s), 2) << run.out() << run.err();
  EXPECT_NE(run.err().find("ASSIST_GATWAY_CLIENT_ID: unknown environment variable; did you mean "
                           "ASSIST_GATEWAY_CLIENT_ID?"),
            std::string::npos)
      << run.err();
}

TEST_F(OperatorTest, ASyntaxErrorIsTheOnlyErrorReported) {
  write("broken.toml", "[gateway]\ntoken_url = \"http://127.0.0.1:1/oauth/token\"\nclient_id = \n");
  ChildProcess run({kBinary, "run", "--config", path("broken.toml")}, {{"ASSIST_CLIENT_SECRET", ""}});
  ASSERT_EQ(run.wait(20s), 2) << run.err();
  EXPECT_NE(run.err().find("broken.toml:3:"), std::string::npos) << run.err();
  EXPECT_EQ(run.err().find("required"), std::string::npos) << run.err();
  EXPECT_NE(run.err().find("1 configuration error(s)"), std::string::npos) << run.err();
}

TEST_F(OperatorTest, PrintConfigNeitherNeedsNorPrintsTheSecret) {
  // A production configuration inspected on another machine: the secret
  // file is not there.
  write("prod.toml", "[gateway]\ntoken_url = \"https://p.example.com/oauth/token\"\nrealtime_url = "
                     "\"wss://a.example.com/realtime/v1\"\nclient_id = \"c\"\nclient_secret_file = "
                     "\"/run/credentials/assist-sync.service/client_secret\"\n[audit]\npath = \"/var/lib/x.jsonl\"\n");
  ChildProcess print({kBinary, "run", "--config", path("prod.toml"), "--print-config"},
                     {{"ASSIST_CLIENT_SECRET", ""}});
  ASSERT_EQ(print.wait(20s), 0) << print.err();
  EXPECT_NE(print.out().find("client secret: from /run/credentials/assist-sync.service/client_secret (not read"),
            std::string::npos)
      << print.out();

  ChildProcess from_env({kBinary, "run", "--config", path("prod.toml"), "--print-config"},
                        {{"ASSIST_CLIENT_SECRET", "a-secret-of-31-bytes-0123456789"}});
  ASSERT_EQ(from_env.wait(20s), 0) << from_env.err();
  EXPECT_EQ(from_env.out().find("a-secret-of-31"), std::string::npos) << from_env.out();
  EXPECT_EQ(from_env.out().find(" bytes"), std::string::npos) << "the length is not printed\n" << from_env.out();
  EXPECT_NE(from_env.out().find("client secret: set, from ASSIST_CLIENT_SECRET"), std::string::npos)
      << from_env.out();
}

// ----- logs ------------------------------------------------------------------

TEST_F(OperatorTest, JsonLogLinesCarryFieldsAndTheLevelsAsFlagsSpellThem) {
  auto gw = std::make_unique<SpawnedGateway>();
  ASSERT_TRUE(gw->ok());
  write("run.toml", config_for(*gw, "127.0.0.1:0"));
  ChildProcess run({kBinary, "--log-format", "json", "run", "--config", path("run.toml")}, kSecret);
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  ASSERT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 200u; }));
  gw->process.signal(SIGKILL);  // the links warn about the lost gateway
  EXPECT_TRUE(run.wait_for_err("\"level\":\"warn\"", 20s)) << run.err();
  run.signal(SIGHUP);  // no log.file: nothing to reopen, and the log says so
  run.signal(SIGTERM);
  ASSERT_EQ(run.wait(30s), 0) << run.err();

  std::set<std::string> levels;
  bool serving = false;
  bool no_file = false;
  std::istringstream lines(run.err());
  for (std::string line; std::getline(lines, line);) {
    json::error_code ec;
    const auto value = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    const auto& o = value.as_object();
    ASSERT_TRUE(o.contains("ts") && o.contains("level") && o.contains("msg")) << line;
    levels.insert(std::string(o.at("level").as_string()));
    if (o.at("msg") == "serving") {
      serving = true;
      EXPECT_EQ(o.at("url").as_string(), "http://127.0.0.1:" + std::to_string(port)) << line;
      EXPECT_EQ(o.at("audit").as_string(), path("audit.jsonl")) << line;
    }
    if (o.at("msg") == "no log file to reopen: logging to stderr") {
      no_file = true;
      EXPECT_EQ(o.at("signal").as_string(), "SIGHUP") << line;
    }
    EXPECT_EQ(line.find("log file reopened"), std::string::npos) << line;
  }
  EXPECT_TRUE(serving) << run.err();
  EXPECT_TRUE(no_file) << run.err();
  EXPECT_TRUE(levels.contains("warn")) << run.err();
  EXPECT_FALSE(levels.contains("warning")) << run.err();
}

TEST_F(OperatorTest, TextLogLinesPutFieldsAfterTheMessage) {
  write_offline_config();
  ChildProcess run({kBinary, "--log-format", "text", "run", "--config", path("run.toml")}, kSecret);
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  run.signal(SIGTERM);
  ASSERT_EQ(run.wait(30s), 0) << run.err();
  const std::regex serving(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info  serving url=http://127\.0\.0\.1:)" +
                           std::to_string(port) + R"( gateway=ws://127\.0\.0\.1:1/realtime/v1 audit=\S+$)");
  bool found = false;
  std::istringstream lines(run.err());
  for (std::string line; std::getline(lines, line);) found = found || std::regex_match(line, serving);
  EXPECT_TRUE(found) << run.err();
}

// ----- signals and shutdown ------------------------------------------------

TEST_F(OperatorTest, ProbesGet503WhileDrainingAndASecondSigtermExitsAtOnce) {
  SpawnedGateway gw({"--ack-delay-ms", "60000"});  // prompts stay in flight
  ASSERT_TRUE(gw.ok());
  auto config = config_for(gw, "127.0.0.1:0");
  config.replace(config.find("stop_drain_ms = 3000"), 20, "stop_drain_ms = 120000");
  write("run.toml", config);
  ChildProcess run({kBinary, "--log-format", "json", "run", "--config", path("run.toml")}, kSecret);
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  ASSERT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 200u; }));
  ASSERT_EQ(http_request(port, http::verb::post, "/v1/prompts", prompt_line("D-1")).status, 202u);

  run.signal(SIGTERM);  // drains for up to 120 s: the prompt's ACK never comes
  HttpReply ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_request(port, http::verb::get, "/readyz");
    return ready.status != 200u;
  }));
  EXPECT_EQ(ready.status, 503u) << ready.error;  // not a refused connection
  EXPECT_NE(ready.body.find("shutting down"), std::string::npos) << ready.body;
  EXPECT_EQ(http_request(port, http::verb::post, "/v1/prompts", prompt_line("D-2")).status, 503u);
  EXPECT_EQ(http_request(port, http::verb::get, "/healthz").status, 200u);

  run.signal(SIGTERM);
  const auto code = run.wait(30s);  // far less than the drain bound
  ASSERT_TRUE(code.has_value()) << "a second SIGTERM did not end the drain";
  EXPECT_EQ(*code, 1) << run.err();
  EXPECT_NE(run.err().find("second stop signal: exiting at once"), std::string::npos) << run.err();
}

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    timeval timeout{0, 200'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Reads messages until one contains `text` or `limit` passes.
  bool wait_for(const std::string& text, std::chrono::milliseconds limit = 20s) {
    return eventually([&] {
      char buffer[4096];
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) received_.append(buffer, static_cast<std::size_t>(n)).push_back('\n');
      return received_.find(text) != std::string::npos;
    }, limit);
  }
  const std::string& received() const { return received_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string received_;
};

TEST_F(OperatorTest, TellsSystemdWhenReadyAlivenessAndStopping) {
  NotifySocket notify(path("notify"));
  write_offline_config();
  auto env = kSecret;
  env["NOTIFY_SOCKET"] = path("notify");
  env["WATCHDOG_USEC"] = "200000";  // WATCHDOG=1 every 100 ms
  ChildProcess run({kBinary, "run", "--config", path("run.toml")}, env);
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  EXPECT_TRUE(notify.wait_for("READY=1\nSTATUS=serving on http://127.0.0.1:" + std::to_string(port)))
      << notify.received();
  EXPECT_TRUE(notify.wait_for("WATCHDOG=1\nWATCHDOG=1\nWATCHDOG=1")) << notify.received();
  run.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1")) << notify.received();
  EXPECT_EQ(run.wait(30s), 0) << run.err();
}

// ----- JSON numbers ------------------------------------------------------------

TEST_F(OperatorTest, JsonNumbersArePlainDecimals) {
  SpawnedGateway gw;
  ASSERT_TRUE(gw.ok());
  write("run.toml", config_for(gw, "127.0.0.1:0"));
  ChildProcess run({kBinary, "run", "--config", path("run.toml")}, kSecret);
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  ASSERT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 200u; }));
  const auto outcome = http_request(port, http::verb::post, "/v1/prompts?wait=outcome", prompt_line("N-1"));
  ASSERT_EQ(outcome.status, 200u) << outcome.body;
  EXPECT_TRUE(json::parse(outcome.body).at("latency_ms").is_double()) << outcome.body;
  EXPECT_FALSE(has_exponent_number(outcome.body)) << outcome.body;
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), 0) << run.err();

  write("prompts.jsonl", prompt_line("N-2") + "\n" + prompt_line("N-3") + "\n");
  ChildProcess send({kBinary, "send", path("prompts.jsonl"), "--token-url", gw.token_url, "--realtime-url",
                     gw.realtime_url, "--client-id", "demo-client", "--json"},
                    kSecret);
  ASSERT_EQ(send.wait(60s), 0) << send.out() << send.err();
  EXPECT_TRUE(json::parse(send.out()).at("p50_ms").is_double()) << send.out();
  EXPECT_FALSE(has_exponent_number(send.out())) << send.out();

  const auto stats = http_request(gw.port(), http::verb::get, "/stats");
  ASSERT_EQ(stats.status, 200u);
  EXPECT_TRUE(json::parse(stats.body).at("max_prompt_age_at_delivery_s").is_double()) << stats.body;
  EXPECT_FALSE(has_exponent_number(stats.body)) << stats.body;
}

// ----- demo ---------------------------------------------------------------------

TEST_F(OperatorTest, DemoLeavesNothingInTheTemporaryDirectory) {
  const auto tmp = path("tmp");
  std::filesystem::create_directories(tmp);
  ChildProcess demo({kBinary, "demo", "--prompts", "200", "--sessions", "20"}, {{"TMPDIR", tmp}});
  ASSERT_EQ(demo.wait(60s), 0) << demo.out() << demo.err();
  EXPECT_NE(demo.out().find("temporary, removed at exit"), std::string::npos) << demo.out();
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << std::filesystem::directory_iterator(tmp)->path();
}

// ----- the emulator -----------------------------------------------------------

TEST_F(OperatorTest, GatewayClientsComeFromAFileNotTheCommandLine) {
  write("clients.txt", "# id:secret:scopes\n\nops-client:file-secret-123:realtime:read,agentassist:write,interactions:read\n");
  SpawnedGateway gw({"--clients-file", path("clients.txt")});
  ASSERT_TRUE(gw.ok()) << gw.process.err();
  write("prompts.jsonl", prompt_line("F-1") + "\n");
  ChildProcess send({kBinary, "send", path("prompts.jsonl"), "--token-url", gw.token_url, "--realtime-url",
                     gw.realtime_url, "--client-id", "ops-client", "--json"},
                    {{"ASSIST_CLIENT_SECRET", "file-secret-123"}});
  ASSERT_EQ(send.wait(60s), 0) << send.out() << send.err();
  EXPECT_EQ(json::parse(send.out()).at("acked").as_int64(), 1) << send.out();

  ChildProcess argv_secret({kBinary, "gateway", "--client", "a:b:realtime:read"});
  EXPECT_EQ(argv_secret.wait(20s), 2) << argv_secret.err();

  write("bad-clients.txt", "ops-client-without-secret\n");
  ChildProcess bad({kBinary, "gateway", "--clients-file", path("bad-clients.txt")});
  EXPECT_EQ(bad.wait(20s), 2) << bad.err();
  EXPECT_NE(bad.err().find(path("bad-clients.txt") + ":1: expected ID:SECRET:SCOPE,SCOPE"), std::string::npos)
      << bad.err();
}

}  // namespace
}  // namespace assist::testing
