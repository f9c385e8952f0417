// Micro benchmarks of the pure core: the per-prompt CPU cost on the send path
// (validate + encode) and on the ACK path (decode). Run:
//   build/release/bench/core_bench
#include <benchmark/benchmark.h>

#include "assist/frame.h"
#include "core/prompt_sync_parts.h"
#include "assist/frame_id.h"
#include "core/source_example.h"
#include "assist/validation.h"

namespace {

assist::AssistPrompt typical_prompt() {
  auto p = assist::source_example_prompt();
  p.timestamp = 1'700'000'000.25;
  return p;
}

void BM_ValidateAndEncodePrompt(benchmark::State& state) {
  assist::PromptSync frame{"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", 1, typical_prompt()};
  for (auto _ : state) {
    auto violations = assist::validate(frame.payload);
    benchmark::DoNotOptimize(violations);
    auto text = assist::encode(frame);
    benchmark::DoNotOptimize(text);
    ++frame.sequence;
  }
}
BENCHMARK(BM_ValidateAndEncodePrompt);

void BM_DecodeAck(benchmark::State& state) {
  const std::string text = assist::encode(assist::Ack{"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", 123456, false});
  for (auto _ : state) {
    auto r = assist::decode_frame(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_DecodeAck);

// The emulator's reply to every PROMPT_SYNC.
void BM_EncodeAck(benchmark::State& state) {
  const assist::Ack ack{"8d5bd1c2-3f6e-4c57-9a0b-2f1e7c3d4b5a", 123456, false};
  for (auto _ : state) benchmark::DoNotOptimize(assist::encode(ack));
}
BENCHMARK(BM_EncodeAck);

void BM_DecodePromptSync(benchmark::State& state) {
  const std::string text =
      assist::encode(assist::PromptSync{"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", 1, typical_prompt()});
  for (auto _ : state) {
    auto r = assist::decode_frame(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_DecodePromptSync);

void BM_NextFrameId(benchmark::State& state) {
  assist::FrameIdGenerator ids;
  for (auto _ : state) {
    auto id = ids.next();
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_NextFrameId);

}  // namespace

namespace {
void BM_ValidateOnly(benchmark::State& state) {
  const auto p = typical_prompt();
  for (auto _ : state) {
    auto v = assist::validate(p);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_ValidateOnly);
void BM_EncodeOnly(benchmark::State& state) {
  assist::PromptSync frame{"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", 1, typical_prompt()};
  for (auto _ : state) {
    auto t = assist::encode(frame);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_EncodeOnly);
// What the synchronizer thread does per write: the frame around a payload
// encoded at acceptance (encode_prompt_payload, on the caller's thread).
void BM_EncodeEnvelopeOnly(benchmark::State& state) {
  const auto payload = assist::encode_prompt_payload(typical_prompt());
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    auto t = assist::encode_prompt_sync("2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", ++sequence, payload);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_EncodeEnvelopeOnly);
}  // namespace
