// Starting coroutines whose failure their owner learns about. asio::detached
// drops an escaping exception silently: a reader killed by a throwing user
// callback would leave its connection unread with nobody told.
#ifndef ASSIST_SRC_UTIL_SPAWN_H
#define ASSIST_SRC_UTIL_SPAWN_H

#include <exception>
#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "util/logger.h"

namespace assist::util {

// What an escaped exception said, for logs ("unknown exception" for a non-std one).
std::string describe(const std::exception_ptr& error);

// Runs `task` on `executor`. If an exception escapes it, it is logged on
// `log` at error level naming `what`, then `on_exception` (if set) runs on
// the executor with it, so the owner can recover (close a connection, count it).
// REQUIRES: log is not null.
void spawn(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task, std::string what,
           LoggerPtr log, std::function<void(std::exception_ptr)> on_exception = nullptr);

}  // namespace assist::util

#endif
