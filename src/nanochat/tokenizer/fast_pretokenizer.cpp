#include "nanochat/tokenizer/fast_pretokenizer.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__) && !defined(NANOCHAT_PRETOKENIZER_NO_SIMD)  // the macro tests the portable path
#include <emmintrin.h>
#endif

#include "nanochat/core/error.h"
#include "nanochat/tokenizer/split_pattern.h"
#include "nanochat/tokenizer/unicode_classes.h"

namespace nanochat {

namespace {

using unicode::CharClass;

// How the scanner reads the pattern (alternatives numbered as in spec §1.2; L letter, N number,
// W White_Space, O other, "run" = maximal run). At a position whose character is c:
//   c = '\'' followed by s d m t | ll | ve | re (simple case folding)   -> alt 1
//   c in L                      -> c + L-run                              (alt 2)
//   c in N                      -> one or two N                           (alt 3)
//   c in O or W-minus-CR/LF, next in L -> c + L-run                       (alt 2)
//   c = ' ', next in O          -> ' ' + O-run + [\r\n]-run               (alt 4)
//   c in O                      -> O-run + [\r\n]-run                     (alt 4; ++ is possessive)
//   c in W, W-run = c..q:
//     the run holds CR or LF    -> up to and including its last CR/LF     (alt 5: \s* backtracks)
//     q is the end of the text  -> the whole run                          (alt 6)
//     the run has >= 2 chars    -> all but its last char                  (alt 6: (?!\S) backtracks)
//     else                      -> c alone                                (alt 7)
// Alternatives 2 and 4 need no backtracking ('?+' and '++' are possessive, and dropping the optional
// first character could only help if it were a letter / a non-space), so every branch is one
// forward pass and the whole scan is linear.
//
// Speed: the end of one piece is the start of the next, so the scan is a chain of dependent steps,
// slowed further by branches on the kind of piece that the predictor often gets wrong. ASCII runs
// are found in 64-bit class masks of a 64-byte window (one shift and one count-trailing-zeros per
// run) instead of byte by byte; the masks are computed with SSE2 where available. Non-ASCII
// characters (any byte >= 0x80) end an ASCII run and are decoded, validated and classified one at a
// time through the Unicode tables, which also validates the UTF-8 (every byte is decoded or is ASCII).

constexpr uint8_t kO = static_cast<uint8_t>(CharClass::kOther);
constexpr uint8_t kL = static_cast<uint8_t>(CharClass::kLetter);
constexpr uint8_t kN = static_cast<uint8_t>(CharClass::kNumber);
constexpr uint8_t kW = static_cast<uint8_t>(CharClass::kWhiteSpace);
constexpr uint8_t kMultiByte = 4;  // a byte >= 0x80: decode first

constexpr uint8_t ascii_class(int b) {
  if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) return kL;
  if (b >= '0' && b <= '9') return kN;
  if (b == ' ' || (b >= 0x09 && b <= 0x0D)) return kW;  // not 0x1C-0x1F: they are not White_Space
  return kO;
}

constexpr std::array<uint8_t, 256> make_byte_classes() {
  std::array<uint8_t, 256> t{};
  for (int b = 0; b < 256; ++b) t[static_cast<size_t>(b)] = b >= 0x80 ? kMultiByte : ascii_class(b);
  return t;
}
constexpr std::array<uint8_t, 256> kByteClass = make_byte_classes();

inline bool is_cr_or_lf(uint8_t b) { return b == '\r' || b == '\n'; }

// Bit i of each mask describes byte base + i; bytes at or past the end of the text are in no mask.
struct ClassMasks {
  uint64_t letter = 0;
  uint64_t other = 0;  // ASCII "other" (not letter, digit or white space)
  uint64_t space = 0;  // ASCII White_Space, CR and LF included
};

#if defined(__SSE2__) && !defined(NANOCHAT_PRETOKENIZER_NO_SIMD)  // the macro tests the portable path
// 0xFF in each byte of v that lies in [lo, hi] (unsigned), else 0: shifting by 0x80 - lo turns the
// unsigned range test into one signed comparison.
inline __m128i in_range(__m128i v, uint8_t lo, uint8_t hi) {
  const __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
  return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(hi - lo + 1 - 0x80)));
}

inline uint64_t movemask(__m128i v) { return static_cast<uint32_t>(_mm_movemask_epi8(v)); }

