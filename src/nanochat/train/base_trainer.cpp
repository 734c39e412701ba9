#include "nanochat/train/base_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/data/dataset.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/optim/schedules.h"
#include "nanochat/optim/training_checkpoint.h"
#include "nanochat/tokenizer/tokenizer.h"
#include "nanochat/train/bpb.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/peak_flops.h"
#include "nanochat/train/sampling.h"
#include "nanochat/train/train_log.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

namespace fs = std::filesystem;

nlohmann::ordered_json user_config_json(const BaseTrainOptions& o) {
  nlohmann::ordered_json j;
  j["run"] = o.run;
  j["device_type"] = o.device_type;
  j["fp8"] = o.fp8;
  j["fp8_recipe"] = o.fp8_recipe;
  j["depth"] = o.depth;
  j["aspect_ratio"] = o.aspect_ratio;
  j["head_dim"] = o.head_dim;
  j["max_seq_len"] = o.max_seq_len;
  j["window_pattern"] = o.window_pattern;
  j["num_iterations"] = o.num_iterations;
  j["target_flops"] = o.target_flops;
  j["target_param_data_ratio"] = o.target_param_data_ratio;
  j["device_batch_size"] = o.device_batch_size;
  j["total_batch_size"] = o.total_batch_size;
  j["embedding_lr"] = o.embedding_lr;
  j["unembedding_lr"] = o.unembedding_lr;
  j["weight_decay"] = o.weight_decay;
  j["matrix_lr"] = o.matrix_lr;
  j["scalar_lr"] = o.scalar_lr;
  j["warmup_steps"] = o.warmup_steps;
  j["warmdown_ratio"] = o.warmdown_ratio;
  j["final_lr_frac"] = o.final_lr_frac;
  j["resume_from_step"] = o.resume_from_step;
  j["eval_every"] = o.eval_every;
  j["eval_tokens"] = o.eval_tokens;
  j["core_metric_every"] = o.core_metric_every;
  j["core_metric_max_per_task"] = o.core_metric_max_per_task;
  j["sample_every"] = o.sample_every;
  j["save_every"] = o.save_every;
  j["model_tag"] = o.model_tag ? nlohmann::ordered_json(*o.model_tag) : nlohmann::ordered_json(nullptr);
  j["data_dir"] = o.data_dir;
  j["tokenizer_dir"] = o.tokenizer_dir;
  j["checkpoint_root"] = o.checkpoint_root;
  j["loader_threads"] = o.loader_threads;
  return j;
}

namespace {

// The device the run uses: --device-type, or CUDA when this binary has it and a GPU is present.
std::string check_device(const BaseTrainOptions& o) {
  if (o.fp8_recipe != "tensorwise" && o.fp8_recipe != "rowwise")
    usage_fail("argument --fp8-recipe: invalid choice: '{}' (choose from 'rowwise', 'tensorwise')", o.fp8_recipe);
  const std::string device = resolve_training_device(o.device_type);
  if (o.fp8) fail("--fp8: FP8 training is not implemented in nanochat.cpp yet (device {})", device);
  return device;
}

std::vector<int32_t> load_token_bytes(const fs::path& dir, const Tokenizer& tok) {
  const fs::path npy = dir / "token_bytes.npy";
  std::vector<int32_t> bytes = fs::exists(npy) ? read_npy_int32(npy) : tok.token_byte_lengths();
  NC_CHECK(bytes.size() == tok.vocab_size(), "{}: {} entries, but the tokenizer has {} tokens", npy.string(),
           bytes.size(), tok.vocab_size());
  return bytes;
}

void check_positive(int64_t v, const char* flag) {
  if (v <= 0) usage_fail("argument {}: must be positive, got {}", flag, v);
}

}  // namespace

