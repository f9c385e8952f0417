#include "bus/connection.h"

#include <algorithm>
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

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

struct StreamInfoDeleter {
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};

std::vector<std::string> sorted_subjects(const char* const* subjects, int count) {
  std::vector<std::string> out(subjects, subjects + count);
  std::sort(out.begin(), out.end());
  return out;
}

std::string storage_name(jsStorageType storage) { return storage == js_FileStorage ? "file" : "memory"; }

std::string age_text(std::int64_t nanos) {
  if (nanos <= 0) return "none";
  return fmt::format("{}s", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::nanoseconds(nanos)).count());
}

// How long why_no_responders() reuses an answer: a burst of failed
// asynchronous publishes asks once.
constexpr auto kProbeReuse = std::chrono::seconds(1);

}  // namespace

std::string shown_server_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || !parsed->has_authority()) return "(a server URL that is not scheme://host:port)";
  boost::urls::url shown = *parsed;
  if (shown.has_userinfo()) shown.remove_userinfo();
  return std::string(shown.buffer());
}

Connection::Connection(ConnectOptions options) : options_(std::move(options)) {}

Status Connection::publish_failure(std::string_view subject, natsStatus status, jsErrCode js_error) {
  if (status == NATS_NO_RESPONDERS) return why_no_responders(subject);
  return nats_failure(fmt::format("publish to {}", subject), status, js_error);
}

