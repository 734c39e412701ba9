// MuonAdamW on one rank (spec model-and-training.md §7): AdamW for the embeddings, lm_head and the
// scalars, Muon for every matrix inside the blocks, over the model's flat parameter slab.
//
// Groups follow the slab (model/param_layout.h): six AdamW groups, then one Muon group per matrix
// shape, and the optimizer state mirrors that slab so a sharded version can slice it:
//   first  — same size and offsets as the parameters: AdamW exp_avg, Muon momentum_buffer (K, m, n);
//   second — AdamW exp_avg_sq at the parameter's own offset (the AdamW groups are the slab's
//            prefix), then the Muon groups' NorMuon buffers (K, m) or (K, n), compact and aligned
//            (second_moment_offset);
//   adamw_steps — the per-parameter AdamW step counters.
//
// Typical loop (base_train):
//   MuonAdamW opt(model.layout(), setup);
//   for it: forward/backward ...; opt.apply_schedule(lr_multiplier(s, it), muon_momentum(s, it),
//                                                     muon_weight_decay(s, it));
//           opt.step(model.params(), model.grads()); model.zero_grads();
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "nanochat/model/param_layout.h"
#include "nanochat/optim/muon.h"

namespace nanochat::optim {

// The arguments of the original's setup_optimizer (with its defaults). base_train passes the four
// lrs already multiplied by batch_lr_scale and weight_decay = wd_scaled (§8.2).
struct OptimizerSetup {
  double unembedding_lr = 0.004;
  double embedding_lr = 0.2;
  double matrix_lr = 0.02;
  double weight_decay = 0.0;  // the Muon groups' (cautious) weight decay
  double scalar_lr = 0.5;
};

// One param group's hyperparameters, named as in the original's param_groups.
struct GroupHyper {
  model::OptimKind kind = model::OptimKind::AdamW;
  double lr = 0;          // current (scheduled) lr
  double initial_lr = 0;  // lr at creation; the schedule sets lr = initial_lr * multiplier
  double weight_decay = 0;
  // AdamW
  double beta1 = 0, beta2 = 0, eps = 0;  // for Muon groups beta2 is NorMuon's (0.9) and beta1/eps are unused
  // Muon
  double momentum = 0;
  int ns_steps = 0;
};

// setup_optimizer's groups for a layout: lrs after the d_model scaling (C/768)^-0.5 (lm_head, wte,
// value_embeds), fixed betas/eps/weight decays per AdamW group, momentum 0.95, ns_steps 5, beta2 0.9.
std::vector<GroupHyper> default_param_groups(const model::ParamLayout& layout, const OptimizerSetup& setup);

struct MuonAdamWOptions {
  OrthoPrecision ortho_precision = OrthoPrecision::Float;
  // Round wte/value_embeds and their moments to bf16 after each AdamW step (the original on CUDA
  // with CD = bf16). Off for the fp32 CPU reference.
  bool bf16_embeddings = false;
};

// Throws naming the group when hyperparameters do not fit the layout (count, kinds, finite lr/wd,
// ns_steps, betas). Shared by the host and the CUDA optimizer.
void check_param_groups(const model::ParamLayout& layout, const std::vector<GroupHyper>& groups);
// lr = initial_lr * lr_multiplier on every group; momentum and weight_decay on the Muon groups.
void apply_schedule(std::vector<GroupHyper>& groups, double lr_multiplier, double muon_momentum,
                    double muon_weight_decay);
// The second-moment buffer's layout (see the file comment): per group its offset (an AdamW group's
// own slab offset; the compact NorMuon buffers after the AdamW prefix), and the buffer's total size.
std::vector<size_t> second_moment_offsets(const model::ParamLayout& layout, size_t* total_floats);

class MuonAdamW {
 public:
  MuonAdamW(const model::ParamLayout& layout, const OptimizerSetup& setup, MuonAdamWOptions options = {});
  MuonAdamW(const model::ParamLayout& layout, std::vector<GroupHyper> groups, MuonAdamWOptions options = {});

  const model::ParamLayout& layout() const { return layout_; }
  // Mutable: the loop may set any hyperparameter between steps (groups()[g].lr = ...).
  std::vector<GroupHyper>& groups() { return groups_; }
  const std::vector<GroupHyper>& groups() const { return groups_; }
  const MuonAdamWOptions& options() const { return options_; }

  // lr = initial_lr * lr_multiplier on every group; momentum and weight_decay on the Muon groups.
  void apply_schedule(double lr_multiplier, double muon_momentum, double muon_weight_decay);

  // One step: every group in order (AdamW groups, then Muon groups). params and grads are slabs laid
  // out by layout() (total_floats() each); grads are only read.
  void step(std::span<float> params, std::span<const float> grads);

  // ---- state (mirrors the parameter slab; see the file comment) ----
  std::span<float> first_moment() { return first_; }
  std::span<const float> first_moment() const { return first_; }
  std::span<float> second_moment() { return second_; }
  std::span<const float> second_moment() const { return second_; }
  // Where a group's second moment starts inside second_moment(): the group's slab offset for AdamW,
  // the (K, m|n) NorMuon buffer's offset for Muon.
  size_t second_moment_offset(int group) const;
  int64_t adamw_step_count(int param) const { return adamw_steps_[static_cast<size_t>(param)]; }
  // For state transfer (the device optimizer, MuonAdamWCuda): throws on a bad index or a negative count.
  void set_adamw_step_count(int param, int64_t count);

  // Optimizer state file (optim_NNNNNN_rankR.safetensors): PyTorch's optimizer state_dict in
  // safetensors form. Tensors "state.<ordinal>.exp_avg|exp_avg_sq|step" per AdamW parameter and
  // "state.<ordinal>.momentum_buffer|second_momentum_buffer" under a Muon group's first parameter
  // (ordinals are global across groups, in group order, as the original's); __metadata__
  // "param_groups" holds each group's hyperparameters, initial_lr, param ordinals and names.
  // Written atomically. load_state checks every tensor's name, dtype and shape and the group
  // structure, naming what differs, and restores the saved hyperparameters (the original's resume
  // takes lr/wd/momentum from the checkpoint, not from the command line).
  // This class is the single-rank optimizer: its files record world_size 1 and load_state refuses
  // others (the original's resume needs the same world size).
  void save_state(const std::filesystem::path& path) const;
  void load_state(const std::filesystem::path& path);

 private:
  model::ParamLayout layout_;
  std::vector<GroupHyper> groups_;
  MuonAdamWOptions options_;
  std::vector<float> first_, second_;
  std::vector<size_t> second_offsets_;  // per group
  std::vector<int64_t> adamw_steps_;  // per parameter
  MuonWorkspace workspace_;
};

}  // namespace nanochat::optim
