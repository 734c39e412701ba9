// Activations of one training forward, kept for the hand-written backward, plus the scratch the
// backward needs. Everything lives in one allocation planned up front for a fixed (B, T): the plan
// runs once to count, then again to hand out aligned spans (DESIGN.md "one planned arena").
#pragma once
#include <cstdint>
#include <vector>

#include "nanochat/model/config.h"

namespace nanochat::model {

template <class F>
struct LayerActivations {
  F* h = nullptr;        // norm(block input)            (BT, C)
  F* rstd_h = nullptr;   //                              (BT)
  F* q = nullptr;        // 1.2*norm(rope(c_q(h)))       (BT, H, d)
  F* rstd_q = nullptr;   //                              (BT*H)
  F* k = nullptr;        // 1.2*norm(rope(c_k(h)))       (BT, Hk, d)
  F* rstd_k = nullptr;   //                              (BT*Hk)
  F* v = nullptr;        // c_v(h) + gate*ve             (BT, Hk, d)
  F* ve_gate = nullptr;  // 3*sigmoid(...), VE layers    (BT, Hk)
  F* y = nullptr;        // attention output             (BT, C)
  F* lse = nullptr;      // softmax log-sum-exp          (B, H, T)
  F* h2 = nullptr;       // norm(x + attn)               (BT, C)
  F* rstd_h2 = nullptr;  //                              (BT)
  F* u = nullptr;        // c_fc(h2), before relu^2      (BT, 4C)
  F* a = nullptr;        // relu(u)^2, kept so the backward need not recompute it (BT, 4C)
  F* out = nullptr;      // block output                 (BT, C)
};

template <class F>
class Activations {
 public:
  Activations(const GPTConfig& config, int64_t B, int64_t T);

  int64_t B() const { return B_; }
  int64_t T() const { return T_; }
  int64_t rows() const { return B_ * T_; }
  int64_t logits_chunk_rows() const { return chunk_rows_; }
  // The backward's vocabulary block: logits_chunk also holds (rows(), logits_vocab_block()).
  int64_t logits_vocab_block() const { return vocab_block_; }
  size_t floats() const { return storage_.size(); }

  // Training option. When set, a forward with targets also pushes the loss's gradient (for
  // loss_scale 1) back through lm_head while each chunk of logits is still at hand, and backward()
  // scales that result instead of recomputing the logits: one of the step's four (B*T, V, C) GEMMs
  // saved (~70 ms of a 16-core depth-4 step). Set it only where every forward with targets is
  // followed by backward (the forward gets slower). Extra memory: V*C + B*T*C floats plus a logits
  // chunk of up to 1024 rows.
  bool fuse_lm_head_backward = false;
  // Filled by such a forward (unscaled gradients of lm_head and of the final norm's output).
  std::vector<F> fused_g_lm_head, fused_g_xf, fused_logits;
  bool fused_grads_ready = false;

  std::vector<int64_t> idx, targets;  // copies of the inputs of the last forward
  bool has_targets = false;
  int64_t num_valid_targets = 0;

  F* xn_emb = nullptr;    // norm(wte[idx])           (BT, C)
  F* rstd_emb = nullptr;  //                          (BT)
  F* smear_sig = nullptr; // sigmoid of the smear gate (BT), 0 at t = 0
  F* x0 = nullptr;        // post-smear embedding     (BT, C)
  std::vector<LayerActivations<F>> layers;
  F* xf_n = nullptr;      // norm(x_L - lambda_b*x_b) (BT, C)
  F* rstd_f = nullptr;    //                          (BT)
  F* loss = nullptr;      // per-position CE, 0 where ignored (BT)
  F* lse = nullptr;       // per-position logsumexp of the capped logits (BT)

  // Scratch (contents meaningless between calls).
  F* buf_c0 = nullptr;      // (BT, C)
  F* buf_c1 = nullptr;      // (BT, C)
  F* buf_c2 = nullptr;      // (BT, C)
  F* buf_c3 = nullptr;      // (BT, C)
  F* buf_q = nullptr;       // (BT, C)
  F* buf_k = nullptr;       // (BT, KV)
  F* buf_v = nullptr;       // (BT, KV)
  F* buf_4c1 = nullptr;     // (BT, 4C)
  F* logits_chunk = nullptr;  // (chunk_rows, V) in the forward, (BT, vocab_block) in the backward

 private:
  void plan(F* base, size_t* total);

  GPTConfig config_;
  int64_t B_, T_, chunk_rows_, vocab_block_;
  std::vector<F> storage_;
};

}  // namespace nanochat::model
