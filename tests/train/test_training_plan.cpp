// base_train's setup math against the numbers in spec model-and-training.md §1.5, §6.2 and §8.2
// (vocab 32768, head_dim 128, aspect 64, seq 2048, "SSSL"), and against hand computations for d4.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nanochat/core/error.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/model/model_stats.h"
#include "nanochat/train/peak_flops.h"
#include "nanochat/train/train_log.h"
#include "nanochat/train/training_plan.h"

using namespace nanochat;
using namespace nanochat::train;

namespace {

model::GPTConfig spec_config(int64_t depth) { return model_config_for_depth(depth, ShapeArgs{}); }

TrainingPlanArgs spec_args(int64_t depth, double ratio, int64_t dbs, int64_t world) {
  TrainingPlanArgs a;
  a.depth = depth;
  a.target_param_data_ratio = ratio;
  a.device_batch_size = dbs;
  a.world_size = world;
  return a;
}

// The lrs the optimizer groups end up with (after setup_optimizer's d_model scaling), by label.
double group_lr(const TrainingPlan& p, const std::string& label) {
  const model::ParamLayout layout(p.config);
  const auto groups = optim::default_param_groups(layout, p.optimizer);
  for (size_t g = 0; g < groups.size(); ++g)
    if (layout.groups()[g].label == label) return groups[g].lr;
  ADD_FAILURE() << "no group " << label;
  return 0;
}

}  // namespace

TEST(ModelShape, DepthDialRoundsWidthUpToHeadDim) {
  const auto d4 = spec_config(4);
  EXPECT_EQ(d4.n_embd, 256);
  EXPECT_EQ(d4.n_head, 2);
  EXPECT_EQ(d4.n_kv_head, 2);
  const auto d26 = spec_config(26);
  EXPECT_EQ(d26.n_embd, 1664);
  EXPECT_EQ(d26.n_head, 13);
  // runcpu.sh: depth 6, head_dim 64 -> C 384, 6 heads; 5*64 = 320 rounds up to 384 at head_dim 128.
  EXPECT_EQ(model_config_for_depth(6, ShapeArgs{64, 64, 512, "L", 32768}).n_head, 6);
  EXPECT_EQ(model_config_for_depth(5, ShapeArgs{}).n_embd, 384);
  EXPECT_THROW(model_config_for_depth(0, ShapeArgs{}), UsageError);
  EXPECT_THROW(model_config_for_depth(4, ShapeArgs{64, 128, 2048, "SXL", 32768}), UsageError);
}

