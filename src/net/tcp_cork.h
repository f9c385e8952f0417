// TCP_CORK (tcp(7)) on a connected socket: while set, the kernel holds
// partial segments so that several small messages written back to back leave
// in as few segments as possible; clearing it sends what is held at once.
// Loopback and LAN peers pay per segment far more than per byte, so a writer
// corks while it drains a burst and uncorks when the burst ends.
#ifndef ASSIST_SRC_NET_TCP_CORK_H
#define ASSIST_SRC_NET_TCP_CORK_H

namespace assist::net {

// Sets or clears TCP_CORK on `native_socket`. Failures only cost batching, so
// they are ignored.
void set_tcp_cork(int native_socket, bool on) noexcept;

}  // namespace assist::net

#endif
