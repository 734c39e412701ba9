#include "nanochat/train/training_plan.h"

#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/optim/schedules.h"

namespace nanochat::train {

model::GPTConfig model_config_for_depth(int64_t depth, const ShapeArgs& shape) {
  if (depth <= 0) usage_fail("argument --depth: must be positive, got {}", depth);
  if (shape.aspect_ratio <= 0) usage_fail("argument --aspect-ratio: must be positive, got {}", shape.aspect_ratio);
  if (shape.head_dim <= 0 || shape.head_dim % 2 != 0)
    usage_fail("argument --head-dim: must be positive and even (rotary embeddings), got {}", shape.head_dim);
  if (shape.max_seq_len <= 0) usage_fail("argument --max-seq-len: must be positive, got {}", shape.max_seq_len);
  if (shape.window_pattern.empty()) usage_fail("argument --window-pattern: must not be empty");
  for (char ch : shape.window_pattern)
    if (ch != 'S' && ch != 'L' && ch != 's' && ch != 'l')
      usage_fail("argument --window-pattern: may contain only S and L, got '{}'", shape.window_pattern);
  return model::GPTConfig::from_depth(depth, shape.vocab_size, shape.max_seq_len, shape.aspect_ratio, shape.head_dim,
                                      shape.window_pattern);
}

int64_t auto_total_batch_size(int64_t target_tokens, double reference_target_tokens) {
  const double ratio = static_cast<double>(target_tokens) / reference_target_tokens;
  NC_CHECK(std::isfinite(ratio) && ratio > 0, "auto batch size: the token ratio D/D_REF = {} / {} is not positive",
           target_tokens, reference_target_tokens);
  const double predicted = static_cast<double>(kReferenceBatchSize) * std::pow(ratio, 0.383);
  const int64_t exponent = optim::python_round(std::log2(predicted));
  NC_CHECK(exponent >= 0 && exponent < 62, "auto batch size: 2^{} tokens is out of range", exponent);
  return int64_t{1} << exponent;
}

double batch_lr_scale(int64_t total_batch_size) {
  const double ratio = static_cast<double>(total_batch_size) / static_cast<double>(kReferenceBatchSize);
  return ratio == 1.0 ? 1.0 : std::sqrt(ratio);
}

double scaled_weight_decay(double weight_decay, int64_t total_batch_size, int64_t target_tokens,
                           double reference_target_tokens) {
  NC_CHECK(target_tokens != 0, "weight decay scaling: the target token count is 0 (--target-param-data-ratio 0?)");
  return weight_decay * std::sqrt(static_cast<double>(total_batch_size) / static_cast<double>(kReferenceBatchSize)) *
         (reference_target_tokens / static_cast<double>(target_tokens));
}

const char* horizon_source_name(HorizonSource s) {
  switch (s) {
    case HorizonSource::NumIterations: return "user-provided number of iterations";
    case HorizonSource::TargetFlops: return "target FLOPs";
    case HorizonSource::ParamDataRatio: return "target data:param ratio";
  }
  return "?";
}

Horizon training_horizon(int64_t num_iterations, double target_flops, double target_param_data_ratio,
                         int64_t flops_per_token, int64_t total_batch_size, int64_t target_tokens) {
  Horizon h;
  if (num_iterations > 0) {
    h = {num_iterations, HorizonSource::NumIterations};
  } else if (target_flops > 0) {
    const double steps = target_flops / (static_cast<double>(flops_per_token) * static_cast<double>(total_batch_size));
    h = {optim::python_round(steps), HorizonSource::TargetFlops};
  } else if (target_param_data_ratio > 0) {
    h = {target_tokens / total_batch_size, HorizonSource::ParamDataRatio};
  } else {
    usage_fail(
        "No training horizon specified: one of --num-iterations, --target-flops or --target-param-data-ratio must be "
        "positive");
  }
  // The original would run a zero-step loop (and divide by zero in its schedules); say why instead.
  if (h.num_iterations <= 0)
    usage_fail("the training horizon from the {} is {} steps (total batch size {} tokens): raise it or pass "
               "--num-iterations",
               horizon_source_name(h.source), h.num_iterations, total_batch_size);
  return h;
}

int64_t grad_accum_steps(int64_t total_batch_size, int64_t device_batch_size, int64_t max_seq_len, int64_t world_size) {
  if (device_batch_size <= 0) usage_fail("argument --device-batch-size: must be positive, got {}", device_batch_size);
  const int64_t world_tokens_per_fwdbwd = device_batch_size * max_seq_len * world_size;
  if (total_batch_size <= 0 || total_batch_size % world_tokens_per_fwdbwd != 0)
    usage_fail("total_batch_size ({}) must be a multiple of {} (device_batch_size {} x max_seq_len {} x world size {})",
               total_batch_size, world_tokens_per_fwdbwd, device_batch_size, max_seq_len, world_size);
  return total_batch_size / world_tokens_per_fwdbwd;
}

TrainingPlan plan_training(const TrainingPlanArgs& a) {
  if (a.total_batch_size != -1 && a.total_batch_size <= 0)
    usage_fail("argument --total-batch-size: must be positive or -1 (auto), got {}", a.total_batch_size);
  if (a.target_param_data_ratio == 0)
    usage_fail("argument --target-param-data-ratio: must not be 0 (the weight-decay scaling divides by it; -1 disables)");
  TrainingPlan p;
  p.config = model_config_for_depth(a.depth, a.shape);
  p.param_counts = count_parameters(p.config);
  p.flops_per_token = flops_per_token(p.config);
  p.scaling_params = p.param_counts.transformer_matrices + p.param_counts.lm_head;
  p.target_tokens = static_cast<int64_t>(a.target_param_data_ratio * static_cast<double>(p.scaling_params));
  p.reference_scaling_params = scaling_params(model_config_for_depth(kReferenceDepth, a.shape));
  p.reference_target_tokens = a.target_param_data_ratio * static_cast<double>(p.reference_scaling_params);

  p.auto_batch_size = a.total_batch_size == -1;
  p.total_batch_size =
      p.auto_batch_size ? auto_total_batch_size(p.target_tokens, p.reference_target_tokens) : a.total_batch_size;
  p.batch_lr_scale = batch_lr_scale(p.total_batch_size);
  p.weight_decay_scaled =
      scaled_weight_decay(a.weight_decay, p.total_batch_size, p.target_tokens, p.reference_target_tokens);

  p.optimizer.unembedding_lr = a.unembedding_lr * p.batch_lr_scale;
  p.optimizer.embedding_lr = a.embedding_lr * p.batch_lr_scale;
  p.optimizer.scalar_lr = a.scalar_lr * p.batch_lr_scale;
  p.optimizer.matrix_lr = a.matrix_lr * p.batch_lr_scale;
  p.optimizer.weight_decay = p.weight_decay_scaled;

  p.horizon = training_horizon(a.num_iterations, a.target_flops, a.target_param_data_ratio, p.flops_per_token,
                               p.total_batch_size, p.target_tokens);
  p.grad_accum_steps = grad_accum_steps(p.total_batch_size, a.device_batch_size, a.shape.max_seq_len, a.world_size);
  return p;
}

}  // namespace nanochat::train
