// ChunkTable: the hash map behind ChunkCounter, string -> int64 count, built for counting billions of
// short pieces: open addressing with linear probing, each slot keeps the key's 64-bit hash (so growing
// and merging tables never rehash a key, and probes compare strings only on a hash match), and keys
// are either views into the caller's text (a per-thread table that lives for one add() call) or
// copies in an arena owned by the table (the long-lived global counts).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace nanochat {

// A fast 64-bit hash for short strings (wyhash-style multiply-fold); all 64 bits are well mixed, so
// callers may take shard numbers from the top bits while the table uses the low ones.
uint64_t chunk_hash(std::string_view s);

class ChunkTable {
 public:
  explicit ChunkTable(bool owns_keys) : owns_keys_(owns_keys) {}

  // Adds count (> 0) to `key`, whose hash is `hash` (chunk_hash(key)).
  void add(std::string_view key, uint64_t hash, int64_t count) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t i = hash & mask_;
    for (;;) {
      Slot& s = slots_[i];
      if (s.count == 0) {
        s.data = owns_keys_ ? copy_key(key) : key.data();
        s.size = key.size();
        s.hash = hash;
        s.count = count;
        ++size_;
        return;
      }
      if (s.hash == hash && s.size == key.size() && same_bytes(s.data, key.data(), key.size())) {
        s.count += count;
        return;
      }
      i = (i + 1) & mask_;
    }
  }

  int64_t find(std::string_view key, uint64_t hash) const {
    if (slots_.empty()) return 0;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.count == 0) return 0;
      if (s.hash == hash && s.size == key.size() && std::memcmp(s.data, key.data(), key.size()) == 0) return s.count;
    }
  }

  // fn(std::string_view key, int64_t count, uint64_t hash) for every entry, in slot order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.count != 0) fn(std::string_view(s.data, s.size), s.count, s.hash);
    }
  }

  size_t size() const { return size_; }
  void reserve(size_t n) {
    while (n * 2 > slots_.size()) grow();
  }

 private:
  struct Slot {
    const char* data = nullptr;
    size_t size = 0;
    uint64_t hash = 0;
    int64_t count = 0;  // 0 marks an empty slot (counts are always positive)
  };

  void grow();
  const char* copy_key(std::string_view key);

  // Equality of n bytes; most pieces are a few bytes long, where a call to memcmp costs more than
  // two overlapping word loads.
  static bool same_bytes(const char* x, const char* y, size_t n) {
    if (n >= 8 && n <= 16) return load<uint64_t>(x) == load<uint64_t>(y) && load<uint64_t>(x + n - 8) == load<uint64_t>(y + n - 8);
    if (n >= 4 && n < 8) return load<uint32_t>(x) == load<uint32_t>(y) && load<uint32_t>(x + n - 4) == load<uint32_t>(y + n - 4);
    return std::memcmp(x, y, n) == 0;
  }
  template <class T>
  static T load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  bool owns_keys_;
  std::vector<std::unique_ptr<char[]>> arena_;  // owned key bytes, in blocks
  size_t arena_left_ = 0;
  char* arena_next_ = nullptr;
};

}  // namespace nanochat
