// Helpers for comparing against the golden tensors in shared/golden (NANOCHAT_GOLDEN_DIR overrides).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "test_support.h"

namespace nanochat::test {

inline std::filesystem::path golden_dir() {
  const char* env = std::getenv("NANOCHAT_GOLDEN_DIR");
  if (env != nullptr && *env != '\0') return env;
  return shared_dir() / "golden";
}

// Every *.safetensors in the golden directory, sorted (empty when the directory is missing).
inline std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(golden_dir(), ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(golden_dir()))
    if (e.path().extension() == ".safetensors") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// ||a - b|| / ||b||; the absolute ||a - b|| when b is all zero. Mismatched sizes give +inf.
template <class A, class B>
double rel_error(std::span<const A> a, std::span<const B> b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += diff * diff;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  if (std::isnan(num)) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace nanochat::test
