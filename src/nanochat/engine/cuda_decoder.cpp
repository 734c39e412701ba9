// The CUDA decoder: one GptCudaInference on GPU 0 shared by every session. A session's KV cache comes
// from a pool and goes back to it when the session ends, so a later generation with the same batch
// size reuses the cache, its workspace and its captured decode graph (capacities are rounded up to
// a multiple of kCapacityStep positions to make that likely). One CUDA stream serves all sessions:
// every device call holds device_mu_, so concurrent sessions (chat-web workers) interleave safely.
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/context.h"
#include "nanochat/model/gpt_cuda_inference.h"

namespace nanochat::engine {

namespace {

constexpr int64_t kCapacityStep = 256;
constexpr size_t kMaxIdleCaches = 8;

class CudaDecoder;

class CudaSession final : public DecodeSession {
 public:
  CudaSession(const CudaDecoder& decoder, int64_t batch, int64_t max_len);
  ~CudaSession() override;
  int64_t batch() const override { return batch_; }
  int64_t pos() const override { return cache_->pos(); }
  int64_t max_len() const override { return max_len_; }
  void prefill(std::span<const int64_t> prompt) override;
  void decode(std::span<const int64_t> column) override;
  std::span<const float> logits() override;
  bool argmax(int64_t vocab, std::span<int64_t> out) override;

 private:
  const CudaDecoder& decoder_;
  int64_t batch_, max_len_;
  std::unique_ptr<model::CudaKVCache> cache_;
  std::span<const float> host_logits_;
  bool host_logits_valid_ = false;
};

class CudaDecoder final : public Decoder {
 public:
  CudaDecoder(const model::GPT<float>& host, const CudaDecoderOptions& options)
      : options_(options), ctx_(options.device), model_(host, ctx_) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, options.device) == cudaSuccess) name_ = prop.name;
    ctx_.synchronize();
  }
  ~CudaDecoder() override {
    // A cache's destructor synchronises the shared stream: never while another thread captures on it.
    std::lock_guard<std::mutex> device_lock(device_mu_);
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_.clear();
  }
  const model::GPTConfig& config() const override { return model_.config(); }
  std::string device() const override { return "cuda:0"; }
  std::string device_name() const override { return name_; }
  int64_t device_memory_used() const override {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) return -1;
    return static_cast<int64_t>(total - free);
  }
  int64_t device_memory_total() const override {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) return -1;
    return static_cast<int64_t>(total);
  }
  std::unique_ptr<DecodeSession> start(int64_t batch, int64_t max_len) const override {
    return std::make_unique<CudaSession>(*this, batch, max_len);
  }
  // A prefill of all B rows into a fresh cache (a plain forward: no previous embedding to smear),
  // all-position logits on the device, then only the scored rows cross to the host.
  void score(std::span<const int64_t> idx, int64_t B, int64_t T, std::span<const ScorePosition> positions,
             std::span<float> out) const override {
    const int64_t V = model_.config().vocab_size, M = static_cast<int64_t>(positions.size());
    NC_CHECK(static_cast<int64_t>(idx.size()) == B * T && static_cast<int64_t>(out.size()) == M * V,
             "score: {} ids for {}x{} and {} outputs for {} positions", idx.size(), B, T, out.size(), M);
    for (const ScorePosition& p : positions)
      NC_CHECK(p.row >= 0 && p.row < B && p.t >= 0 && p.t < T, "score: position ({}, {}) outside {}x{}", p.row, p.t,
               B, T);
    // A cache of its own, freed at the end: scoring batches come in many shapes (CORE packs whole
    // items), and pooling each one would keep GiBs of keys/values and all-position logits idle.
    std::lock_guard<std::mutex> lock(device_mu_);
    model::CudaKVCache cache(model_, B, T);
    const float* logits = model_.forward_cached(cache, idx.data(), T, model::LogitsRows::kAll);
    cudaStream_t st = ctx_.stream();
    for (int64_t m = 0; m < M; ++m) {
      const ScorePosition& p = positions[static_cast<size_t>(m)];
      NC_CUDA_CHECK(cudaMemcpyAsync(out.data() + m * V, logits + (p.row * T + p.t) * V,
                                    static_cast<size_t>(V) * sizeof(float), cudaMemcpyDeviceToHost, st));
    }
    NC_CUDA_CHECK(cudaStreamSynchronize(st));
  }

  // A cache of `batch` rows holding at least `len` positions: the smallest idle one, else a new one.
  std::unique_ptr<model::CudaKVCache> acquire(int64_t batch, int64_t len) const {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      auto best = idle_.end();
      for (auto it = idle_.begin(); it != idle_.end(); ++it)
        if ((*it)->batch() == batch && (*it)->max_len() >= len &&
            (best == idle_.end() || (*it)->max_len() < (*best)->max_len()))
          best = it;
      if (best != idle_.end()) {
        std::unique_ptr<model::CudaKVCache> c = std::move(*best);
        idle_.erase(best);
        return c;
      }
    }
    const int64_t limit = 10 * model_.config().sequence_len;
    const int64_t capacity = std::min(limit, std::max(len, (len + kCapacityStep - 1) / kCapacityStep * kCapacityStep));
    std::lock_guard<std::mutex> lock(device_mu_);
    auto c = std::make_unique<model::CudaKVCache>(model_, batch, capacity);
    c->set_use_graph(options_.use_graphs);
    return c;
  }
  void release(std::unique_ptr<model::CudaKVCache> c) const {
    {
      std::lock_guard<std::mutex> lock(device_mu_);
      c->reset();
      c->trim();  // idle caches keep no all-position logits (GiBs for a scoring batch)
    }
    std::unique_ptr<model::CudaKVCache> evicted;
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      idle_.push_back(std::move(c));
      if (idle_.size() > kMaxIdleCaches) {  // the oldest goes
        evicted = std::move(idle_.front());
        idle_.erase(idle_.begin());
      }
    }
    // Its destructor synchronises the shared stream: only under device_mu_, so it can never hit a
    // stream another session is capturing a decode graph on.
    if (evicted) {
      std::lock_guard<std::mutex> lock(device_mu_);
      evicted.reset();
    }
  }

  const model::GptCudaInference& model() const { return model_; }
  std::mutex& device_mutex() const { return device_mu_; }

 private:
  CudaDecoderOptions options_;
  mutable cuda::CudaContext ctx_;
  model::GptCudaInference model_;
  std::string name_ = "cuda";
  mutable std::mutex device_mu_, pool_mu_;
  mutable std::vector<std::unique_ptr<model::CudaKVCache>> idle_;
};

