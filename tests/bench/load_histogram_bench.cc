// BM_HistogramRecord: the cost of recording one latency, against the floor of storing it in a
// preallocated array (what any recorder must at least do) measured in the same run.
// BM_HistoryRecord / BM_HistoryEncode: what the request history adds per request: appending
// a LoadOp in the worker, and encoding a batch into a load.ops event line (reporter thread).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "duende/harness/histogram.h"
#include "duende/harness/load_history.h"

namespace {

// Latency-like values spread over 1 us .. 100 ms.
std::vector<int64_t> Values() {
  std::vector<int64_t> v(1 << 16);
  uint64_t x = 88172645463325252ull;
  for (auto& e : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    e = 1000 + static_cast<int64_t>(x % 100'000'000);
  }
  return v;
}

void BM_ArrayStoreFloor(benchmark::State& state) {
  const auto values = Values();
  std::vector<int64_t> out(values.size());
  size_t i = 0;
  for (auto _ : state) {
    out[i] = values[i];
    i = (i + 1) & (values.size() - 1);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ArrayStoreFloor);

void BM_HistogramRecord(benchmark::State& state) {
  const auto values = Values();
  duende::harness::Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.Record(values[i]);
    i = (i + 1) & (values.size() - 1);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.Count());
}
BENCHMARK(BM_HistogramRecord);

duende::harness::LoadOp SomeOp(int64_t i) {
  return {static_cast<uint32_t>(i % 50),
          1'000'000'000 + i * 40'000,
          1'000'150'000 + i * 40'000,
          duende::harness::OpOutcome::kOk,
          static_cast<uint64_t>(i),
          static_cast<uint64_t>(i),
          {},
          0,
          {},
          {},
          {},
          {}};
}

// The worker's side: one append to a buffer whose capacity survives from batch to batch.
void BM_HistoryRecord(benchmark::State& state) {
  std::vector<duende::harness::LoadOp> ops;
  ops.reserve(5000);
  int64_t i = 0;
  for (auto _ : state) {
    ops.push_back(SomeOp(i++));
    if (ops.size() == 5000) ops.clear();
  }
  benchmark::DoNotOptimize(ops.data());
}
BENCHMARK(BM_HistoryRecord);

// The reporter's side, per request: EncodeOps of a 5000-request batch and its JSON text.
void BM_HistoryEncode(benchmark::State& state) {
  std::vector<duende::harness::LoadOp> ops;
  for (int64_t i = 0; i < 5000; ++i) ops.push_back(SomeOp(i));
  for (auto _ : state) benchmark::DoNotOptimize(duende::harness::EncodeOps(ops).dump().size());
  state.SetItemsProcessed(state.iterations() * 5000);
}
BENCHMARK(BM_HistoryEncode);

void BM_HistogramPercentiles(benchmark::State& state) {
  const auto values = Values();
  duende::harness::Histogram h;
  for (int64_t v : values) h.Record(v);
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.Percentile(50) + h.Percentile(99) + h.Percentile(99.9));
  }
}
BENCHMARK(BM_HistogramPercentiles);

}  // namespace

BENCHMARK_MAIN();
