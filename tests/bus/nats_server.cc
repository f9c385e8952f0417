#include "bus/nats_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace assist::testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const auto address = loopback(port);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

std::optional<std::filesystem::path> find_nats_server() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path(dir) / "nats-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

NatsServer::NatsServer(const std::filesystem::path& binary, const std::filesystem::path& scratch,
                       JetStreamMode jetstream)
    : binary_(binary), jetstream_(jetstream), port_(free_loopback_port()) {
  store_ = scratch / ("nats-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
  std::filesystem::remove_all(store_);
  std::filesystem::create_directories(store_);
  start();
}

NatsServer::~NatsServer() {
  process_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(store_, ignored);
}

void NatsServer::start() {
  std::vector<std::string> argv{binary_.string(), "-p", std::to_string(port_), "-a", "127.0.0.1",
                                "-l", log_file().string()};
  if (jetstream_ == JetStreamMode::enabled) argv.insert(argv.end(), {"-js", "-sd", (store_ / "jetstream").string()});
  process_ = std::make_unique<ChildProcess>(std::move(argv));
}

void NatsServer::kill() { process_.reset(); }

void NatsServer::restart() {
  kill();
  start();
}

bool NatsServer::ready(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_ && process_->started() && !accepts_connections(port_)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return process_ && process_->started();
}

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

void NatsServerTest::SetUp() {
  const auto binary = find_nats_server();
  if (!binary) GTEST_SKIP() << "nats-server is not on PATH (scripts/bootstrap.sh installs it)";
  server_ = std::make_unique<NatsServer>(*binary, std::filesystem::temp_directory_path());
  ASSERT_TRUE(server_->ready(std::chrono::seconds(10))) << "nats-server did not start; its log: " << server_log();
  connection_ = connect();
  ASSERT_NE(connection_, nullptr);
}

void NatsServerTest::TearDown() {
  connection_.reset();
  server_.reset();
}

std::unique_ptr<bus::Connection> NatsServerTest::connect(std::function<void(bool)> on_connection_change) {
  bus::ConnectOptions options;
  options.servers = {server_->url()};
  options.reconnect_wait = std::chrono::milliseconds(50);
  options.on_connection_change = std::move(on_connection_change);
  auto connection = bus::Connection::connect(std::move(options));
  EXPECT_TRUE(connection) << connection.error().message;
  return connection ? std::move(connection).value() : nullptr;
}

std::string NatsServerTest::server_log() const {
  std::ifstream in(server_->log_file());
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace assist::testing
