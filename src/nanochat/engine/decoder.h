// Where the engine's model runs (spec §4.1-4.2): a Decoder hands out sessions, each owning the KV
// cache of one generation. The engine is written once against this interface; the CPU decoder is the
// fp32 reference (model::GPT<float>::forward_cached), the CUDA decoder runs a bf16 copy of the same
// weights on one GPU (model::GptCudaInference) and replays each decode step as a captured CUDA graph.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "nanochat/model/config.h"
#include "nanochat/model/gpt.h"

namespace nanochat::engine {

// The cache of one generation: batch rows, at most max_len positions.
class DecodeSession {
 public:
  virtual ~DecodeSession() = default;
  virtual int64_t batch() const = 0;
  virtual int64_t pos() const = 0;      // positions in the cache (all rows share it)
  virtual int64_t max_len() const = 0;  // the length the session was started with
  // Feeds the prompt once with batch 1 and gives every row a copy of its cache; every row's current
  // logits become those of the prompt's last position. Only on a new session.
  virtual void prefill(std::span<const int64_t> prompt) = 0;
  // Feeds one token per row (column has batch() ids); the current logits become the new ones.
  virtual void decode(std::span<const int64_t> column) = 0;
  // The current softcapped fp32 logits (batch, vocab_size); valid until the next prefill/decode.
  virtual std::span<const float> logits() = 0;
  // Every row's argmax over the first `vocab` ids (first index on ties), where the backend can find it
  // without handing over the logits (the GPU: B ids cross to the host instead of B*V floats). False:
  // not offered, use logits().
  virtual bool argmax(int64_t vocab, std::span<int64_t> out) {
    (void)vocab;
    (void)out;
    return false;
  }
};

// One scored position of a plain forward: batch row and position (its next-token logits).
struct ScorePosition {
  int64_t row = 0, t = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual const model::GPTConfig& config() const = 0;
  virtual std::string device() const = 0;       // "cpu" or "cuda:0"
  virtual std::string device_name() const = 0;  // e.g. "NVIDIA H100 80GB HBM3"; "cpu"
  // Device memory in use now (cudaMemGetInfo: total - free) and in all, in bytes; -1 on the CPU.
  virtual int64_t device_memory_used() const { return -1; }
  virtual int64_t device_memory_total() const { return -1; }
  // Next-token logits (softcapped, fp32) at chosen positions of a plain forward over B rows of T
  // tokens (idx row-major, no cache kept): out holds positions.size() rows of vocab_size. For scoring
  // (CORE, categorical chat evals), which reads a few positions of each row.
  virtual void score(std::span<const int64_t> idx, int64_t B, int64_t T, std::span<const ScorePosition> positions,
                     std::span<float> out) const = 0;
  // Safe to call from several threads; each session is used by one thread at a time.
  virtual std::unique_ptr<DecodeSession> start(int64_t batch, int64_t max_len) const = 0;
};

// The model must outlive the decoder.
std::unique_ptr<Decoder> make_cpu_decoder(const model::GPT<float>& model);

struct CudaDecoderOptions {
  bool use_graphs = true;  // replay decode steps as captured CUDA graphs
  int device = 0;          // CUDA device index (a rank's LOCAL_RANK in a multi-rank run)
};
// Copies the weights to GPU options.device (the host model is not needed afterwards). Throws Error when the binary
// was built without CUDA or no device is usable.
std::unique_ptr<Decoder> make_cuda_decoder(const model::GPT<float>& model, const CudaDecoderOptions& options = {});
bool cuda_decoder_available();

// --device-type for inference: "" picks cuda when a GPU is usable, else cpu; "cpu" and "cuda" are
// taken as given ("cuda" without a usable GPU is an Error); anything else is a UsageError.
std::string resolve_inference_device(const std::string& requested);
std::unique_ptr<Decoder> make_decoder(const std::string& device, const model::GPT<float>& model,
                                      const CudaDecoderOptions& options = {});

}  // namespace nanochat::engine
