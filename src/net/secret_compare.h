// Comparing a secret a peer sent with the one expected (an API key, a client
// secret) without telling the peer anything through timing.
#ifndef ASSIST_SRC_NET_SECRET_COMPARE_H
#define ASSIST_SRC_NET_SECRET_COMPARE_H

#include <string_view>

namespace assist::net {

// True when `given` equals `expected`. Compares their SHA-256 digests in
// constant time, so neither the content nor the length of `expected` leaks
// through how long the answer takes.
bool secrets_equal(std::string_view given, std::string_view expected);

}  // namespace assist::net

#endif  // ASSIST_SRC_NET_SECRET_COMPARE_H
