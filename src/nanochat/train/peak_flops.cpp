#include "nanochat/train/peak_flops.h"

#include <cctype>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

namespace nanochat::train {

namespace {

struct PeakRow {
  std::initializer_list<const char*> all_of;  // every substring must occur
  double flops;
};

// Order matters: the first match wins (so "h100 nvl" precedes "h100", and the bare "l4" also
// catches an "l40", as upstream).
const PeakRow kPeakTable[] = {
    {{"gb200"}, 2.5e15},          {{"grace blackwell"}, 2.5e15}, {{"b200"}, 2.25e15},
    {{"b100"}, 1.8e15},           {{"h200", "nvl"}, 836e12},     {{"h200", "pcie"}, 836e12},
    {{"h200"}, 989e12},           {{"h100", "nvl"}, 835e12},     {{"h100", "pcie"}, 756e12},
    {{"h100"}, 989e12},           {{"h800", "nvl"}, 989e12},     {{"h800"}, 756e12},
    {{"a100"}, 312e12},           {{"a800"}, 312e12},            {{"a40"}, 149.7e12},
    {{"a30"}, 165e12},            {{"l40s"}, 362e12},            {{"l40-s"}, 362e12},
    {{"l40 s"}, 362e12},          {{"l4"}, 121e12},              {{"mi355"}, 2.5e15},
    {{"mi325"}, 1.3074e15},       {{"mi300x"}, 1.3074e15},       {{"mi300a"}, 980.6e12},
    {{"mi250x"}, 383e12},         {{"mi250"}, 362.1e12},         {{"5090"}, 209.5e12},
    {{"4090"}, 165.2e12},         {{"3090"}, 71e12},
};

}  // namespace

double peak_bf16_flops(std::string_view device_name, int64_t compute_units) {
  std::string name(device_name);
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (name.find("data center gpu max 1550") != std::string::npos)
    return compute_units > 0 ? 512.0 * static_cast<double>(compute_units) * 1300e6
                             : std::numeric_limits<double>::infinity();
  for (const auto& row : kPeakTable) {
    bool match = true;
    for (const char* s : row.all_of) match = match && name.find(s) != std::string::npos;
    if (match) return row.flops;
  }
  return std::numeric_limits<double>::infinity();
}

double mfu_percent(int64_t flops_per_token, int64_t tokens, double seconds, double peak_flops, int64_t world_size) {
  if (!std::isfinite(peak_flops) || seconds <= 0) return 0.0;
  return 100.0 * static_cast<double>(flops_per_token) * static_cast<double>(tokens) / seconds /
         (peak_flops * static_cast<double>(world_size));
}

}  // namespace nanochat::train
