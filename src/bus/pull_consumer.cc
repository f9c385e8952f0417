#include "bus/pull_consumer.h"

#include <fmt/format.h>

#include "bus/nats_status.h"

namespace assist::bus {

Delivery::Delivery(natsMsg* message, std::uint64_t stream_sequence, std::uint64_t delivery_count,
                   std::string_view msg_id)
    : message_(message), stream_sequence_(stream_sequence), delivery_count_(delivery_count), msg_id_(msg_id) {}

std::string_view Delivery::data() const {
  return {natsMsg_GetData(message_.get()), static_cast<std::size_t>(natsMsg_GetDataLength(message_.get()))};
}

std::string Delivery::what(std::string_view action) const {
  return fmt::format("{} message {} of {}", action, stream_sequence_, natsMsg_GetSubject(message_.get()));
}

Status Delivery::ack() {
  jsErrCode js_error{};
  const auto s = natsMsg_AckSync(message_.get(), nullptr, &js_error);
  if (s != NATS_OK) return nats_failure(what("ack"), s, js_error);
  return {};
}

Status Delivery::ack_async() {
  const auto s = natsMsg_Ack(message_.get(), nullptr);
  if (s != NATS_OK) return nats_failure(what("ack"), s);
  return {};
}

Status Delivery::nak(std::chrono::milliseconds delay) {
  const auto s = natsMsg_NakWithDelay(message_.get(), delay.count(), nullptr);
  if (s != NATS_OK) return nats_failure(what("nak"), s);
  return {};
}

Status Delivery::in_progress() {
  const auto s = natsMsg_InProgress(message_.get(), nullptr);
  if (s != NATS_OK) return nats_failure(what("mark in progress"), s);
  return {};
}

PullConsumer::PullConsumer(natsSubscription* subscription, std::string name)
    : subscription_(subscription), name_(std::move(name)) {}

Result<PullConsumer> PullConsumer::open(Connection& connection, const ConsumerConfig& config) {
  auto name = fmt::format("{}/{}", config.stream, config.durable);
  jsConsumerConfig consumer;
  jsConsumerConfig_Init(&consumer);
  consumer.Durable = config.durable.c_str();
  consumer.FilterSubject = config.subject.c_str();
  consumer.AckPolicy = js_AckExplicit;
  consumer.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(config.ack_wait).count();
  if (config.max_deliver) consumer.MaxDeliver = *config.max_deliver;
  jsConsumerInfo* info = nullptr;
  jsErrCode js_error{};
  auto s = js_AddConsumer(&info, connection.jetstream(), config.stream.c_str(), &consumer, nullptr, &js_error);
  jsConsumerInfo_Destroy(info);
  if (s != NATS_OK) return nats_failure(fmt::format("create consumer {}", name), s, js_error);

  jsSubOptions subscribe;
  jsSubOptions_Init(&subscribe);
  subscribe.Stream = config.stream.c_str();
  subscribe.Consumer = config.durable.c_str();
  natsSubscription* subscription = nullptr;
  s = js_PullSubscribe(&subscription, connection.jetstream(), config.subject.c_str(), config.durable.c_str(),
                       nullptr, &subscribe, &js_error);
  if (s != NATS_OK) return nats_failure(fmt::format("subscribe to consumer {}", name), s, js_error);
  return PullConsumer(subscription, std::move(name));
}

Result<std::vector<Delivery>> PullConsumer::fetch(int batch, std::chrono::milliseconds timeout) {
  natsMsgList list{};
  jsErrCode js_error{};
  // libnats 3.4's fetch writes past its array when it finds messages already
  // waiting in the subscription (leftovers of an earlier request): it takes
  // those, shrinks its request to what is missing, then counts toward that
  // from where it is (nats.c #749, fixed in 3.8). While any are waiting they
  // are taken one a call, which never overruns (one taken: no request; a
  // status message taken: a request for one); a fetch with nothing waiting
  // asks the server for the whole batch.
  int waiting = 0;
  int waiting_bytes = 0;
  if (natsSubscription_GetPending(subscription_.get(), &waiting, &waiting_bytes) == NATS_OK && waiting > 0) batch = 1;
  const auto s = natsSubscription_Fetch(&list, subscription_.get(), batch, timeout.count(), &js_error);
  if (s == NATS_TIMEOUT) return std::vector<Delivery>{};
  if (s != NATS_OK) return nats_failure(fmt::format("fetch from consumer {}", name_), s, js_error);
  std::vector<Delivery> deliveries;
  deliveries.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* message = list.Msgs[i];
    jsMsgMetaData* meta = nullptr;
    if (const auto ms = natsMsg_GetMetaData(&meta, message); ms != NATS_OK) {
      natsMsgList_Destroy(&list);
      return nats_failure(fmt::format("metadata of message {} fetched from consumer {}", i, name_), ms);
    }
    list.Msgs[i] = nullptr;
    const char* msg_id = nullptr;
    if (natsMsgHeader_Get(message, "Nats-Msg-Id", &msg_id) != NATS_OK) msg_id = "";
    deliveries.push_back(Delivery(message, meta->Sequence.Stream, meta->NumDelivered, msg_id));
    jsMsgMetaData_Destroy(meta);
  }
  natsMsgList_Destroy(&list);
  return deliveries;
}

}  // namespace assist::bus
