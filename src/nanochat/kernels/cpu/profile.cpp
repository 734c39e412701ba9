#include "nanochat/kernels/cpu/profile.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace nanochat::kernels::cpu::profile {

namespace {

struct Phase {
  const char* name;
  double seconds = 0;
  long calls = 0;
};

std::vector<Phase>& phases() {
  static std::vector<Phase> p;
  return p;
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NANOCHAT_PROFILE");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return on;
}

void add(const char* phase, double seconds) {
  // A handful of phases: a linear search by pointer, then by text, is cheap enough.
  for (Phase& p : phases()) {
    if (p.name == phase || std::strcmp(p.name, phase) == 0) {
      p.seconds += seconds;
      ++p.calls;
      return;
    }
  }
  phases().push_back(Phase{phase, seconds, 1});
}

void report(std::FILE* out, int steps) {
  std::vector<Phase> sorted = phases();
  std::sort(sorted.begin(), sorted.end(), [](const Phase& a, const Phase& b) {
    return std::strcmp(a.name, b.name) < 0;
  });
  // Phases named "a.b" nest under "a" when "a" exists; the share is of the sum of top-level phases.
  double top = 0;
  for (const Phase& p : sorted)
    if (std::strchr(p.name, '.') == nullptr) top += p.seconds;
  const double per = steps > 0 ? static_cast<double>(steps) : 1.0;
  std::fprintf(out, "%-28s %10s %8s %6s\n", "phase (per step)", "ms", "calls", "share");
  for (const Phase& p : sorted) {
    std::fprintf(out, "%-28s %10.2f %8.1f %5.1f%%\n", p.name, 1e3 * p.seconds / per, static_cast<double>(p.calls) / per,
                 top > 0 ? 100.0 * p.seconds / top : 0.0);
  }
}

void reset() { phases().clear(); }

}  // namespace nanochat::kernels::cpu::profile
