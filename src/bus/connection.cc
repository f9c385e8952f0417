#include "bus/connection.h"

#include <climits>
#include <fstream>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bus/nats_status.h"

namespace assist::bus {
namespace {

struct OptionsDeleter {
  void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};

std::string shown_servers(const std::vector<std::string>& servers) {
  std::vector<std::string> shown;
  shown.reserve(servers.size());
  for (const auto& url : servers) shown.push_back(shown_server_url(url));
  return fmt::format("{}", fmt::join(shown, ", "));
}

// The Status of a publish to `subject` that failed with `status`.
Status publish_failure(std::string_view subject, natsStatus status, jsErrCode js_error) {
  if (status == NATS_NO_RESPONDERS) {
    return Status{make_error_code(BusErrc::no_stream), fmt::format("publish to {}: no stream stores it", subject)};
  }
  return nats_failure(fmt::format("publish to {}", subject), status, js_error);
}

}  // namespace

std::string shown_server_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || !parsed->has_authority()) return "(a server URL that is not scheme://host:port)";
  boost::urls::url shown = *parsed;
  if (shown.has_userinfo()) shown.remove_userinfo();
  return std::string(shown.buffer());
}

Connection::Connection(ConnectOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Connection>> Connection::connect(ConnectOptions options) {
  if (options.servers.empty()) return Status{make_error_code(BusErrc::bad_config), "connect: no NATS server URL"};
  if (options.servers.size() > INT_MAX) return Status{make_error_code(BusErrc::bad_config), "connect: too many NATS server URLs"};
  const auto servers = shown_servers(options.servers);
  std::unique_ptr<Connection> self(new Connection(std::move(options)));
  const auto& opts = self->options_;

  natsOptions* raw_options = nullptr;
  if (const auto s = natsOptions_Create(&raw_options); s != NATS_OK) return nats_failure("connect: natsOptions_Create", s);
  const std::unique_ptr<natsOptions, OptionsDeleter> nats_options(raw_options);
  std::vector<const char*> urls;
  for (const auto& url : opts.servers) urls.push_back(url.c_str());
  natsStatus s = natsOptions_SetServers(raw_options, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(raw_options, true);
  if (s == NATS_OK) s = natsOptions_SetName(raw_options, opts.client_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(raw_options, opts.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(raw_options, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(raw_options, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(raw_options, opts.reconnect_wait.count());
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(raw_options, &Connection::on_disconnected, self.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(raw_options, &Connection::on_reconnected, self.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(raw_options, &Connection::on_closed, self.get());
  if (s != NATS_OK) return nats_failure("connect: setting the connection options", s);
  if (opts.credentials_file) {
    // libnats reads the file only during the handshake, where an unreachable
    // server would hide that it is missing: check it can be opened now.
    const auto path = opts.credentials_file->string();
    if (!std::ifstream(*opts.credentials_file)) {
      return Status{make_error_code(BusErrc::bad_config), fmt::format("connect: credentials file {} cannot be read", path)};
    }
    s = natsOptions_SetUserCredentialsFromFiles(raw_options, path.c_str(), nullptr);
    if (s != NATS_OK) {
      return Status{make_error_code(BusErrc::bad_config),
                      fmt::format("connect: credentials file {}: {}", path, natsStatus_GetText(s))};
    }
  }

  s = natsConnection_Connect(&self->connection_, raw_options);
  if (s != NATS_OK) return nats_failure(fmt::format("connect to {}", servers), s);

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = opts.request_timeout.count();
  js_options.PublishAsync.AckHandler = &Connection::on_publish_ack;
  js_options.PublishAsync.AckHandlerClosure = self.get();
  s = natsConnection_JetStream(&self->jetstream_, self->connection_, &js_options);
  if (s != NATS_OK) return nats_failure(fmt::format("JetStream context on {}", servers), s);
  return self;
}

Connection::~Connection() {
  if (jetstream_ != nullptr) {
    complete_pending_publishes();
    jsCtx_Destroy(jetstream_);
  }
  if (connection_ == nullptr) return;
  natsConnection_Close(connection_);
  {
    std::unique_lock lock(closed_mutex_);
    closed_cv_.wait(lock, [this] { return closed_; });
  }
  natsConnection_Destroy(connection_);
}

void Connection::complete_pending_publishes() {
  {
    // libnats creates its list of pending messages at the first asynchronous
    // publish, and js_PublishAsyncGetPendingList crashes without it.
    std::lock_guard lock(publishes_mutex_);
    if (!async_publishing_started_) return;
  }
  natsMsgList pending{};
  if (js_PublishAsyncGetPendingList(&pending, jetstream_) == NATS_OK) {
    for (int i = 0; i < pending.Count; ++i) {
      std::function<void(Result<PublishAck>)> done;
      {
        std::lock_guard lock(publishes_mutex_);
        if (auto node = pending_publishes_.extract(pending.Msgs[i]); !node.empty()) done = std::move(node.mapped());
      }
      if (done) {
        done(Status{make_error_code(BusErrc::unreachable),
                    fmt::format("publish to {}: the connection was closed before the PubAck came (the message may "
                                "be stored: publish again with the same msg id)",
                                natsMsg_GetSubject(pending.Msgs[i]))});
      }
    }
    natsMsgList_Destroy(&pending);
  }
  // What is left was taken by libnats' callback thread, which is completing it.
  std::unique_lock lock(publishes_mutex_);
  publishes_cv_.wait(lock, [this] { return pending_publishes_.empty() && running_publish_callbacks_ == 0; });
}

void Connection::on_publish_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* self) {
  auto& connection = *static_cast<Connection*>(self);
  Result<PublishAck> result = ack != nullptr ? Result<PublishAck>(PublishAck{ack->Sequence, ack->Duplicate})
                                             : publish_failure(natsMsg_GetSubject(message), error->Err, error->ErrCode);
  std::function<void(Result<PublishAck>)> done;
  {
    std::lock_guard lock(connection.publishes_mutex_);
    if (auto node = connection.pending_publishes_.extract(message); !node.empty()) done = std::move(node.mapped());
    ++connection.running_publish_callbacks_;
  }
  natsMsg_Destroy(message);
  if (done) done(std::move(result));
  std::lock_guard lock(connection.publishes_mutex_);
  --connection.running_publish_callbacks_;
  connection.publishes_cv_.notify_all();
}

void Connection::on_disconnected(natsConnection*, void* self) {
  const auto& hook = static_cast<Connection*>(self)->options_.on_connection_change;
  if (hook) hook(false);
}

void Connection::on_reconnected(natsConnection*, void* self) {
  const auto& hook = static_cast<Connection*>(self)->options_.on_connection_change;
  if (hook) hook(true);
}

void Connection::on_closed(natsConnection*, void* self) {
  auto& connection = *static_cast<Connection*>(self);
  std::lock_guard lock(connection.closed_mutex_);
  connection.closed_ = true;
  connection.closed_cv_.notify_all();
}

Status Connection::ensure_stream(const StreamConfig& config) {
  std::vector<const char*> subjects;
  for (const auto& subject : config.subjects) subjects.push_back(subject.c_str());
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  stream.Name = config.name.c_str();
  stream.Subjects = subjects.data();
  stream.SubjectsLen = static_cast<int>(subjects.size());
  stream.Storage = js_FileStorage;
  stream.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(config.duplicate_window).count();
  jsStreamInfo* info = nullptr;
  jsErrCode js_error{};
  const auto s = js_AddStream(&info, jetstream_, &stream, nullptr, &js_error);
  jsStreamInfo_Destroy(info);
  if (s != NATS_OK) return nats_failure(fmt::format("create stream {}", config.name), s, js_error);
  return {};
}

Result<PublishAck> Connection::publish(std::string_view subject, std::string_view data, std::string_view msg_id) {
  if (data.size() > INT_MAX) {
    return Status{make_error_code(BusErrc::bad_config), fmt::format("publish to {}: {} bytes", subject, data.size())};
  }
  const std::string subject_text(subject);
  const std::string msg_id_text(msg_id);
  jsPubOptions publish_options;
  jsPubOptions_Init(&publish_options);
  publish_options.MsgId = msg_id_text.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode js_error{};
  const auto s = js_Publish(&ack, jetstream_, subject_text.c_str(), data.data(), static_cast<int>(data.size()),
                            &publish_options, &js_error);
  if (s != NATS_OK) return publish_failure(subject, s, js_error);
  const PublishAck result{ack->Sequence, ack->Duplicate};
  jsPubAck_Destroy(ack);
  return result;
}

void Connection::publish_async(std::string_view subject, std::string_view data, std::string_view msg_id,
                               std::function<void(Result<PublishAck>)> done) {
  if (data.size() > INT_MAX) {
    done(Status{make_error_code(BusErrc::bad_config), fmt::format("publish to {}: {} bytes", subject, data.size())});
    return;
  }
  const std::string subject_text(subject);
  const std::string msg_id_text(msg_id);
  natsMsg* message = nullptr;
  if (const auto s = natsMsg_Create(&message, subject_text.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
      s != NATS_OK) {
    done(publish_failure(subject, s, {}));
    return;
  }
  jsPubOptions publish_options;
  jsPubOptions_Init(&publish_options);
  publish_options.MsgId = msg_id_text.c_str();
  publish_options.MaxWait = options_.request_timeout.count();  // libnats then reports NATS_TIMEOUT
  {
    std::lock_guard lock(publishes_mutex_);
    pending_publishes_.emplace(message, std::move(done));
  }
  natsMsg* handed_over = message;
  const auto s = js_PublishMsgAsync(jetstream_, &handed_over, &publish_options);
  if (s == NATS_OK) {
    std::lock_guard lock(publishes_mutex_);
    async_publishing_started_ = true;
    return;
  }
  // libnats did not keep the message: no callback will come for it.
  {
    std::lock_guard lock(publishes_mutex_);
    done = std::move(pending_publishes_.extract(message).mapped());
  }
  natsMsg_Destroy(message);
  done(publish_failure(subject, s, {}));
}

}  // namespace assist::bus
