#include "duende/harness/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace duende::harness {
namespace {

// HdrHistogram's layout for 3 significant digits and a unit of 1 ns: 2048 sub-buckets per
// bucket, of which the upper half (1024..2047) is used from the second bucket on. Bucket b
// holds values [1024 << b, 2048 << b) in steps of 1 << b: a relative width <= 1/1024.
constexpr int kSubBucketHalfMagnitude = 10;
constexpr int64_t kSubBucketHalf = int64_t{1} << kSubBucketHalfMagnitude;  // 1024
constexpr int64_t kSubBucketMask = 2 * kSubBucketHalf - 1;                 // 2047
constexpr int kBucketCount = 33;  // enough for values below 2^43
constexpr size_t kCountsLen = static_cast<size_t>((kBucketCount + 1) * kSubBucketHalf);

}  // namespace

Histogram::Histogram() : counts_(kCountsLen, 0) {}

size_t Histogram::IndexOf(int64_t value) {
  const auto v = static_cast<uint64_t>(value);
  const int pow2ceiling = 64 - std::countl_zero(v | static_cast<uint64_t>(kSubBucketMask));
  const int bucket = pow2ceiling - (kSubBucketHalfMagnitude + 1);
  const auto sub = static_cast<int64_t>(v >> bucket);
  return static_cast<size_t>(((int64_t{bucket} + 1) << kSubBucketHalfMagnitude) +
                             (sub - kSubBucketHalf));
}

int64_t Histogram::ValueAt(size_t index) {
  int64_t bucket = static_cast<int64_t>(index >> kSubBucketHalfMagnitude) - 1;
  int64_t sub =
      static_cast<int64_t>(index & static_cast<size_t>(kSubBucketHalf - 1)) + kSubBucketHalf;
  if (bucket < 0) {
    sub -= kSubBucketHalf;
    bucket = 0;
  }
  return sub << bucket;
}

int64_t Histogram::HighestEquivalent(size_t index) {
  const int64_t bucket =
      std::max<int64_t>(0, static_cast<int64_t>(index >> kSubBucketHalfMagnitude) - 1);
  return ValueAt(index) + (int64_t{1} << bucket) - 1;
}

void Histogram::RecordN(int64_t value, uint64_t count) {
  if (count == 0) return;
  value = std::clamp<int64_t>(value, 0, kMaxValue);
  counts_[IndexOf(value)] += count;
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += count;
  sum_ += static_cast<double>(value) * static_cast<double>(count);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kCountsLen; ++i) counts_[i] += other.counts_[i];
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  sum_ += other.sum_;
}

int64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the value at p (1-based); the small epsilon keeps 99% of 100 values at rank
  // 99 despite 0.99 * 100 being 98.99999...
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kCountsLen; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(HighestEquivalent(i), min_, max_);
  }
  return max_;
}

double Histogram::Mean() const {
  if (count_ == 0) return 0;
  return sum_ / static_cast<double>(count_);
}

void Histogram::Reset() {
  if (count_ == 0) return;
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

}  // namespace duende::harness