ClassMasks classify_64(const uint8_t* p) {
  ClassMasks m;
  for (int i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');  // | 0x20 folds case
    const __m128i digit = in_range(v, '0', '9');
    const __m128i space = _mm_or_si128(in_range(v, 0x09, 0x0D), _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
    const __m128i high = _mm_cmplt_epi8(v, _mm_setzero_si128());
    const __m128i not_other = _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(space, high));
    const int shift = 16 * i;
    m.letter |= movemask(letter) << shift;
    m.space |= movemask(space) << shift;
    m.other |= (movemask(not_other) ^ 0xFFFFu) << shift;
  }
  return m;
}
#else
ClassMasks classify_64(const uint8_t* p) {
  ClassMasks m;
  for (int i = 0; i < 64; ++i) {
    const uint8_t c = kByteClass[p[i]];
    const uint64_t bit = uint64_t{1} << i;
    if (c == kL) m.letter |= bit;
    else if (c == kW) m.space |= bit;
    else if (c == kO) m.other |= bit;
  }
  return m;
}
#endif

struct Char {
  uint32_t cls;  // a CharClass value
  uint32_t len;  // bytes
};

[[noreturn, gnu::cold, gnu::noinline]] void fail_invalid_utf8(size_t offset) {
  fail("pre-tokenizer input is not valid UTF-8 (ill-formed sequence at byte {})", offset);
}

class Scanner {
 public:
  Scanner(const uint8_t* s, size_t n) : s_(s), n_(n) { load_window(0); }

  // End of the piece that starts at `start` (< n).
  size_t piece_end(size_t start) {
    // The two most common pieces of English text ("word" and " word", three in four pieces) first:
    // testing for them before the general dispatch saves branches the predictor often gets wrong.
    if (kByteClass[s_[start]] == kL) return letters(start + 1);
    if (s_[start] == ' ' && start + 1 < n_ && kByteClass[s_[start + 1]] == kL) return letters(start + 2);
    const Char c = char_at(start);
    size_t p = start + c.len;
    switch (c.cls) {
      case kL:
        return letters(p);
      case kN:
        if (p < n_) {
          const Char d = char_at(p);
          if (d.cls == kN) p += d.len;
        }
        return p;
      case kO:
        if (s_[start] == '\'') {
          if (const size_t e = contraction_end(p)) return e;
        }
        if (p < n_) {
          const Char d = char_at(p);
          if (d.cls == kL) return letters(p + d.len);
        }
        return newlines(others(p));
      default:
        return whitespace_piece_end(start, p);
    }
  }

 private:
  static constexpr size_t kWindow = 64;

  void load_window(size_t base) {
    base_ = base;
    if (base + kWindow <= n_) {
      masks_ = classify_64(s_ + base);
      return;
    }
    // The last partial window: classify a zero-padded copy, then drop the bits past the end.
    uint8_t tail[kWindow] = {};
    const size_t valid = base < n_ ? n_ - base : 0;
    std::memcpy(tail, s_ + base, valid);
    masks_ = classify_64(tail);
    const uint64_t keep = valid == 0 ? 0 : ~uint64_t{0} >> (kWindow - valid);
    masks_.letter &= keep;
    masks_.other &= keep;
    masks_.space &= keep;
  }

  // End of the run of ASCII bytes in `mask` that starts at p.
  [[gnu::always_inline]] size_t ascii_run(uint64_t ClassMasks::*mask, size_t p) {
    for (;;) {
      if (p - base_ >= kWindow) load_window(p);
      const uint64_t stops = ~(masks_.*mask) >> (p - base_);  // bits past the window shift in as 0
      if (stops != 0) return p + static_cast<size_t>(std::countr_zero(stops));
      p = base_ + kWindow;
      if (p >= n_) return n_;
    }
  }

  [[gnu::always_inline]] Char char_at(size_t p) const {
    const uint8_t k = kByteClass[s_[p]];
    if (k != kMultiByte) return {k, 1};
    return decode(p);
  }

  // Validating decode and classification of the multi-byte character at p.
  [[gnu::noinline]] Char decode(size_t p) const {
    const uint32_t cp = decode_code_point(p);
    const uint32_t len = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    return {static_cast<uint32_t>(unicode::char_class(cp)), len};
  }

