// Peak dense BF16 FLOP/s by accelerator name (spec serving-report-pipelines.md §8.9) and the MFU that
// base_train logs. Unknown devices, the CPU included, have an infinite peak, so MFU reads 0.
#pragma once
#include <cstdint>
#include <string_view>

namespace nanochat::train {

// Lower-cases `device_name` and returns the first table row whose substrings all occur in it;
// +infinity when none does. Intel PVC ("data center gpu max 1550") needs its compute-unit count,
// which a name alone does not give: pass it as compute_units (0 = unknown -> infinity).
double peak_bf16_flops(std::string_view device_name, int64_t compute_units = 0);

// 100 * flops_per_token * tokens / seconds / (peak * world_size); 0 when the peak is not finite.
double mfu_percent(int64_t flops_per_token, int64_t tokens, double seconds, double peak_flops, int64_t world_size = 1);

}  // namespace nanochat::train
