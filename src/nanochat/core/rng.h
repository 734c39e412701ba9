// The one random generator of the project: Philox4x32-10, a counter-based generator keyed by
// (seed, stream). Draw k of a stream is a pure function of (seed, stream, k), so CPU and GPU code can
// produce identical numbers and a resumed run can draw exactly what it would have (set_offset).
#pragma once
#include <array>
#include <cstdint>

namespace nanochat {

class Philox {
 public:
  explicit Philox(uint64_t seed, uint64_t stream = 0) : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
                                                       stream_(stream) {}

  // The 4 words of block `block` of this stream (a pure function of seed, stream and block).
  std::array<uint32_t, 4> block(uint64_t block) const;

  uint32_t next_u32() {
    if (used_ == 4) refill();
    return buf_[used_++];
  }
  // Uniform in [0, 1) with 53 random bits.
  double next_double() {
    const uint64_t hi = next_u32() >> 5, lo = next_u32() >> 6;  // 27 + 26 bits
    return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
  }
  // Uniform in [0, 1) with 24 random bits.
  float next_float() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }

  // Position in the stream, in 32-bit draws (so a saved offset restores the sequence exactly).
  uint64_t offset() const { return next_block_ * 4 - (4 - used_); }
  void set_offset(uint64_t draws) {
    next_block_ = draws / 4;
    used_ = 4;
    const uint32_t skip = static_cast<uint32_t>(draws % 4);
    if (skip != 0) {
      refill();
      used_ = skip;
    }
  }

 private:
  void refill() {
    buf_ = block(next_block_++);
    used_ = 0;
  }
  std::array<uint32_t, 2> key_;
  uint64_t stream_;
  uint64_t next_block_ = 0;
  std::array<uint32_t, 4> buf_{};
  uint32_t used_ = 4;
};

}  // namespace nanochat