// Nobody answered the publish: either no stream stores the subject, or
// JetStream does not answer for the stream (not enabled; in a cluster, no
// quorum or no leader for the stream). Ask JetStream which it is.
Status Connection::why_no_responders(std::string_view subject) {
  const std::string subject_text(subject);
  std::lock_guard lock(probe_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - probed_at_ > kProbeReuse) probe_answers_.clear();
  if (auto it = probe_answers_.find(subject_text); it != probe_answers_.end()) return it->second;
  if (probe_answers_.empty()) probed_at_ = now;

  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = options_.request_timeout.count();
  options.Stream.Info.SubjectsFilter = subject_text.c_str();  // js_StreamNames: the streams storing it
  jsStreamNamesList* names = nullptr;
  jsErrCode js_error{};
  const auto s = js_StreamNames(&names, jetstream_, &options, &js_error);
  Status answer;
  if (s == NATS_OK && names != nullptr && names->Count > 0) {
    answer = Status{make_error_code(BusErrc::jetstream_unavailable),
                    fmt::format("publish to {}: no JetStream server answered for stream {}, which stores it (in a "
                                "cluster: no quorum, or no leader for the stream)",
                                subject, names->List[0])};
  } else if (s == NATS_OK || s == NATS_NOT_FOUND || js_error == JSStreamNotFoundErr) {
    answer = Status{make_error_code(BusErrc::no_stream), fmt::format("publish to {}: no stream stores it", subject)};
  } else {
    answer = Status{make_error_code(BusErrc::jetstream_unavailable),
                    fmt::format("publish to {}: no JetStream server answered (JetStream not enabled, or a cluster "
                                "without quorum), nor did one say which stream stores it: {}{}",
                                subject, natsStatus_GetText(s),
                                js_error != 0 ? fmt::format(" (JetStream error {})", static_cast<int>(js_error))
                                              : std::string())};
  }
  if (names != nullptr) jsStreamNamesList_Destroy(names);
  probe_answers_.emplace(subject_text, answer);
  return answer;
}

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
  std::function<void(Result<PublishAck>)> done;
  {
    std::lock_guard lock(connection.publishes_mutex_);
    if (auto node = connection.pending_publishes_.extract(message); !node.empty()) done = std::move(node.mapped());
    ++connection.running_publish_callbacks_;
  }
  if (done) {
    // Counted as running: the destructor keeps the JetStream context until
    // this returns (publish_failure may ask JetStream a question).
    Result<PublishAck> result = ack != nullptr
                                    ? Result<PublishAck>(PublishAck{ack->Sequence, ack->Duplicate})
                                    : connection.publish_failure(natsMsg_GetSubject(message), error->Err, error->ErrCode);
    done(std::move(result));
  }
  natsMsg_Destroy(message);
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
  const auto duplicates = duration_cast<nanoseconds>(config.duplicate_window).count();
  const auto max_age = duration_cast<nanoseconds>(config.max_age).count();
  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_error{};
  auto s = js_GetStreamInfo(&raw_info, jetstream_, config.name.c_str(), nullptr, &js_error);
  std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
  if (s == NATS_NOT_FOUND || js_error == JSStreamNotFoundErr) {
    std::vector<const char*> subjects;
    for (const auto& subject : config.subjects) subjects.push_back(subject.c_str());
    jsStreamConfig stream;
    jsStreamConfig_Init(&stream);
    stream.Name = config.name.c_str();
    stream.Subjects = subjects.data();
    stream.SubjectsLen = static_cast<int>(subjects.size());
    stream.Storage = js_FileStorage;
    stream.Duplicates = duplicates;
    stream.Replicas = config.replicas;
    stream.MaxAge = max_age;
    jsStreamInfo* created = nullptr;
    js_error = {};
    s = js_AddStream(&created, jetstream_, &stream, nullptr, &js_error);
    jsStreamInfo_Destroy(created);
    if (s != NATS_OK) return nats_failure(fmt::format("create stream {}", config.name), s, js_error);
    return {};
  }
  if (s != NATS_OK) return nats_failure(fmt::format("look up stream {}", config.name), s, js_error);

  // It exists: the same subjects and storage, else it is someone else's stream.
  auto& existing = *info->Config;
  auto wanted_subjects = config.subjects;
  std::sort(wanted_subjects.begin(), wanted_subjects.end());
  const auto existing_subjects = sorted_subjects(existing.Subjects, existing.SubjectsLen);
  if (existing_subjects != wanted_subjects) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("stream {} exists with subjects [{}], expected [{}]: another stream of that name, or "
                              "another configuration (delete it, or name another stream)",
                              config.name, fmt::join(existing_subjects, ", "), fmt::join(wanted_subjects, ", "))};
  }
  if (existing.Storage != js_FileStorage) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("stream {} exists with {} storage, expected file storage", config.name,
                              storage_name(existing.Storage))};
  }
  const auto existing_replicas = std::max<std::int64_t>(existing.Replicas, 1);
  if (existing_replicas == config.replicas && existing.MaxAge == max_age && existing.Duplicates == duplicates) return {};

  // Replicas, max age or duplicate window changed (by the configuration or by
  // an operator): the configuration wins; the stream's other settings stay.
  const auto change = fmt::format("replicas {} -> {}, max age {} -> {}, duplicate window {} -> {}", existing_replicas,
                                  config.replicas, age_text(existing.MaxAge), age_text(max_age),
                                  age_text(existing.Duplicates), age_text(duplicates));
  existing.Replicas = config.replicas;
  existing.MaxAge = max_age;
  existing.Duplicates = duplicates;
  jsStreamInfo* raw_updated = nullptr;
  js_error = {};
  s = js_UpdateStream(&raw_updated, jetstream_, &existing, nullptr, &js_error);
  const std::unique_ptr<jsStreamInfo, StreamInfoDeleter> updated(raw_updated);
  if (s != NATS_OK) {
    auto failure = nats_failure(fmt::format("update stream {} ({})", config.name, change), s, js_error);
    // Refused rather than unreachable: more replicas than servers, a change the server does not allow.
    if (failure.code == BusErrc::failed) failure.code = make_error_code(BusErrc::bad_config);
    return failure;
  }
  // A single server accepts more replicas than it can give and keeps 1.
  if (const auto kept = std::max<std::int64_t>(updated->Config->Replicas, 1); kept != config.replicas) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("update stream {} ({}): the server kept replicas {} (more replicas than servers in "
                              "the cluster?)",
                              config.name, change, kept)};
  }
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
