// Synchronizer options aimed at an in-process gateway emulator with its
// default client (demo-client / demo-secret): what every fixture that runs
// a synchronizer against the emulator starts from.
#ifndef ASSIST_TESTS_SUPPORT_GATEWAY_CLIENT_H
#define ASSIST_TESTS_SUPPORT_GATEWAY_CLIENT_H

#include "assist/gateway.h"
#include "assist/synchronizer.h"

namespace assist::testing {

// The token and realtime URLs of `gateway` (started), and its default client.
inline SynchronizerOptions options_for(const Gateway& gateway) {
  SynchronizerOptions o;
  o.token.token_url = gateway.token_url();
  o.token.client_id = "demo-client";
  o.token.client_secret = "demo-secret";
  o.realtime.realtime_url = gateway.realtime_url();
  return o;
}

}  // namespace assist::testing

#endif  // ASSIST_TESTS_SUPPORT_GATEWAY_CLIENT_H
