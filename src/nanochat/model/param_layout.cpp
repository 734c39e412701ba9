#include "nanochat/model/param_layout.h"

#include <algorithm>
#include <map>
#include <utility>

#include "nanochat/core/error.h"

namespace nanochat::model {

namespace {

std::string layer_name(int64_t i, const char* leaf) { return "transformer.h." + std::to_string(i) + "." + leaf; }

}  // namespace

ParamLayout::ParamLayout(const GPTConfig& c) {
  c.validate();
  const int64_t C = c.n_embd, Vp = c.padded_vocab_size(), L = c.n_layer, KV = c.kv_dim();
  const std::vector<int64_t> ve_layers = value_embed_layers(c);

  auto add_param = [&](std::string name, std::vector<int64_t> shape) {
    ParamEntry e;
    e.name = std::move(name);
    e.shape = std::move(shape);
    e.numel = 1;
    for (int64_t d : e.shape) e.numel *= static_cast<size_t>(d);
    params_.push_back(std::move(e));
    return static_cast<int>(params_.size() - 1);
  };

  // AdamW groups, in setup_optimizer's order.
  std::vector<std::pair<std::string, std::vector<int>>> adamw = {
      {"unembedding", {add_param("lm_head.weight", {Vp, C})}},
      {"embedding", {add_param("transformer.wte.weight", {Vp, C})}},
      {"value_embeds", {}},
      {"resid", {add_param("resid_lambdas", {L})}},
      {"x0", {add_param("x0_lambdas", {L})}},
      {"smear", {}},
  };
  for (int64_t i : ve_layers) adamw[2].second.push_back(add_param("value_embeds." + std::to_string(i) + ".weight", {Vp, KV}));
  adamw[5].second = {add_param("smear_lambda", {1}), add_param("backout_lambda", {1}),
                     add_param("smear_gate.weight", {1, kSmearGateChannels})};

  // Muon: every matrix under transformer.h, grouped by shape; std::map orders shapes ascending.
  std::map<std::pair<int64_t, int64_t>, std::vector<int>> muon;
  for (int64_t i = 0; i < L; ++i) {
    auto add_matrix = [&](const char* leaf, int64_t rows, int64_t cols) {
      muon[{rows, cols}].push_back(add_param(layer_name(i, leaf), {rows, cols}));
    };
    add_matrix("attn.c_q.weight", C, C);
    add_matrix("attn.c_k.weight", KV, C);
    add_matrix("attn.c_v.weight", KV, C);
    add_matrix("attn.c_proj.weight", C, C);
    if (c.has_value_embed(i)) add_matrix("attn.ve_gate.weight", c.n_kv_head, kVeGateChannels);
    add_matrix("mlp.c_fc.weight", 4 * C, C);
    add_matrix("mlp.c_proj.weight", C, 4 * C);
  }

  size_t offset = 0;
  auto place_group = [&](ParamGroup g) {
    offset = (offset + kGroupAlign - 1) / kGroupAlign * kGroupAlign;
    g.offset = offset;
    for (int p : g.params) {
      params_[static_cast<size_t>(p)].offset = offset;
      params_[static_cast<size_t>(p)].group = static_cast<int>(groups_.size());
      offset += params_[static_cast<size_t>(p)].numel;
    }
    g.numel = offset - g.offset;
    groups_.push_back(std::move(g));
  };
  for (auto& [label, ids] : adamw) {
    ParamGroup g;
    g.kind = OptimKind::AdamW;
    g.label = label;
    g.params = ids;
    place_group(std::move(g));
  }
  for (auto& [shape, ids] : muon) {
    ParamGroup g;
    g.kind = OptimKind::Muon;
    g.label = "muon " + std::to_string(shape.first) + "x" + std::to_string(shape.second);
    g.rows = shape.first;
    g.cols = shape.second;
    g.params = ids;
    place_group(std::move(g));
  }
  total_ = (offset + kGroupAlign - 1) / kGroupAlign * kGroupAlign;

  // state_dict order: own parameters, then wte, the blocks, lm_head, smear_gate, value_embeds.
  state_dict_order_ = {"resid_lambdas", "x0_lambdas", "smear_lambda", "backout_lambda", "transformer.wte.weight"};
  for (int64_t i = 0; i < L; ++i) {
    for (const char* leaf : {"attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight", "attn.c_proj.weight"})
      state_dict_order_.push_back(layer_name(i, leaf));
    if (c.has_value_embed(i)) state_dict_order_.push_back(layer_name(i, "attn.ve_gate.weight"));
    state_dict_order_.push_back(layer_name(i, "mlp.c_fc.weight"));
    state_dict_order_.push_back(layer_name(i, "mlp.c_proj.weight"));
  }
  state_dict_order_.push_back("lm_head.weight");
  state_dict_order_.push_back("smear_gate.weight");
  for (int64_t i : ve_layers) state_dict_order_.push_back("value_embeds." + std::to_string(i) + ".weight");
}

size_t ParamLayout::num_parameters() const {
  size_t n = 0;
  for (const auto& p : params_) n += p.numel;
  return n;
}

int ParamLayout::index_of(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

const ParamEntry& ParamLayout::at(const std::string& name) const {
  const int i = index_of(name);
  NC_CHECK(i >= 0, "model has no parameter named '{}'", name);
  return params_[static_cast<size_t>(i)];
}

template <class F>
ModelPtrs<F> bind_pointers(const GPTConfig& c, const ParamLayout& layout, F* slab) {
  auto ptr = [&](const std::string& name) { return slab + layout.at(name).offset; };
  ModelPtrs<F> m;
  m.wte = ptr("transformer.wte.weight");
  m.lm_head = ptr("lm_head.weight");
  m.resid_lambdas = ptr("resid_lambdas");
  m.x0_lambdas = ptr("x0_lambdas");
  m.smear_lambda = ptr("smear_lambda");
  m.backout_lambda = ptr("backout_lambda");
  m.smear_gate = ptr("smear_gate.weight");
  m.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerPtrs<F>& l = m.layers[static_cast<size_t>(i)];
    l.c_q = ptr(layer_name(i, "attn.c_q.weight"));
    l.c_k = ptr(layer_name(i, "attn.c_k.weight"));
    l.c_v = ptr(layer_name(i, "attn.c_v.weight"));
    l.c_proj = ptr(layer_name(i, "attn.c_proj.weight"));
    l.c_fc = ptr(layer_name(i, "mlp.c_fc.weight"));
    l.mlp_proj = ptr(layer_name(i, "mlp.c_proj.weight"));
    if (c.has_value_embed(i)) {
      l.ve_gate = ptr(layer_name(i, "attn.ve_gate.weight"));
      l.value_embed = ptr("value_embeds." + std::to_string(i) + ".weight");
    }
  }
  return m;
}

template ModelPtrs<float> bind_pointers<float>(const GPTConfig&, const ParamLayout&, float*);
template ModelPtrs<double> bind_pointers<double>(const GPTConfig&, const ParamLayout&, double*);
template ModelPtrs<const float> bind_pointers<const float>(const GPTConfig&, const ParamLayout&, const float*);
template ModelPtrs<const double> bind_pointers<const double>(const GPTConfig&, const ParamLayout&, const double*);
// bf16 slabs (the CUDA weight shadow) are bound through their raw 16-bit storage.
template ModelPtrs<uint16_t> bind_pointers<uint16_t>(const GPTConfig&, const ParamLayout&, uint16_t*);

}  // namespace nanochat::model
