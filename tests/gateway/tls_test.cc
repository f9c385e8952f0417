// TLS: https and wss with a self-signed certificate pinned by its SHA-256.
#include "gateway_fixture.h"

#include "net/tls.h"

namespace assist::test {
namespace {

class GatewayTlsTest : public GatewayTest {};

TEST_F(GatewayTlsTest, SelfSignedCertificateServesHttpsAndWss) {
  GatewayOptions options;
  options.tls = true;
  start(options);
  EXPECT_EQ(gateway->certificate_sha256().size(), 64u);
  EXPECT_EQ(net::normalize_sha256_hex(gateway->certificate_sha256()), gateway->certificate_sha256());
  EXPECT_FALSE(gateway->certificate_file().empty());
  EXPECT_EQ(gateway->token_url().rfind("https://127.0.0.1:", 0), 0u);
  EXPECT_EQ(gateway->realtime_url().rfind("wss://127.0.0.1:", 0), 0u);

  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1)));
  EXPECT_EQ(client->read_json()["type"], "ACK");
}

TEST_F(GatewayTlsTest, WrongPinIsRejectedByTheClient) {
  GatewayOptions options;
  options.tls = true;
  start(options);
  Target wrong{target.port, std::string(64, 'a')};
  EXPECT_EQ(http_request(wrong, "GET", "/stats").status, 0u);
  EXPECT_EQ(http_request(target, "GET", "/stats").status, 200u);
}

TEST_F(GatewayTlsTest, GivenCertificateAndKeyAreServed) {
  GatewayOptions first;
  first.tls = true;
  start(first);
  const auto cert = gateway->certificate_file();
  const auto sha = gateway->certificate_sha256();
  // A second gateway serving the first one's files (they live while it runs).
  GatewayOptions options;
  options.clock = &clock;
  options.tls = true;
  options.cert_file = cert;
  options.key_file = cert.substr(0, cert.rfind('/')) + "/key.pem";
  Gateway second(options);
  ASSERT_TRUE(second.start().ok());
  EXPECT_EQ(second.certificate_sha256(), sha);
  EXPECT_EQ(http_request({second.port(), sha}, "GET", "/stats").status, 200u);

  options.cert_file = "/nonexistent/cert.pem";
  Gateway broken(options);
  const Status started = broken.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message.find("/nonexistent/cert.pem"), std::string::npos) << started.message;
}

}  // namespace
}  // namespace assist::test
