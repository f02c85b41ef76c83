// Histogram: latency distribution with 3 significant digits, in the manner of HdrHistogram
// (whose C library is not packaged in Debian 12).
//
// Values are nanoseconds from 0 to kMaxValue (2^42 ns, about 73 minutes); larger values are
// clamped to kMaxValue. Every value is counted in a bucket whose width is at most 1/1024 of
// the value, so a reported percentile is within 0.1% of the recorded value at that rank.
// Recording is one array increment (no allocation); the counts array (about 272 KiB) is
// allocated once by the constructor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace duende::harness {

class Histogram {
 public:
  /// The largest value kept exactly to 3 significant digits (values above are clamped).
  static constexpr int64_t kMaxValue = int64_t{1} << 42;

  Histogram();

  /// Counts one value (ns). Negative values count as 0; values above kMaxValue as kMaxValue.
  void Record(int64_t value) { RecordN(value, 1); }
  /// Counts `count` occurrences of `value`.
  void RecordN(int64_t value, uint64_t count);

  /// Adds every count of `other` to this histogram.
  void Merge(const Histogram& other);

  /// The value at percentile `p` (0..100): the smallest recorded value v such that at least
  /// p% of the values are <= v, reported as the highest value of its bucket (never above
  /// Max()). 0 when the histogram is empty.
  int64_t Percentile(double p) const;

  int64_t Max() const { return count_ ? max_ : 0; }
  int64_t Min() const { return count_ ? min_ : 0; }
  double Mean() const;
  uint64_t Count() const { return count_; }

  /// Forgets every value (keeps the allocation).
  void Reset();

 private:
  static size_t IndexOf(int64_t value);
  static int64_t ValueAt(size_t index);
  static int64_t HighestEquivalent(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;  // for Mean(); double's 53 bits are plenty for a mean
};

}  // namespace duende::harness