BaseTrainResult run_base_train(const BaseTrainOptions& o) {
  const std::string device = check_device(o);
  check_positive(o.device_batch_size, "--device-batch-size");
  check_positive(o.max_seq_len, "--max-seq-len");
  if (o.warmup_steps < 0) usage_fail("argument --warmup-steps: must be >= 0, got {}", o.warmup_steps);
  if (o.eval_every > 0) check_positive(o.eval_tokens, "--eval-tokens");
  if (o.core_metric_every > 0)
    log_warn("the CORE metric is not available in nanochat.cpp yet: --core-metric-every {} is ignored "
             "(pass --core-metric-every=-1 to silence this)",
             o.core_metric_every);
  const int64_t world_size = 1;

  // 1. Tokenizer and token_bytes.
  const fs::path tok_dir = o.tokenizer_dir.empty() ? tokenizer_dir() : fs::path(o.tokenizer_dir);
  if (!fs::exists(tok_dir / "tokenizer.json"))
    fail("no tokenizer in {} (train one with 'nanochat tok-train', or pass --tokenizer-dir)", tok_dir.string());
  const Tokenizer tokenizer = Tokenizer::load(tok_dir);
  const std::vector<int32_t> token_bytes = load_token_bytes(tok_dir, tokenizer);
  const auto vocab_size = static_cast<int64_t>(tokenizer.vocab_size());
  log_info("Vocab size: {}", with_commas(vocab_size));

  // 2-7. The plan (model shape, horizon, batch size, lr and wd scaling) and the model.
  TrainingPlanArgs pa;
  pa.depth = o.depth;
  pa.shape = {o.aspect_ratio, o.head_dim, o.max_seq_len, o.window_pattern, vocab_size};
  pa.num_iterations = o.num_iterations;
  pa.target_flops = o.target_flops;
  pa.target_param_data_ratio = o.target_param_data_ratio;
  pa.device_batch_size = o.device_batch_size;
  pa.total_batch_size = o.total_batch_size;
  pa.embedding_lr = o.embedding_lr;
  pa.unembedding_lr = o.unembedding_lr;
  pa.weight_decay = o.weight_decay;
  pa.matrix_lr = o.matrix_lr;
  pa.scalar_lr = o.scalar_lr;
  pa.world_size = world_size;
  BaseTrainResult result;
  result.plan = plan_training(pa);
  const TrainingPlan& plan = result.plan;
  const model::GPTConfig& config = plan.config;
  log_info("Model config:\n{}", nlohmann::ordered_json::parse(config.to_json()).dump(2));

  const int64_t B = o.device_batch_size, T = o.max_seq_len;
  std::unique_ptr<TrainingBackend> backend = make_backend(device, config, B, T, plan.optimizer);
  model::GPT<float>& model = backend->host_model();
  init_weights(model);

  const std::string tag = o.model_tag ? *o.model_tag : "d" + std::to_string(o.depth);
  const fs::path root = o.checkpoint_root.empty() ? model::checkpoints_dir("base") : fs::path(o.checkpoint_root);
  result.checkpoint_dir = root / tag;
  const bool resuming = o.resume_from_step != -1;

  const ParamCounts& pc = plan.param_counts;
  log_info("Parameter counts:");
  for (const auto& [key, value] : {std::pair{"wte", pc.wte}, {"value_embeds", pc.value_embeds}, {"lm_head", pc.lm_head},
                                   {"transformer_matrices", pc.transformer_matrices}, {"scalars", pc.scalars},
                                   {"total", pc.total}})
    log_info("{:<24}: {}", key, with_commas(value));
  log_info("Estimated FLOPs per token: {:e}", static_cast<double>(plan.flops_per_token));
  if (plan.auto_batch_size) log_info("Auto-computed optimal batch size: {} tokens", with_commas(plan.total_batch_size));
  if (plan.batch_lr_scale != 1.0)
    log_info("Scaling LRs by {:.4f} for batch size {} (reference: {})", plan.batch_lr_scale,
             with_commas(plan.total_batch_size), with_commas(kReferenceBatchSize));
  if (plan.weight_decay_scaled != o.weight_decay)
    log_info("Scaling weight decay from {:.6f} to {:.6f} for depth {}", o.weight_decay, plan.weight_decay_scaled, o.depth);

  // 8. The optimizer; on resume the weights and optimizer state (with its saved hyperparameters).
  optim::MuonAdamW& optimizer = backend->host_optimizer();
  std::optional<LoaderState> resume_state;
  std::optional<model::LoaderReplay> replay;
  int64_t step = 0;
  LossEma ema;
  TrainingClock clock;
  result.min_val_bpb = std::numeric_limits<double>::infinity();
  if (resuming) {
    if (o.resume_from_step < 0) usage_fail("argument --resume-from-step: must be a step >= 0 or -1, got {}", o.resume_from_step);
    log_info("Resuming optimization from step {}", o.resume_from_step);
    const model::CheckpointMeta meta =
        optim::load_training_checkpoint(result.checkpoint_dir, o.resume_from_step, model, &optimizer, 0);
    NC_CHECK(meta.training.has_value(), "{}: not a base_train checkpoint (no loop_state / dataloader_state_dict)",
             model::meta_file(result.checkpoint_dir, o.resume_from_step).string());
    const model::TrainingProgress& tp = *meta.training;
    if (tp.device_batch_size != o.device_batch_size || tp.max_seq_len != o.max_seq_len ||
        tp.total_batch_size != plan.total_batch_size)
      log_warn("resuming with batch {}x{} (total {}) but the checkpoint was trained with {}x{} (total {})",
               o.device_batch_size, o.max_seq_len, plan.total_batch_size, tp.device_batch_size, tp.max_seq_len,
               tp.total_batch_size);
    step = meta.step;
    result.val_bpb = meta.val_bpb;
    result.min_val_bpb = tp.loop.min_val_bpb;
    ema = LossEma(tp.loop.smooth_train_loss);
    clock = TrainingClock(tp.loop.total_training_time);
    resume_state = LoaderState{tp.dataloader.pq_idx, tp.dataloader.rg_idx, tp.dataloader.epoch};
    replay = tp.dataloader.replay;
  }
  backend->sync_from_host();

  // 9. Data: train = every shard but the last, val = the last.
  const fs::path data_dir = o.data_dir.empty() ? default_data_dir() : fs::path(o.data_dir);
  const auto shards = list_parquet_shards(data_dir);
  if (shards.size() < 2)
    fail("{} holds {} parquet shard(s); training needs at least 2 (the last one is the validation split). Run "
         "'nanochat dataset -n 8' or pass --data-dir",
         data_dir.string(), shards.size());
  const auto train_files = split_shards(shards, false), val_files = split_shards(shards, true);
  log_info("Data: {} train shard(s), validation shard {}", train_files.size(), val_files.front().filename().string());
  LoaderOptions loader_options;
  loader_options.tokenizer_threads = o.loader_threads;
  auto open_train_loader = [&](std::optional<LoaderState> from) {
    return std::make_unique<BosPackingLoader>(tokenizer, train_files, B, T, 0, 1, from, loader_options);
  };
  // The loader's start and how many batches it has given, saved with checkpoints so that a resume can
  // rebuild it exactly (model::LoaderReplay). Without a replay record (checkpoints of the original) the
  // original's approximate resume applies: the next round of row groups, an empty packing buffer.
  std::optional<LoaderState> loader_start = resume_state;
  int64_t batches_drawn = 0;
  std::unique_ptr<BosPackingLoader> train_loader;
  if (replay) {
    if (replay->start) loader_start = LoaderState{replay->start->pq_idx, replay->start->rg_idx, replay->start->epoch};
    else loader_start.reset();
    train_loader = open_train_loader(loader_start);
    log_info("Resuming the data loader exactly: re-drawing {} batch(es) from {}", replay->batches - 1,
             loader_start ? fmt::format("pq {} rg {} epoch {}", loader_start->pq_idx, loader_start->rg_idx, loader_start->epoch)
                          : std::string("the start of the data"));
    for (int64_t i = 0; i + 1 < replay->batches; ++i) train_loader->next();
    batches_drawn = replay->batches - 1;
  } else {
    train_loader = open_train_loader(resume_state);
  }
  PackedBatch batch = train_loader->next();
  ++batches_drawn;

  // 10. Horizon and schedules.
  const int64_t num_iterations = plan.num_iterations();
  log_info("{}: {}", plan.horizon.source == HorizonSource::NumIterations
                         ? "Using user-provided number of iterations"
                         : fmt::format("Calculated number of iterations from {}", horizon_source_name(plan.horizon.source)),
           with_commas(num_iterations));
  log_info("Total number of training tokens: {}", with_commas(plan.total_tokens()));
  log_info("Tokens : Scaling params ratio: {:.2f}",
           static_cast<double>(plan.total_tokens()) / static_cast<double>(plan.scaling_params));
  log_info("Total training FLOPs estimate: {:e}", plan.total_flops());
  optim::ScheduleConfig schedule;
  schedule.num_iterations = num_iterations;
  schedule.warmup_steps = o.warmup_steps;
  schedule.warmdown_ratio = o.warmdown_ratio;
  schedule.final_lr_frac = o.final_lr_frac;
  schedule.weight_decay = plan.weight_decay_scaled;
  schedule.validate();
  if (step > num_iterations)
    fail("cannot resume from step {}: the horizon is {} steps", step, num_iterations);

  const int64_t A = plan.grad_accum_steps;
  log_info("Tokens / micro-batch / rank: {} x {} = {}", B, T, with_commas(B * T));
  log_info("Tokens / micro-batch: {}", with_commas(B * T * world_size));
  log_info("Total batch size {} => gradient accumulation steps: {}", with_commas(plan.total_batch_size), A);
  // +inf on the CPU: MFU is not meaningful there.
  const double peak_flops = peak_bf16_flops(backend->device_name());
  std::vector<int64_t> idx, targets;
  const int64_t eval_steps = o.eval_tokens / (B * T * world_size);
  while (true) {
    const bool last_step = step == num_iterations;

    if (o.eval_every > 0 && (last_step || step % o.eval_every == 0)) {
      if (eval_steps == 0)
        log_warn("--eval-tokens {} is less than one batch ({} tokens): val bpb is undefined", o.eval_tokens, B * T);
      BosPackingLoader val_loader(tokenizer, val_files, B, T, 0, 1, std::nullopt, loader_options);
      const BpbResult r = evaluate_bpb(
          [&](const int64_t* i, const int64_t* t, std::vector<float>& losses) { backend->eval_row_losses(i, t, losses); },
          B, T, [&] { return val_loader.next(); }, eval_steps, token_bytes);
      log_info("Step {:05d} | Validation bpb: {:.6f}", step, r.bpb);
      result.val_bpb = r.bpb;
      result.min_val_bpb = std::min(result.min_val_bpb, r.bpb);
      result.evals.push_back({step, r.bpb});
    }
    if (o.sample_every > 0 && (last_step || (step > 0 && step % o.sample_every == 0))) {
      backend->sync_to_host(/*with_optimizer_state=*/false);
      result.last_samples = sample_prompts(model, tokenizer);
      for (const auto& s : result.last_samples) log_info("{}", s);
    }
    if (last_step || (step > 0 && step != o.resume_from_step && o.save_every > 0 && step % o.save_every == 0)) {
      model::CheckpointMeta meta;
      meta.step = step;
      meta.val_bpb = result.val_bpb;
      meta.model_config = config;
      meta.user_config = user_config_json(o);
      model::TrainingProgress tp;
      tp.device_batch_size = B;
      tp.max_seq_len = T;
      tp.total_batch_size = plan.total_batch_size;
      tp.dataloader = {batch.state.pq_idx, batch.state.rg_idx, batch.state.epoch, std::nullopt};
      model::LoaderReplay saved_replay;
      if (loader_start) saved_replay.start = model::LoaderPosition{loader_start->pq_idx, loader_start->rg_idx, loader_start->epoch};
      saved_replay.batches = batches_drawn;
      tp.dataloader.replay = saved_replay;
      tp.loop = {result.min_val_bpb, ema.smooth(), clock.total_seconds()};
      meta.training = tp;
      backend->sync_to_host();
      optim::save_training_checkpoint(result.checkpoint_dir, meta, model, &optimizer, 0);
    }
    if (last_step) break;

    if (step == o.reopen_loader_at_step) {
      loader_start = batch.state;
      train_loader = open_train_loader(batch.state);
      batch = train_loader->next();
      batches_drawn = 1;
    }
    if (o.on_step_begin) {
      backend->sync_to_host(/*with_optimizer_state=*/false);
      o.on_step_begin(step, model);
      backend->sync_params_from_host();  // the hook may edit the weights; the moments stay on the device
    }

    // One optimizer step: A micro-steps of forward + backward(1/A), prefetching the next batch.
    const auto t0 = std::chrono::steady_clock::now();
    double train_loss = 0;
    for (int64_t micro = 0; micro < A; ++micro) {
      widen_ids(batch.inputs, idx);
      widen_ids(batch.targets, targets);
      backend->forward_backward(idx.data(), targets.data(), 1.0f / static_cast<float>(A));
      batch = train_loader->next();  // the host packs the next batch while the device computes
      ++batches_drawn;
      train_loss = backend->last_loss();
      if (!std::isfinite(train_loss))
        fail("training diverged at step {}: the loss is {} (micro-step {} of {}); stopping (checkpoints in {} are "
             "untouched)",
             step, train_loss, micro, A, result.checkpoint_dir.string());
    }
    const double lrm = optim::lr_multiplier(schedule, step);
    backend->optimizer_step(lrm, optim::muon_momentum(schedule, step), optim::muon_weight_decay(schedule, step));
    if (const auto bad = backend->first_non_finite_param())
      fail("training diverged at step {}: parameter {} holds {} after the optimizer step (loss {}); stopping "
           "(checkpoints in {} are untouched)",
           step, bad->first, bad->second, train_loss, result.checkpoint_dir.string());
    const double dt = seconds_since(t0);

    const double smooth = ema.update(train_loss, step);
    clock.add(step, dt);
    StepLogFields f;
    f.step = step;
    f.num_iterations = num_iterations;
    f.loss = smooth;
    f.lrm = lrm;
    f.dt_seconds = dt;
    f.tokens_per_step = plan.total_batch_size;
    f.mfu = mfu_percent(plan.flops_per_token, plan.total_batch_size, dt, peak_flops, world_size);
    f.loader = batch.state;
    f.total_training_seconds = clock.total_seconds();
    f.eta_seconds = clock.eta_seconds(step, num_iterations);
    log_info("{}", format_step_line(f));
    result.steps.push_back({step, train_loss, smooth, lrm, dt, tokens_per_second(plan.total_batch_size, dt)});
    ++step;
  }
  result.total_training_time = clock.total_seconds();
  log_info("Total training time: {:.2f}m", clock.total_seconds() / 60);
  if (result.val_bpb) log_info("Minimum validation bpb: {:.6f}", result.min_val_bpb);
  return result;
}

}  // namespace nanochat::train