CudaSession::CudaSession(const CudaDecoder& decoder, int64_t batch, int64_t max_len)
    : decoder_(decoder), batch_(batch), max_len_(max_len) {
  NC_CHECK(batch >= 1 && max_len >= 1, "decode session: batch {} and length {} must be positive", batch, max_len);
  const int64_t limit = 10 * decoder.config().sequence_len;
  NC_CHECK(max_len <= limit, "decode session: {} positions exceed the model's rotary table (10 x sequence_len = {})",
           max_len, limit);
  cache_ = decoder_.acquire(batch, max_len);
}

CudaSession::~CudaSession() {
  try {
    decoder_.release(std::move(cache_));
  } catch (...) {  // a failed reset only loses the cache for reuse
  }
}

void CudaSession::prefill(std::span<const int64_t> prompt) {
  const int64_t P = static_cast<int64_t>(prompt.size());
  NC_CHECK(P > 0 && cache_->pos() == 0, "prefill: needs a non-empty prompt and a new session");
  NC_CHECK(P <= max_len_, "prefill: the prompt of {} tokens exceeds the session length {}", P, max_len_);
  std::unique_ptr<model::CudaKVCache> one = decoder_.acquire(1, P);
  {
    std::lock_guard<std::mutex> lock(decoder_.device_mutex());
    decoder_.model().forward_cached(*one, prompt.data(), P, model::LogitsRows::kLast);
    cache_->broadcast_from(*one);
  }
  decoder_.release(std::move(one));
  host_logits_valid_ = false;
}

void CudaSession::decode(std::span<const int64_t> column) {
  NC_CHECK(static_cast<int64_t>(column.size()) == batch_, "decode: {} tokens for {} rows", column.size(), batch_);
  NC_CHECK(cache_->pos() < max_len_, "decode: the session's {} positions are full", max_len_);
  std::lock_guard<std::mutex> lock(decoder_.device_mutex());
  decoder_.model().forward_cached(*cache_, column.data(), 1, model::LogitsRows::kLast);
  host_logits_valid_ = false;
}

std::span<const float> CudaSession::logits() {
  if (!host_logits_valid_) {
    std::lock_guard<std::mutex> lock(decoder_.device_mutex());
    host_logits_ = decoder_.model().last_logits_to_host(*cache_);
    host_logits_valid_ = true;
  }
  return host_logits_;
}

bool CudaSession::argmax(int64_t vocab, std::span<int64_t> out) {
  NC_CHECK(static_cast<int64_t>(out.size()) == batch_, "argmax: {} slots for {} rows", out.size(), batch_);
  std::lock_guard<std::mutex> lock(decoder_.device_mutex());
  const std::vector<int64_t> ids = decoder_.model().argmax_last(*cache_, vocab);
  std::copy(ids.begin(), ids.end(), out.begin());
  return true;
}

}  // namespace

std::unique_ptr<Decoder> make_cuda_decoder(const model::GPT<float>& model, const CudaDecoderOptions& options) {
  NC_CHECK(cuda_decoder_available(), "--device-type cuda: no usable CUDA device ({})", "cudaGetDeviceCount found none");
  int count = 0;
  cudaGetDeviceCount(&count);
  NC_CHECK(options.device >= 0 && options.device < count,
           "--device-type cuda: device {} requested (LOCAL_RANK in a multi-rank run) but only {} CUDA device(s) are visible",
           options.device, count);
  return std::make_unique<CudaDecoder>(model, options);
}

bool cuda_decoder_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace nanochat::engine
