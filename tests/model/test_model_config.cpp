#include <gtest/gtest.h>

#include "nanochat/core/error.h"
#include "nanochat/model/config.h"
#include "nanochat/model/param_layout.h"

namespace nanochat::model {
namespace {

TEST(ModelConfig, DepthRuleAndWorkedShapes) {
  // spec §1.5: (depth, C, H, #VE layers, total params) with vocab 32768, seq 2048, "SSSL".
  struct Row {
    int64_t depth, C, H, n_ve;
    size_t total;
  };
  for (const Row& row : {Row{4, 256, 2, 2, 36700242}, Row{6, 384, 3, 3, 73531538}, Row{12, 768, 6, 6, 286261730},
                         Row{20, 1280, 10, 10, 896533746}, Row{26, 1664, 13, 13, 1681786938}}) {
    const GPTConfig c = GPTConfig::from_depth(row.depth, 32768, 2048);
    EXPECT_EQ(c.n_embd, row.C);
    EXPECT_EQ(c.n_head, row.H);
    EXPECT_EQ(static_cast<int64_t>(value_embed_layers(c).size()), row.n_ve);
    EXPECT_EQ(ParamLayout(c).num_parameters(), row.total) << "depth " << row.depth;
  }
  // runcpu.sh model: depth 6, head_dim 64, seq 512, pattern "L".
  const GPTConfig cpu = GPTConfig::from_depth(6, 32768, 512, 64, 64, "L");
  EXPECT_EQ(cpu.n_head, 6);
  EXPECT_EQ(ParamLayout(cpu).num_parameters(), 73531646u);
}

TEST(ModelConfig, WindowsVeLayersAndBackout) {
  GPTConfig c = GPTConfig::from_depth(24, 32768, 2048);
  std::vector<int64_t> long_layers;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    if (c.window(i) == 2048) {
      long_layers.push_back(i);
    } else {
      EXPECT_EQ(c.window(i), 512) << i;  // ceil(2048/4) rounded to 128, not the stale 768
    }
  }
  EXPECT_EQ(long_layers, (std::vector<int64_t>{3, 7, 11, 15, 19, 23}));
  EXPECT_EQ(c.backout_layer(), 12);
  c.sequence_len = 1000;
  EXPECT_EQ(c.window(0), 256);
  c.sequence_len = 256;
  c.window_pattern = "sl";  // upper-cased
  EXPECT_EQ(c.window(0), 128);
  EXPECT_EQ(c.window(1), 256);
  c.n_layer = 3;  // the last layer is forced long even on an 'S'
  EXPECT_EQ(c.window(2), 256);
  EXPECT_EQ(value_embed_layers(c), (std::vector<int64_t>{0, 2}));
  c.n_layer = 4;
  EXPECT_EQ(value_embed_layers(c), (std::vector<int64_t>{1, 3}));
}

TEST(ModelConfig, JsonRoundTripAndValidation) {
  const GPTConfig c = GPTConfig::from_depth(4, 300, 256, 32, 32, "SL");
  const GPTConfig back = GPTConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(c.to_json().find("\"sequence_len\""), 1u);  // checkpoint key order
  EXPECT_EQ(c.padded_vocab_size(), 320);
  EXPECT_THROW(GPTConfig::from_json(R"({"sequence_len":1})"), Error);
  EXPECT_THROW(GPTConfig::from_json(
                   R"({"sequence_len":8,"vocab_size":10,"n_layer":1,"n_head":3,"n_kv_head":2,"n_embd":48,"window_pattern":"L"})"),
               Error);
  EXPECT_THROW(GPTConfig::from_json(
                   R"({"sequence_len":8,"vocab_size":10,"n_layer":1,"n_head":2,"n_kv_head":2,"n_embd":48,"window_pattern":"LX"})"),
               Error);
  EXPECT_THROW(GPTConfig::from_json(
                   R"({"sequence_len":8,"vocab_size":10,"n_layer":1,"n_head":2,"n_kv_head":2,"n_embd":48,"window_pattern":"L","padded_vocab_size":10})"),
               Error);
}

TEST(ParamLayout, GroupsAreContiguousAndOrderedAsTheOptimizer) {
  GPTConfig c;
  c.sequence_len = 256;
  c.vocab_size = 300;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 128;
  c.window_pattern = "SL";
  const ParamLayout layout(c);
  std::vector<std::string> labels;
  for (const auto& g : layout.groups()) labels.push_back(g.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"unembedding", "embedding", "value_embeds", "resid", "x0", "smear",
                                              "muon 2x12", "muon 64x128", "muon 128x128", "muon 128x512",
                                              "muon 512x128"}));
  const auto& sq = layout.groups()[8];
  ASSERT_EQ(sq.params.size(), 8u);
  EXPECT_EQ(layout.params()[static_cast<size_t>(sq.params[0])].name, "transformer.h.0.attn.c_q.weight");
  EXPECT_EQ(layout.params()[static_cast<size_t>(sq.params[1])].name, "transformer.h.0.attn.c_proj.weight");
  EXPECT_EQ(layout.params()[static_cast<size_t>(layout.groups()[5].params[2])].name, "smear_gate.weight");
  size_t covered = 0;
  for (const auto& g : layout.groups()) {
    EXPECT_EQ(g.offset % ParamLayout::kGroupAlign, 0u) << g.label;
    size_t at = g.offset;
    for (int p : g.params) {  // matrices of a group follow each other with no gaps
      const ParamEntry& e = layout.params()[static_cast<size_t>(p)];
      EXPECT_EQ(e.offset, at) << e.name;
      at += e.numel;
      if (g.kind == OptimKind::Muon) {
        EXPECT_EQ(e.numel, static_cast<size_t>(g.rows * g.cols)) << e.name;
      }
    }
    EXPECT_EQ(at - g.offset, g.numel);
    covered += g.numel;
  }
  EXPECT_EQ(covered, layout.num_parameters());
  EXPECT_LE(layout.num_parameters(), layout.total_floats());
  EXPECT_EQ(layout.state_dict_order().size(), layout.params().size());
  EXPECT_EQ(layout.state_dict_order().front(), "resid_lambdas");
  EXPECT_EQ(layout.state_dict_order().back(), "value_embeds.3.weight");
  EXPECT_THROW(layout.at("nope"), Error);
}

}  // namespace
}  // namespace nanochat::model
