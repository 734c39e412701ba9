#include "nanochat/tokenizer/unicode_classes.h"

#include <cstddef>
#include <iterator>

namespace nanochat::unicode {

namespace detail {
// Defines kClassStage1 / kClassStage2 (declared in the header) and kFoldToAsciiSources / Targets.
#include "nanochat/tokenizer/unicode_class_tables.inc"

static_assert(kGeneratedUnicodeMajor == kUnicodeVersionMajor && kGeneratedUnicodeMinor == kUnicodeVersionMinor,
              "unicode_classes.h documents a different Unicode version than the generated tables");
static_assert(kGeneratedBlockShift == kClassBlockShift, "unicode_classes.h and the generated tables disagree on the block size");
static_assert(std::size(kFoldToAsciiSources) == std::size(kFoldToAsciiTargets));
}  // namespace detail

char simple_fold_to_ascii_letter(char32_t cp) {
  if (cp < 0x80) {
    if (cp >= 'A' && cp <= 'Z') return static_cast<char>(cp - 'A' + 'a');
    return cp >= 'a' && cp <= 'z' ? static_cast<char>(cp) : 0;
  }
  for (size_t i = 0; i < std::size(detail::kFoldToAsciiSources); ++i)
    if (detail::kFoldToAsciiSources[i] == cp) return detail::kFoldToAsciiTargets[i];
  return 0;
}

}  // namespace nanochat::unicode
