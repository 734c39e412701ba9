// The CPU decoder (the fp32 reference), the device choice, and the CUDA factory's stand-in when the
// binary is built without CUDA.
#include <algorithm>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/kernels/ops.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/kv_cache.h"

namespace nanochat::engine {

namespace {

// Copies the first `one.pos()` positions of a batch-1 cache into every row of `many` (spec §4.1 prefill).
void broadcast_cache(model::KVCache<float>& one, model::KVCache<float>& many, const model::GPTConfig& c) {
  NC_CHECK(many.pos() == 0 && one.batch() == 1 && many.max_len() >= one.pos(), "invalid cache broadcast");
  const int64_t row = c.n_kv_head * c.head_dim();
  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    for (float* (model::KVCache<float>::*get)(int64_t) : {&model::KVCache<float>::keys, &model::KVCache<float>::values}) {
      const float* src = (one.*get)(layer);
      float* dst = (many.*get)(layer);
      for (int64_t b = 0; b < many.batch(); ++b) {
        std::memcpy(dst + b * many.max_len() * row, src, static_cast<size_t>(one.pos() * row) * sizeof(float));
      }
    }
  }
  if (one.has_prev_embedding()) {
    for (int64_t b = 0; b < many.batch(); ++b) {
      std::memcpy(many.prev_embedding() + b * c.n_embd, one.prev_embedding(), static_cast<size_t>(c.n_embd) * sizeof(float));
    }
    many.set_has_prev_embedding();
  }
  many.advance(one.pos());
}

class CpuSession final : public DecodeSession {
 public:
  CpuSession(const model::GPT<float>& model, int64_t batch, int64_t max_len)
      : model_(model), cache_(model.config(), batch, max_len),
        current_(static_cast<size_t>(batch * model.config().vocab_size)) {}
  int64_t batch() const override { return cache_.batch(); }
  int64_t pos() const override { return cache_.pos(); }
  int64_t max_len() const override { return cache_.max_len(); }

  void prefill(std::span<const int64_t> prompt) override {
    const model::GPTConfig& c = model_.config();
    const int64_t P = static_cast<int64_t>(prompt.size()), V = c.vocab_size;
    NC_CHECK(P > 0 && cache_.pos() == 0, "prefill: needs a non-empty prompt and a new session");
    model::KVCache<float> one(c, 1, P);
    std::vector<float> logits(static_cast<size_t>(P * V));
    model_.forward_cached(one, prompt.data(), P, logits.data());
    for (int64_t b = 0; b < batch(); ++b) std::copy_n(logits.end() - V, V, current_.begin() + b * V);
    broadcast_cache(one, cache_, c);
  }
  void decode(std::span<const int64_t> column) override {
    NC_CHECK(static_cast<int64_t>(column.size()) == batch(), "decode: {} tokens for {} rows", column.size(), batch());
    NC_CHECK(pos() < max_len(), "decode: the session's {} positions are full", max_len());
    model_.forward_cached(cache_, column.data(), 1, current_.data());
  }
  std::span<const float> logits() override { return current_; }

 private:
  const model::GPT<float>& model_;
  model::KVCache<float> cache_;
  std::vector<float> current_;
};

class CpuDecoder final : public Decoder {
 public:
  explicit CpuDecoder(const model::GPT<float>& model) : model_(model) {}
  const model::GPTConfig& config() const override { return model_.config(); }
  std::string device() const override { return "cpu"; }
  std::string device_name() const override { return "cpu"; }
  std::unique_ptr<DecodeSession> start(int64_t batch, int64_t max_len) const override {
    return std::make_unique<CpuSession>(model_, batch, max_len);
  }
  void score(std::span<const int64_t> idx, int64_t B, int64_t T, std::span<const ScorePosition> positions,
             std::span<float> out) const override {
    const model::GPTConfig& cfg = model_.config();
    const int64_t C = cfg.n_embd, V = cfg.vocab_size, M = static_cast<int64_t>(positions.size());
    NC_CHECK(static_cast<int64_t>(idx.size()) == B * T && static_cast<int64_t>(out.size()) == M * V,
             "score: {} ids for {}x{} and {} outputs for {} positions", idx.size(), B, T, out.size(), M);
    model::Activations<float> acts(cfg, B, T);
    model_.forward(acts, idx.data(), nullptr);
    // Only the scored rows of the final hidden state go through lm_head.
    std::vector<float> hidden(static_cast<size_t>(M * C));
    for (int64_t m = 0; m < M; ++m) {
      const ScorePosition& p = positions[static_cast<size_t>(m)];
      NC_CHECK(p.row >= 0 && p.row < B && p.t >= 0 && p.t < T, "score: position ({}, {}) outside {}x{}", p.row, p.t,
               B, T);
      const float* src = acts.xf_n + (p.row * T + p.t) * C;
      std::copy(src, src + C, hidden.begin() + m * C);
    }
    if (M == 0) return;
    const float* lm_head = model_.params().data() + model_.layout().at("lm_head.weight").offset;
    kernels::cpu::linear_forward(out.data(), hidden.data(), lm_head, M, V, C);
    kernels::cpu::softcap_cross_entropy_forward<float>(out.data(), nullptr, nullptr, nullptr, M, V,
                                                       static_cast<float>(model::kLogitSoftcap));
  }

 private:
  const model::GPT<float>& model_;
};

}  // namespace

std::unique_ptr<Decoder> make_cpu_decoder(const model::GPT<float>& model) { return std::make_unique<CpuDecoder>(model); }

std::string resolve_inference_device(const std::string& requested) {
  if (requested.empty()) return cuda_decoder_available() ? "cuda" : "cpu";
  if (requested == "cpu") return requested;
  if (requested == "cuda") {
#ifdef NANOCHAT_HAVE_CUDA
    constexpr const char* why = "no usable CUDA device (cudaGetDeviceCount found none)";
#else
    constexpr const char* why =
        "this nanochat binary was built without the CUDA backend (configure with nvcc and -DNANOCHAT_CUDA=ON)";
#endif
    NC_CHECK(cuda_decoder_available(), "--device-type cuda: {}", why);
    return requested;
  }
  usage_fail("argument --device-type: expected cuda or cpu (or empty to autodetect), got '{}'", requested);
}

std::unique_ptr<Decoder> make_decoder(const std::string& device, const model::GPT<float>& model,
                                      const CudaDecoderOptions& options) {
  const std::string d = resolve_inference_device(device);
  if (d == "cuda") return make_cuda_decoder(model, options);
  return make_cpu_decoder(model);
}

#ifndef NANOCHAT_HAVE_CUDA
std::unique_ptr<Decoder> make_cuda_decoder(const model::GPT<float>&, const CudaDecoderOptions&) {
  fail("--device-type cuda: this nanochat binary was built without the CUDA backend (configure with nvcc and "
       "-DNANOCHAT_CUDA=ON)");
}
bool cuda_decoder_available() { return false; }
#endif

}  // namespace nanochat::engine
