// Where every parameter lives in the one flat fp32 slab (DESIGN.md "Parameters live in flat slabs").
// The slab is ordered by optimizer group (spec §7.1): the six AdamW groups, then one Muon group per
// distinct matrix shape in ascending (rows, cols) order. Inside a Muon group the matrices are
// contiguous and equal-shaped, so the group is a (K, rows, cols) stack without copies; gradients
// and optimizer state mirror the same layout. Each group starts on a kGroupAlign-float boundary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nanochat/model/config.h"

namespace nanochat::model {

enum class OptimKind { AdamW, Muon };

struct ParamEntry {
  std::string name;            // the original's state_dict key
  std::vector<int64_t> shape;  // PyTorch shape, e.g. (out_features, in_features)
  size_t offset = 0;           // in floats from the slab start
  size_t numel = 0;
  int group = -1;
};

struct ParamGroup {
  OptimKind kind = OptimKind::AdamW;
  std::string label;        // "unembedding", "embedding", "value_embeds", "resid", "x0", "smear", "muon RxC"
  size_t offset = 0;        // first float of the group
  size_t numel = 0;         // floats in the group (no padding inside)
  std::vector<int> params;  // indices into ParamLayout::params(), in optimizer order
  int64_t rows = 0, cols = 0;  // Muon: the common matrix shape (stack is params.size() x rows x cols)
};

class ParamLayout {
 public:
  static constexpr size_t kGroupAlign = 64;  // floats (256 bytes)

  explicit ParamLayout(const GPTConfig& config);

  const std::vector<ParamEntry>& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  size_t total_floats() const { return total_; }  // slab size including alignment padding
  size_t num_parameters() const;                  // sum of numel (what PyTorch counts)

  int index_of(const std::string& name) const;  // -1 when absent
  const ParamEntry& at(const std::string& name) const;  // throws naming the parameter
  // Names in PyTorch state_dict order (spec §2), for checkpoints.
  const std::vector<std::string>& state_dict_order() const { return state_dict_order_; }

 private:
  std::vector<ParamEntry> params_;
  std::vector<ParamGroup> groups_;
  std::vector<std::string> state_dict_order_;
  size_t total_ = 0;
};

// Typed pointers into a slab (parameters or gradients) laid out by a ParamLayout.
template <class F>
struct LayerPtrs {
  F* c_q = nullptr;
  F* c_k = nullptr;
  F* c_v = nullptr;
  F* c_proj = nullptr;
  F* ve_gate = nullptr;  // null on layers without a value embedding
  F* c_fc = nullptr;
  F* mlp_proj = nullptr;
  F* value_embed = nullptr;  // value_embeds.<i>.weight, null on layers without one
};

template <class F>
struct ModelPtrs {
  F* wte = nullptr;
  F* lm_head = nullptr;
  F* resid_lambdas = nullptr;
  F* x0_lambdas = nullptr;
  F* smear_lambda = nullptr;
  F* backout_lambda = nullptr;
  F* smear_gate = nullptr;
  std::vector<LayerPtrs<F>> layers;
};

template <class F>
ModelPtrs<F> bind_pointers(const GPTConfig& config, const ParamLayout& layout, F* slab);

}  // namespace nanochat::model
