#include "util/spawn.h"

#include <boost/asio/co_spawn.hpp>

#include "core/detail/log_record.h"

namespace assist::util {

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

void spawn(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task, std::string what,
           LoggerPtr log, std::function<void(std::exception_ptr)> on_exception) {
  boost::asio::co_spawn(executor, std::move(task),
                        [what = std::move(what), log = std::move(log),
                         on_exception = std::move(on_exception)](std::exception_ptr error) {
                          if (!error) return;
                          log->error(detail::LogRecord("a task ended by an exception")
                                         .with("task", what)
                                         .with("exception", describe(error)));
                          if (on_exception) on_exception(error);
                        });
}

}  // namespace assist::util
