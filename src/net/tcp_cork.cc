#include "net/tcp_cork.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace assist::net {

void set_tcp_cork(int native_socket, bool on) noexcept {
  const int value = on ? 1 : 0;
  ::setsockopt(native_socket, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

}  // namespace assist::net