  // The well-formed sequences of Unicode Table 3-7: no overlongs, no surrogates, nothing past U+10FFFF.
  uint32_t decode_code_point(size_t p) const {
    const size_t left = n_ - p;
    const uint32_t b0 = s_[p];
    auto cont = [&](size_t i, uint32_t lo = 0x80, uint32_t hi = 0xBF) -> uint32_t {
      if (i >= left) fail_invalid_utf8(p);
      const uint32_t b = s_[p + i];
      if (b < lo || b > hi) fail_invalid_utf8(p);
      return b & 0x3F;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF) return ((b0 & 0x1F) << 6) | cont(1);
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      const uint32_t c1 = cont(1, b0 == 0xE0 ? 0xA0 : 0x80, b0 == 0xED ? 0x9F : 0xBF);
      return ((b0 & 0x0F) << 12) | (c1 << 6) | cont(2);
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      const uint32_t c1 = cont(1, b0 == 0xF0 ? 0x90 : 0x80, b0 == 0xF4 ? 0x8F : 0xBF);
      const uint32_t c2 = cont(2);
      return ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | cont(3);
    }
    fail_invalid_utf8(p);  // a continuation byte, C0, C1 or F5..FF
  }

  // Run of characters of class `cls` from p; `mask` holds the ASCII ones.
  template <uint8_t cls>
  [[gnu::always_inline]] size_t run(uint64_t ClassMasks::*mask, size_t p) {
    for (;;) {
      p = ascii_run(mask, p);
      if (p >= n_ || s_[p] < 0x80) return p;
      const Char d = decode(p);
      if (d.cls != cls) return p;
      p += d.len;
    }
  }

  size_t letters(size_t p) { return run<kL>(&ClassMasks::letter, p); }
  size_t others(size_t p) { return run<kO>(&ClassMasks::other, p); }

  size_t newlines(size_t p) const {
    while (p < n_ && is_cr_or_lf(s_[p])) ++p;
    return p;
  }

  // The ASCII letter the character at p case-folds to (0 if none), and its length.
  char folded_at(size_t p, size_t& len) const {
    const uint8_t b = s_[p];
    if (b < 0x80) {
      len = 1;
      return static_cast<char>(kByteClass[b] == kL ? (b | 0x20) : 0);
    }
    const uint32_t cp = decode_code_point(p);
    len = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    return unicode::simple_fold_to_ascii_letter(cp);
  }

  // Alternative 1 after an apostrophe ending at p: the end of the contraction, or 0 when none matches.
  size_t contraction_end(size_t p) const {
    if (p >= n_) return 0;
    size_t len1 = 0;
    const char first = folded_at(p, len1);
    char second = 0;
    if (first == 's' || first == 'd' || first == 'm' || first == 't') return p + len1;
    if (first == 'l') second = 'l';
    else if (first == 'v' || first == 'r') second = 'e';
    else return 0;
    const size_t q = p + len1;
    if (q >= n_) return 0;
    size_t len2 = 0;
    return folded_at(q, len2) == second ? q + len2 : 0;
  }

  // A piece starting with the whitespace character at `start` (which ends at p).
  size_t whitespace_piece_end(size_t start, size_t p) {
    const uint8_t b = s_[start];
    const bool newline = is_cr_or_lf(b);
    if (!newline && p < n_) {
      const Char d = char_at(p);
      if (d.cls == kL) return letters(p + d.len);                        // alt 2
      if (b == ' ' && d.cls == kO) return newlines(others(p + d.len));  // alt 4
    }
    // The whitespace run: ASCII stretches from the masks, other White_Space decoded one at a time.
    size_t last_newline_end = newline ? p : 0;  // 0: none (a real end is > start >= 0)
    size_t last_char = start;
    size_t q = p;
    for (;;) {
      const size_t r = ascii_run(&ClassMasks::space, q);
      if (r > q) {
        last_char = r - 1;
        for (size_t i = r; i > q; --i) {
          if (is_cr_or_lf(s_[i - 1])) {
            last_newline_end = i;
            break;
          }
        }
      }
      if (r >= n_ || s_[r] < 0x80) {
        q = r;
        break;
      }
      const Char d = decode(r);
      if (d.cls != kW) {
        q = r;
        break;
      }
      last_char = r;
      q = r + d.len;
    }
    if (last_newline_end != 0) return last_newline_end;  // alt 5
    if (q == n_) return q;                               // alt 6 at the end of the text
    if (last_char > start) return last_char;             // alt 6, leaving the last char for the next piece
    return q;                                            // alt 7: one whitespace char
  }

  const uint8_t* s_;
  size_t n_;
  size_t base_ = 0;  // the window: masks_ describe bytes [base_, base_ + 64)
  ClassMasks masks_;
};

class NanochatPretokenizer final : public Pretokenizer {
 public:
  std::string_view pattern() const override { return kNanochatSplitPattern; }

  void split(std::string_view text, std::vector<std::string_view>& out) const override {
    if (text.empty()) return;
    const size_t old_size = out.size();
    Scanner scanner(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    try {
      size_t p = 0;
      while (p < text.size()) {
        const size_t end = scanner.piece_end(p);
        out.emplace_back(text.data() + p, end - p);
        p = end;
      }
    } catch (...) {
      out.resize(old_size);  // no partial output on invalid UTF-8
      throw;
    }
  }
};

}  // namespace

std::unique_ptr<Pretokenizer> make_fast_pretokenizer(std::string_view pattern) {
  if (pattern == kNanochatSplitPattern) return std::make_unique<NanochatPretokenizer>();
  return nullptr;
}

}  // namespace nanochat
