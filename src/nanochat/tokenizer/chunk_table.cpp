#include "nanochat/tokenizer/chunk_table.h"

#include <algorithm>

namespace nanochat {

namespace {

__extension__ using u128 = unsigned __int128;

constexpr uint64_t kSeed0 = 0xa0761d6478bd642full;
constexpr uint64_t kSeed1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kSeed2 = 0x8ebc6af09c88c6e3ull;

inline uint64_t fold_multiply(uint64_t a, uint64_t b) {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

uint64_t chunk_hash(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t seed = kSeed0 ^ n;
  uint64_t a = 0, b = 0;
  if (n <= 16) {
    if (n >= 8) {
      a = load64(p);
      b = load64(p + n - 8);
    } else if (n >= 4) {
      a = load32(p);
      b = load32(p + n - 4);
    } else if (n > 0) {
      const auto* u = reinterpret_cast<const unsigned char*>(p);
      a = (uint64_t{u[0]} << 16) | (uint64_t{u[n >> 1]} << 8) | u[n - 1];
    }
  } else {
    size_t i = 0;
    for (; i + 16 < n; i += 16) seed = fold_multiply(load64(p + i) ^ kSeed1, load64(p + i + 8) ^ seed);
    a = load64(p + n - 16);
    b = load64(p + n - 8);
  }
  return fold_multiply(kSeed1 ^ n, fold_multiply(a ^ kSeed1, b ^ seed) ^ kSeed2);
}

void ChunkTable::grow() {
  const size_t capacity = std::max<size_t>(16, slots_.size() * 2);
  std::vector<Slot> old(capacity);
  old.swap(slots_);
  mask_ = capacity - 1;
  for (const Slot& s : old) {
    if (s.count == 0) continue;
    size_t i = s.hash & mask_;
    while (slots_[i].count != 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

const char* ChunkTable::copy_key(std::string_view key) {
  // Blocks double from 4 KB to 1 MB: a counter has 64 shards, most of them small.
  if (key.size() > arena_left_) {
    const size_t doubling = std::clamp<size_t>(size_t{4096} << std::min<size_t>(arena_.size(), 8), 4096, 1 << 20);
    const size_t block = std::max(doubling, key.size());
    arena_.push_back(std::make_unique_for_overwrite<char[]>(block));
    arena_next_ = arena_.back().get();
    arena_left_ = block;
  }
  char* out = arena_next_;
  std::memcpy(out, key.data(), key.size());
  arena_next_ += key.size();
  arena_left_ -= key.size();
  return out;
}

}  // namespace nanochat
