// Device-side bf16 rounding, exposed to the host test: out[i] = the GPU's bf16 bits for in[i].
#pragma once
#include <cstdint>

namespace nanochat::gpu_test {
void device_round_to_bf16(uint16_t* out, const float* in, int64_t n);  // device pointers; synchronises
// The same through the 8-wide pack (detail::pack8) of the vectorised kernels; n a multiple of 8.
void device_pack8_to_bf16(uint16_t* out, const float* in, int64_t n);
}
