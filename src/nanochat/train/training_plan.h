// base_train's setup math (spec model-and-training.md §8.2), as pure functions: the depth dial gives
// the model shape; the scaling-law horizon gives the token budget D; the Power-Lines rule gives the
// total batch size; from B and D follow the learning-rate and weight-decay scaling, the number of
// optimizer steps and the gradient-accumulation micro-steps. plan_training() runs them in the
// original's order; each step is also exposed for tests and for other trainers.
#pragma once
#include <cstdint>
#include <string>

#include "nanochat/model/config.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/model/model_stats.h"

namespace nanochat::train {

// The parameter and FLOP counts are properties of a model config (model/model_stats.h); the training
// plan is written in terms of them.
using model::count_parameters;
using model::flops_per_token;
using model::num_matmul_params;
using model::ParamCounts;
using model::scaling_params;

inline constexpr int64_t kReferenceDepth = 12;          // hyperparameters were tuned at d12
inline constexpr int64_t kReferenceBatchSize = 1 << 19;  // B_REF = 524,288 tokens, optimal at d12

// The shape flags of base_train (--aspect-ratio, --head-dim, --max-seq-len, --window-pattern).
struct ShapeArgs {
  int64_t aspect_ratio = 64;
  int64_t head_dim = 128;
  int64_t max_seq_len = 2048;
  std::string window_pattern = "SSSL";
  int64_t vocab_size = 32768;
};

// model_dim = depth*aspect_ratio rounded up to a multiple of head_dim; n_head = model_dim/head_dim.
// Throws UsageError naming the flag for non-positive dials or a bad window pattern.
model::GPTConfig model_config_for_depth(int64_t depth, const ShapeArgs& shape);

// B = 2^round(log2(B_REF * (D / D_REF)^0.383)) with Python's round (Power Lines, B_opt ∝ D^0.383).
int64_t auto_total_batch_size(int64_t target_tokens, double reference_target_tokens);

// sqrt(B / B_REF), exactly 1 at B_REF.
double batch_lr_scale(int64_t total_batch_size);

// T_epoch-constant weight decay: weight_decay * sqrt(B / B_REF) * (D_REF / D).
double scaled_weight_decay(double weight_decay, int64_t total_batch_size, int64_t target_tokens,
                           double reference_target_tokens);

enum class HorizonSource { NumIterations, TargetFlops, ParamDataRatio };
const char* horizon_source_name(HorizonSource s);

struct Horizon {
  int64_t num_iterations = 0;
  HorizonSource source = HorizonSource::NumIterations;
};

// In precedence order: --num-iterations if > 0; round(target_flops / (flops_per_token * B)) if
// --target-flops > 0; target_tokens // B if --target-param-data-ratio > 0. Throws UsageError when
// none is positive ("No training horizon specified") or the result is not a positive step count.
Horizon training_horizon(int64_t num_iterations, double target_flops, double target_param_data_ratio,
                         int64_t flops_per_token, int64_t total_batch_size, int64_t target_tokens);

// total_batch_size / (device_batch_size * max_seq_len * world_size); the division must be exact.
int64_t grad_accum_steps(int64_t total_batch_size, int64_t device_batch_size, int64_t max_seq_len, int64_t world_size);

// Every input of the plan: base_train's flags plus the vocab size and the world size.
struct TrainingPlanArgs {
  int64_t depth = 20;
  ShapeArgs shape;
  int64_t num_iterations = -1;
  double target_flops = -1;
  double target_param_data_ratio = 12;
  int64_t device_batch_size = 32;
  int64_t total_batch_size = -1;  // -1: auto
  double embedding_lr = 0.3;
  double unembedding_lr = 0.008;
  double weight_decay = 0.28;
  double matrix_lr = 0.02;
  double scalar_lr = 0.5;
  int64_t world_size = 1;
};

struct TrainingPlan {
  model::GPTConfig config;
  ParamCounts param_counts;
  int64_t scaling_params = 0;            // N
  int64_t reference_scaling_params = 0;  // N_ref, of d12 with the same shape flags
  int64_t target_tokens = 0;             // D = int(r * N)
  double reference_target_tokens = 0;    // D_REF = r * N_ref
  int64_t flops_per_token = 0;
  int64_t total_batch_size = 0;          // B (auto or given)
  bool auto_batch_size = false;
  double batch_lr_scale = 1;
  double weight_decay_scaled = 0;
  Horizon horizon;
  int64_t grad_accum_steps = 0;          // A
  optim::OptimizerSetup optimizer;       // lrs times batch_lr_scale, weight_decay_scaled

  int64_t num_iterations() const { return horizon.num_iterations; }
  int64_t total_tokens() const { return total_batch_size * horizon.num_iterations; }
  double total_flops() const {
    return static_cast<double>(flops_per_token) * static_cast<double>(total_tokens());
  }
};

TrainingPlan plan_training(const TrainingPlanArgs& args);

}  // namespace nanochat::train
