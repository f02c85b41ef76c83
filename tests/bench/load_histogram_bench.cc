// BM_HistogramRecord: the cost of recording one latency, against the floor of storing it in a
// preallocated array (what any recorder must at least do) measured in the same run.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "duende/harness/histogram.h"

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
