// A nats-server with JetStream, run as a child process on a free loopback
// port with its store in a scratch directory, for the bus tests.
#ifndef ASSIST_TESTS_BUS_NATS_SERVER_H
#define ASSIST_TESTS_BUS_NATS_SERVER_H

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "apps/child_process.h"
#include "bus/connection.h"

namespace assist::testing {

// The path of `nats-server` on PATH, if any.
std::optional<std::filesystem::path> find_nats_server();

// A loopback TCP port nothing listened on a moment ago (bound to port 0, then closed).
int free_loopback_port();

enum class JetStreamMode { enabled, disabled };

class NatsServer {
 public:
  // Starts `binary` (with JetStream, storing in a new directory under
  // `scratch`, unless disabled) on a free port. ready() tells whether it
  // accepts connections.
  NatsServer(const std::filesystem::path& binary, const std::filesystem::path& scratch,
             JetStreamMode jetstream = JetStreamMode::enabled);
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Waits up to `timeout` for the server to accept a TCP connection.
  bool ready(std::chrono::milliseconds timeout) const;
  // Kills the server (SIGKILL) and starts it again on the same port and store.
  void restart();
  // Kills the server (SIGKILL); its store remains.
  void kill();
  std::string url() const;
  // The server's log file, for a failed test's message.
  std::filesystem::path log_file() const { return store_ / "nats-server.log"; }

 private:
  void start();

  std::filesystem::path binary_;
  JetStreamMode jetstream_;
  std::filesystem::path store_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

// A fixture with a fresh nats-server per test and a Connection to it;
// skips the test where nats-server is not on PATH.
class NatsServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Another connection to the server; null (and a test failure) when it fails.
  std::unique_ptr<bus::Connection> connect(std::function<void(bool)> on_connection_change = {});
  std::string server_log() const;

  std::unique_ptr<NatsServer> server_;
  std::unique_ptr<bus::Connection> connection_;
};

}  // namespace assist::testing

#endif
