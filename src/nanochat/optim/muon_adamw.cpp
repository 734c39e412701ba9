#include "nanochat/optim/muon_adamw.h"

#include <algorithm>
#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cpu/profile.h"
#include "nanochat/optim/adamw.h"

namespace nanochat::optim {

using model::OptimKind;
using model::ParamGroup;
using model::ParamLayout;

namespace {

// AdamW settings of setup_optimizer, keyed by the layout's group labels.
struct AdamWGroupSpec {
  const char* label;
  double beta1, beta2, weight_decay;
};
constexpr AdamWGroupSpec kAdamWGroups[] = {
    {"unembedding", 0.8, 0.96, 0.01}, {"embedding", 0.8, 0.995, 0.001}, {"value_embeds", 0.8, 0.995, 0.01},
    {"resid", 0.8, 0.95, 0.05},       {"x0", 0.96, 0.95, 0.0},          {"smear", 0.8, 0.95, 0.0},
};
constexpr double kAdamWEps = 1e-10;
constexpr double kSmearLr = 0.2;  // fixed: neither d_model nor batch scaling
constexpr double kMuonMomentum = 0.95;
constexpr int kMuonNsSteps = 5;
constexpr double kMuonBeta2 = 0.9;

size_t align_up(size_t x) { return (x + ParamLayout::kGroupAlign - 1) / ParamLayout::kGroupAlign * ParamLayout::kGroupAlign; }

}  // namespace

std::vector<GroupHyper> default_param_groups(const ParamLayout& layout, const OptimizerSetup& setup) {
  // Every Muon group has the C-wide matrices' width among its shapes; take C from the wte shape.
  const int64_t model_dim = layout.at("transformer.wte.weight").shape[1];
  const double dmodel_lr_scale = std::pow(static_cast<double>(model_dim) / 768.0, -0.5);
  std::vector<GroupHyper> out;
  for (const ParamGroup& g : layout.groups()) {
    GroupHyper h;
    h.kind = g.kind;
    if (g.kind == OptimKind::Muon) {
      h.lr = setup.matrix_lr;
      h.momentum = kMuonMomentum;
      h.ns_steps = kMuonNsSteps;
      h.beta2 = kMuonBeta2;
      h.weight_decay = setup.weight_decay;
    } else {
      const AdamWGroupSpec* spec = nullptr;
      for (const auto& s : kAdamWGroups)
        if (g.label == s.label) spec = &s;
      NC_CHECK(spec != nullptr, "optimizer: unknown AdamW group '{}'", g.label);
      const std::string label = g.label;
      if (label == "unembedding") h.lr = setup.unembedding_lr * dmodel_lr_scale;
      if (label == "embedding") h.lr = setup.embedding_lr * dmodel_lr_scale;
      if (label == "value_embeds") h.lr = setup.embedding_lr * dmodel_lr_scale * 0.5;
      if (label == "resid") h.lr = setup.scalar_lr * 0.01;
      if (label == "x0") h.lr = setup.scalar_lr;
      if (label == "smear") h.lr = kSmearLr;
      h.beta1 = spec->beta1;
      h.beta2 = spec->beta2;
      h.eps = kAdamWEps;
      h.weight_decay = spec->weight_decay;
    }
    h.initial_lr = h.lr;
    out.push_back(h);
  }
  return out;
}

void check_param_groups(const ParamLayout& layout, const std::vector<GroupHyper>& groups) {
  NC_CHECK(groups.size() == layout.groups().size(), "optimizer: {} hyperparameter groups for {} parameter groups",
           groups.size(), layout.groups().size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const GroupHyper& h = groups[gi];
    const ParamGroup& g = layout.groups()[gi];
    NC_CHECK(h.kind == g.kind, "optimizer: group {} ('{}') has the wrong kind", gi, g.label);
    NC_CHECK(std::isfinite(h.lr) && std::isfinite(h.weight_decay), "optimizer: group {} ('{}'): non-finite lr/wd", gi,
             g.label);
    if (h.kind == OptimKind::Muon) {
      NC_CHECK(h.ns_steps >= 0 && h.ns_steps <= kPolarExpressSteps, "optimizer: group {} ('{}'): ns_steps {} not in [0, {}]",
               gi, g.label, h.ns_steps, kPolarExpressSteps);
    } else {
      NC_CHECK(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1,
               "optimizer: group {} ('{}'): betas ({}, {}) must be in [0, 1)", gi, g.label, h.beta1, h.beta2);
    }
  }
}

void apply_schedule(std::vector<GroupHyper>& groups, double lr_multiplier, double muon_momentum,
                    double muon_weight_decay) {
  for (GroupHyper& h : groups) {
    h.lr = h.initial_lr * lr_multiplier;
    if (h.kind == OptimKind::Muon) {
      h.momentum = muon_momentum;
      h.weight_decay = muon_weight_decay;
    }
  }
}

std::vector<size_t> second_moment_offsets(const ParamLayout& layout, size_t* total_floats) {
  // The AdamW prefix of the slab mirrored, then compact NorMuon buffers.
  size_t end = 0;
  for (const ParamGroup& g : layout.groups())
    if (g.kind == OptimKind::AdamW) end = std::max(end, g.offset + g.numel);
  end = align_up(end);
  std::vector<size_t> offsets(layout.groups().size());
  for (size_t gi = 0; gi < layout.groups().size(); ++gi) {
    const ParamGroup& g = layout.groups()[gi];
    if (g.kind == OptimKind::AdamW) {
      offsets[gi] = g.offset;
    } else {
      offsets[gi] = end;
      end = align_up(end + g.params.size() * static_cast<size_t>(muon_second_moment_size(g.rows, g.cols)));
    }
  }
  *total_floats = end;
  return offsets;
}

MuonAdamW::MuonAdamW(const ParamLayout& layout, const OptimizerSetup& setup, MuonAdamWOptions options)
    : MuonAdamW(layout, default_param_groups(layout, setup), options) {}

MuonAdamW::MuonAdamW(const ParamLayout& layout, std::vector<GroupHyper> groups, MuonAdamWOptions options)
    : layout_(layout), groups_(std::move(groups)), options_(options) {
  check_param_groups(layout_, groups_);
  first_.assign(layout_.total_floats(), 0.0f);
  size_t end = 0;
  second_offsets_ = second_moment_offsets(layout_, &end);
  second_.assign(end, 0.0f);
  adamw_steps_.assign(layout_.params().size(), 0);
}

size_t MuonAdamW::second_moment_offset(int group) const {
  NC_CHECK(group >= 0 && static_cast<size_t>(group) < second_offsets_.size(), "optimizer: no group {}", group);
  return second_offsets_[static_cast<size_t>(group)];
}

void MuonAdamW::set_adamw_step_count(int param, int64_t count) {
  NC_CHECK(param >= 0 && static_cast<size_t>(param) < adamw_steps_.size(), "optimizer: no parameter {}", param);
  NC_CHECK(count >= 0, "optimizer: negative AdamW step count {} for parameter {}", count, param);
  adamw_steps_[static_cast<size_t>(param)] = count;
}

void MuonAdamW::apply_schedule(double lr_multiplier, double muon_momentum, double muon_weight_decay) {
  optim::apply_schedule(groups_, lr_multiplier, muon_momentum, muon_weight_decay);
}

void MuonAdamW::step(std::span<float> params, std::span<const float> grads) {
  NC_CHECK(params.size() == layout_.total_floats() && grads.size() == layout_.total_floats(),
           "optimizer step: params ({}) and grads ({}) must both have the layout's {} floats", params.size(),
           grads.size(), layout_.total_floats());
  check_param_groups(layout_, groups_);
  kernels::cpu::PhaseTimer total("optim");
  // Muon groups are collected and stepped together (muon_step_stacks shares the threads among all
  // their matrices); AdamW groups run as they come. The groups touch disjoint parameters.
  std::vector<MuonStack> muon_stacks;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = layout_.groups()[gi];
    const GroupHyper& h = groups_[gi];
    if (g.kind == OptimKind::AdamW) {
      kernels::cpu::PhaseTimer t("optim.adamw");
      const AdamWHyper ah{h.lr, h.beta1, h.beta2, h.eps, h.weight_decay};
      const bool bf16 = options_.bf16_embeddings && (g.label == "embedding" || g.label == "value_embeds");
      for (int pi : g.params) {
        const model::ParamEntry& e = layout_.params()[static_cast<size_t>(pi)];
        const int64_t step = ++adamw_steps_[static_cast<size_t>(pi)];
        adamw_step(params.data() + e.offset, grads.data() + e.offset, first_.data() + e.offset,
                   second_.data() + e.offset, e.numel, step, ah, bf16);
      }
    } else {
      const MuonHyper mh{h.lr, h.momentum, h.weight_decay, h.beta2, h.ns_steps};
      muon_stacks.push_back(MuonStack{params.data() + g.offset, grads.data() + g.offset, first_.data() + g.offset,
                                      second_.data() + second_offsets_[gi], static_cast<int64_t>(g.params.size()),
                                      g.rows, g.cols, mh});
    }
  }
  kernels::cpu::PhaseTimer t("optim.muon");
  muon_step_stacks(muon_stacks, workspace_, options_.ortho_precision);
}

}  // namespace nanochat::optim
