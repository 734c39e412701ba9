// The GPT's initial weights (spec model-and-training.md §5): the same distributions and constants as
// the original's init_weights (wte N(0, 0.8), lm_head N(0, 0.001), block matrices U(-s, s) with
// s = sqrt(3/C), c_fc at 0.4 s, zero output projections, the lambda ramps, gates U(0, 0.02)).
//
// The original draws from PyTorch's generator, whose stream a C++ port cannot reproduce (parity
// tests import initial weights instead). We use a counter-based generator keyed by (seed, tensor,
// element), so a value depends only on those three: the same seed gives the same model on any
// thread count, and one tensor's draws never shift another's.
#pragma once
#include <cstdint>

#include "nanochat/model/gpt.h"

namespace nanochat::train {

inline constexpr uint64_t kDefaultInitSeed = 42;  // the original seeds its generators with 42

void init_weights(model::GPT<float>& model, uint64_t seed = kDefaultInitSeed);

}  // namespace nanochat::train