TEST(ModelStats, ParameterCountsMatchTheSpecTable) {
  struct Row { int64_t depth, wte, ve, lm_head, matrices, scalars, total; };
  const Row rows[] = {
      {4, 8'388'608, 16'777'216, 8'388'608, 3'145'776, 34, 36'700'242},
      {12, 25'165'824, 150'994'944, 25'165'824, 84'935'088, 50, 286'261'730},
      {20, 41'943'040, 419'430'400, 41'943'040, 393'217'200, 66, 896'533'746},
      {26, 54'525'952, 708'837'376, 54'525'952, 863'897'580, 78, 1'681'786'938},
  };
  for (const auto& r : rows) {
    const ParamCounts c = count_parameters(spec_config(r.depth));
    EXPECT_EQ(c.wte, r.wte) << "d" << r.depth;
    EXPECT_EQ(c.value_embeds, r.ve) << "d" << r.depth;
    EXPECT_EQ(c.lm_head, r.lm_head) << "d" << r.depth;
    EXPECT_EQ(c.transformer_matrices, r.matrices) << "d" << r.depth;
    EXPECT_EQ(c.scalars, r.scalars) << "d" << r.depth;
    EXPECT_EQ(c.total, r.total) << "d" << r.depth;
  }
  EXPECT_EQ(num_matmul_params(spec_config(24)), 729'810'648);
}

TEST(ModelStats, FlopsPerTokenMatchTheSpecTable) {
  EXPECT_EQ(flops_per_token(spec_config(12)), 759'696'048);
  EXPECT_EQ(flops_per_token(spec_config(20)), 2'886'212'784);
  EXPECT_EQ(flops_per_token(spec_config(24)), 4'775'225'616);
  EXPECT_EQ(flops_per_token(spec_config(26)), 5'991'051'288);
  // d4 by hand: 6 * (3,145,776 + 8,388,608 + 24) + 12*256*(3*512 + 2048).
  EXPECT_EQ(flops_per_token(spec_config(4)), 6 * 11'534'408 + 12 * 256 * (3 * 512 + 2048));
}

TEST(TrainingPlan, D12IsTheReference) {
  const TrainingPlan p = plan_training(spec_args(12, 12, 32, 8));
  EXPECT_EQ(p.scaling_params, 110'100'912);
  EXPECT_EQ(p.reference_scaling_params, 110'100'912);
  EXPECT_EQ(p.target_tokens, 1'321'210'944);
  EXPECT_TRUE(p.auto_batch_size);
  EXPECT_EQ(p.total_batch_size, 524'288);
  EXPECT_EQ(p.grad_accum_steps, 1);
  EXPECT_EQ(p.num_iterations(), 2520);
  EXPECT_EQ(p.horizon.source, HorizonSource::ParamDataRatio);
  EXPECT_EQ(p.batch_lr_scale, 1.0);
  EXPECT_DOUBLE_EQ(p.weight_decay_scaled, 0.28);
  EXPECT_DOUBLE_EQ(p.optimizer.matrix_lr, 0.02);
  EXPECT_NEAR(group_lr(p, "unembedding"), 0.008, 1e-12);
  EXPECT_NEAR(group_lr(p, "embedding"), 0.3, 1e-12);
  EXPECT_NEAR(group_lr(p, "value_embeds"), 0.15, 1e-12);
  EXPECT_NEAR(group_lr(p, "resid"), 0.005, 1e-12);
  EXPECT_NEAR(group_lr(p, "x0"), 0.5, 1e-12);
  EXPECT_NEAR(group_lr(p, "smear"), 0.2, 1e-12);
}

TEST(TrainingPlan, D20DoublesTheBatchAndScalesLrAndWd) {
  const TrainingPlan p = plan_training(spec_args(20, 12, 32, 8));
  EXPECT_EQ(p.scaling_params, 435'160'240);
  EXPECT_EQ(p.target_tokens, 5'221'922'880);
  EXPECT_EQ(p.total_batch_size, 1'048'576);
  EXPECT_EQ(p.grad_accum_steps, 2);
  EXPECT_EQ(p.num_iterations(), 4980);
  EXPECT_NEAR(p.batch_lr_scale, 1.41421, 1e-5);
  EXPECT_NEAR(p.weight_decay_scaled, 0.100188, 1e-6);
  EXPECT_NEAR(p.optimizer.matrix_lr, 0.028284, 1e-6);
  EXPECT_NEAR(group_lr(p, "unembedding"), 0.008764, 1e-6);
  EXPECT_NEAR(group_lr(p, "embedding"), 0.328634, 1e-6);
  EXPECT_NEAR(group_lr(p, "value_embeds"), 0.164317, 1e-6);
  EXPECT_NEAR(group_lr(p, "resid"), 0.007071, 1e-6);
  EXPECT_NEAR(group_lr(p, "x0"), 0.70711, 1e-5);
  EXPECT_NEAR(group_lr(p, "smear"), 0.2, 1e-12);  // the smear group is not batch-scaled
}

TEST(TrainingPlan, D26SpeedrunRatio) {
  const TrainingPlan p = plan_training(spec_args(26, 8.25, 16, 8));
  EXPECT_EQ(p.scaling_params, 918'423'532);
  EXPECT_EQ(p.target_tokens, 7'576'994'139);
  EXPECT_EQ(p.total_batch_size, 1'048'576);
  EXPECT_EQ(p.grad_accum_steps, 4);
  EXPECT_EQ(p.num_iterations(), 7225);
  EXPECT_NEAR(p.weight_decay_scaled, 0.04747, 1e-5);
  EXPECT_NEAR(group_lr(p, "unembedding"), 0.007686, 1e-6);
  EXPECT_NEAR(group_lr(p, "embedding"), 0.288231, 1e-6);
}

TEST(TrainingPlan, D4ByHand) {
  // N = 3,145,776 + 8,388,608; D = int(12 N); D/D_REF = N/N_ref = 0.10476; B = 2^round(log2(2^19 *
  // 0.10476^0.383)) = 2^round(17.75) = 2^18; iters = D // B; lr scale sqrt(1/2); wd = 0.28 sqrt(1/2) D_REF/D.
  const TrainingPlan p = plan_training(spec_args(4, 12, 16, 1));
  EXPECT_EQ(p.scaling_params, 11'534'384);
  EXPECT_EQ(p.target_tokens, 138'412'608);
  EXPECT_EQ(p.total_batch_size, 262'144);
  EXPECT_EQ(p.grad_accum_steps, 8);
  EXPECT_EQ(p.num_iterations(), 528);
  EXPECT_DOUBLE_EQ(p.batch_lr_scale, std::sqrt(0.5));
  EXPECT_NEAR(p.weight_decay_scaled, 0.28 * std::sqrt(0.5) * (12.0 * 110'100'912 / 138'412'608), 1e-12);
  EXPECT_NEAR(p.optimizer.embedding_lr, 0.3 * std::sqrt(0.5), 1e-15);
  // The default 32 rows x 2048 x 8 ranks is a bigger micro-batch than the whole auto batch.
  try {
    plan_training(spec_args(4, 12, 32, 8));
    FAIL() << "expected the grad-accumulation assertion";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("total_batch_size (262144) must be a multiple of 524288"), std::string::npos)
        << e.what();
  }
}

TEST(TrainingPlan, AutoBatchSizeSteps) {
  // The spec's summary: d8 -> 2^18, d10..16 -> 2^19, d18..26 -> 2^20, d32 -> 2^21.
  for (int64_t d : {8}) EXPECT_EQ(plan_training(spec_args(d, 12, 1, 1)).total_batch_size, 1 << 18) << d;
  for (int64_t d : {10, 12, 14, 16}) EXPECT_EQ(plan_training(spec_args(d, 12, 1, 1)).total_batch_size, 1 << 19) << d;
  for (int64_t d : {18, 20, 24, 26}) EXPECT_EQ(plan_training(spec_args(d, 12, 1, 1)).total_batch_size, 1 << 20) << d;
  EXPECT_EQ(plan_training(spec_args(32, 12, 1, 1)).total_batch_size, 1 << 21);
  // r cancels: a disabled ratio (-1) gives the same batch size when another horizon is set.
  auto a = spec_args(20, -1, 32, 8);
  a.num_iterations = 10;
  EXPECT_EQ(plan_training(a).total_batch_size, 1 << 20);
  EXPECT_NEAR(plan_training(a).weight_decay_scaled, 0.100188, 1e-6);
}

TEST(TrainingPlan, HorizonPrecedence) {
  auto a = spec_args(12, 12, 32, 1);
  a.total_batch_size = 65536;
  a.num_iterations = 77;
  a.target_flops = 1e18;
  EXPECT_EQ(plan_training(a).num_iterations(), 77);
  EXPECT_EQ(plan_training(a).horizon.source, HorizonSource::NumIterations);
  a.num_iterations = -1;
  // round(1e18 / (759,696,048 * 65536)) = round(20085.39) = 20085
  EXPECT_EQ(plan_training(a).num_iterations(), 20085);
  EXPECT_EQ(plan_training(a).horizon.source, HorizonSource::TargetFlops);
  EXPECT_EQ(plan_training(a).batch_lr_scale, std::sqrt(65536.0 / 524288.0));
  a.target_flops = -1;
  a.target_param_data_ratio = -1;
  EXPECT_THROW(plan_training(a), UsageError);
  a.target_param_data_ratio = 0;
  EXPECT_THROW(plan_training(a), UsageError);
  EXPECT_EQ(training_horizon(-1, -1, 12, 1, 1000, 12345).num_iterations, 12);
  EXPECT_THROW(training_horizon(-1, -1, 12, 1, 100000, 12345), UsageError);  // 0 steps
}

TEST(TrainingPlan, GradAccumSteps) {
  EXPECT_EQ(grad_accum_steps(524288, 32, 2048, 8), 1);
  EXPECT_EQ(grad_accum_steps(16384, 32, 512, 1), 1);
  EXPECT_EQ(grad_accum_steps(65536, 4, 512, 1), 32);
  EXPECT_THROW(grad_accum_steps(1000, 4, 512, 1), UsageError);
  EXPECT_THROW(grad_accum_steps(65536, 0, 512, 1), UsageError);
}

TEST(PeakFlops, TableAndCpu) {
  EXPECT_EQ(peak_bf16_flops("NVIDIA H100 80GB HBM3"), 989e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA H100 NVL"), 835e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA H100 PCIe"), 756e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA H200"), 989e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA A100-SXM4-80GB"), 312e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA L40S"), 362e12);
  EXPECT_EQ(peak_bf16_flops("NVIDIA L40"), 121e12);  // upstream quirk: "l4" matches an L40
  EXPECT_EQ(peak_bf16_flops("NVIDIA GeForce RTX 4090"), 165.2e12);
  EXPECT_TRUE(std::isinf(peak_bf16_flops("cpu")));
  EXPECT_EQ(mfu_percent(1000, 1000, 1.0, std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_DOUBLE_EQ(mfu_percent(1'000'000, 1'000'000, 1.0, 1e13, 2), 5.0);
}

TEST(TrainLog, EmaDebiasAndClock) {
  LossEma ema;
  EXPECT_DOUBLE_EQ(ema.update(5.0, 0), 5.0);  // debiased: the first value is the raw loss
  EXPECT_NEAR(ema.update(3.0, 1), (0.9 * 0.5 + 0.1 * 3.0) / (1 - 0.81), 1e-12);
  EXPECT_NEAR(ema.smooth(), 0.9 * 0.5 + 0.3, 1e-12);
  TrainingClock clock;
  for (int64_t s = 0; s <= 12; ++s) clock.add(s, 2.0);
  EXPECT_DOUBLE_EQ(clock.total_seconds(), 4.0);  // steps 11 and 12 only
  EXPECT_FALSE(clock.eta_seconds(10, 100).has_value());
  EXPECT_DOUBLE_EQ(*clock.eta_seconds(12, 100), 88 * 2.0);
  EXPECT_EQ(with_commas(1234567), "1,234,567");
  EXPECT_EQ(with_commas(999), "999");
  StepLogFields f;
  f.step = 12;
  f.num_iterations = 500;
  f.loss = 7.1234564;
  f.lrm = 1.0 / 3;
  f.dt_seconds = 0.81234;
  f.tokens_per_step = 16384;
  f.loader = {0, 3, 1};
  f.total_training_seconds = 1.2;
  f.eta_seconds = 396.0;
  EXPECT_EQ(format_step_line(f),
            "step 00012/00500 (2.40%) | loss: 7.123456 | lrm: 0.33 | dt: 812.34ms | tok/sec: 20,168 | bf16_mfu: 0.00 "
            "| epoch: 1 pq: 0 rg: 3 | total time: 0.02m | eta: 6.6m");
}
