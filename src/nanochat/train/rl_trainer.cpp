#include "nanochat/train/rl_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/engine/python_float.h"
#include "nanochat/eval/tasks/gsm8k.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/optim/training_checkpoint.h"
#include "nanochat/tokenizer/chat_format.h"
#include "nanochat/train/chat_mixture.h"
#include "nanochat/train/rl_loss.h"
#include "nanochat/train/train_log.h"

namespace nanochat::train {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

double rl_lr_multiplier(int64_t step, int64_t num_steps) {
  return 1.0 - static_cast<double>(step) / static_cast<double>(num_steps);
}

ojson user_config_json(const ChatRlOptions& o) {
  ojson j;
  j["run"] = o.run;
  j["device_type"] = o.device_type;
  j["model_tag"] = o.model_tag ? ojson(*o.model_tag) : ojson(nullptr);
  j["model_step"] = o.model_step ? ojson(*o.model_step) : ojson(nullptr);
  j["num_epochs"] = o.num_epochs;
  j["device_batch_size"] = o.device_batch_size;
  j["examples_per_step"] = o.examples_per_step;
  j["num_samples"] = o.num_samples;
  j["max_new_tokens"] = o.max_new_tokens;
  j["temperature"] = o.temperature;
  j["top_k"] = o.top_k;
  j["embedding_lr"] = o.embedding_lr;
  j["unembedding_lr"] = o.unembedding_lr;
  j["matrix_lr"] = o.matrix_lr;
  j["weight_decay"] = o.weight_decay;
  j["init_lr_frac"] = o.init_lr_frac;
  j["eval_every"] = o.eval_every;
  j["eval_examples"] = o.eval_examples;
  j["save_every"] = o.save_every;
  j["resume_from_step"] = o.resume_from_step;
  j["max_steps"] = o.max_steps;
  j["data_root"] = o.data_root;
  j["tokenizer_dir"] = o.tokenizer_dir;
  j["source_root"] = o.source_root;
  j["checkpoint_root"] = o.checkpoint_root;
  return j;
}

namespace {

std::string decode_completion(const Tokenizer& tok, const std::vector<TokenId>& seq, int64_t prompt_len) {
  return tok.decode(std::span<const TokenId>(seq).subspan(static_cast<size_t>(prompt_len)));
}

}  // namespace

RolloutGroup collect_rollouts(PolicySampler& sampler, const Tokenizer& tok, const eval::tasks::Task& task,
                              int64_t example_idx, int64_t step, const ChatRlOptions& o) {
  const nlohmann::json conversation = task.at(example_idx);
  const std::vector<TokenId> prompt = render_for_completion(tok, conversation);
  RolloutGroup g;
  g.example_idx = example_idx;
  g.prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t sampling_steps = o.num_samples / o.device_batch_size;
  for (int64_t s = 0; s < sampling_steps; ++s) {
    engine::GenerateOptions go;
    go.num_samples = o.device_batch_size;
    go.max_tokens = o.max_new_tokens;
    go.temperature = o.temperature;
    go.top_k = o.top_k;
    go.seed = rollout_seed(step, example_idx, s);
    engine::Engine::Batch b = sampler.generate_batch(prompt, go);
    NC_CHECK(static_cast<int64_t>(b.tokens.size()) == o.device_batch_size && b.masks.size() == b.tokens.size(),
             "the policy sampler returned {} sequences and {} masks for {} samples", b.tokens.size(), b.masks.size(),
             o.device_batch_size);
    for (size_t r = 0; r < b.tokens.size(); ++r) {
      g.sequences.push_back(std::move(b.tokens[r]));
      g.masks.push_back(std::move(b.masks[r]));
    }
  }
  for (const auto& seq : g.sequences)
    g.rewards.push_back(task.evaluate(conversation, decode_completion(tok, seq, g.prompt_len)) ? 1.0 : 0.0);
  g.advantages = group_advantages(g.rewards);
  return g;
}

RlEvalRecord evaluate_pass_at_k(PolicySampler& sampler, const Tokenizer& tok, const eval::tasks::Task& task,
                                int64_t max_examples, int64_t num_samples) {
  const int64_t n = std::min(max_examples, task.size());
  std::vector<std::vector<bool>> outcomes;
  for (int64_t idx = 0; idx < n; ++idx) {
    const nlohmann::json conversation = task.at(idx);
    const std::vector<TokenId> prompt = render_for_completion(tok, conversation);
    engine::GenerateOptions go;
    go.num_samples = num_samples;
    go.max_tokens = 256;  // the original's run_gsm8k_eval defaults, not the rollout flags
    go.temperature = 1.0;
    go.top_k = 50;
    go.seed = 42;
    const engine::Engine::Batch b = sampler.generate_batch(prompt, go);
    std::vector<bool> record;
    for (const auto& seq : b.tokens)
      record.push_back(task.evaluate(conversation, decode_completion(tok, seq, static_cast<int64_t>(prompt.size()))));
    outcomes.push_back(std::move(record));
  }
  RlEvalRecord r;
  r.records = static_cast<int64_t>(outcomes.size());
  r.pass_at_k = pass_at_k(outcomes, num_samples);
  return r;
}

namespace {

std::string resolve_device(const std::string& device_type, const std::string& run) {
  const std::string device = resolve_training_device(device_type);
  if (run != "dummy") log_warn("--run {}: wandb logging is not part of nanochat.cpp; the run name is only recorded", run);
  return device;
}

void check_options(const ChatRlOptions& o) {
  if (o.device_batch_size < 1) usage_fail("--device-batch-size must be at least 1, got {}", o.device_batch_size);
  if (o.examples_per_step < 1) usage_fail("--examples-per-step must be at least 1, got {}", o.examples_per_step);
  if (o.num_epochs < 1) usage_fail("--num-epochs must be at least 1, got {}", o.num_epochs);
  if (o.num_samples < o.device_batch_size)
    usage_fail("--num-samples {} is less than --device-batch-size {}: a rollout group would be empty", o.num_samples,
               o.device_batch_size);
  if (o.num_samples % o.device_batch_size != 0)
    log_warn("--num-samples {} is not a multiple of --device-batch-size {}: each example gets {} samples, as the "
             "original's num_samples // device_batch_size sampling steps",
             o.num_samples, o.device_batch_size, o.num_samples / o.device_batch_size * o.device_batch_size);
  if (o.max_new_tokens < 1) usage_fail("--max-new-tokens must be at least 1, got {}", o.max_new_tokens);
  if (o.temperature < 0) usage_fail("--temperature must be >= 0, got {}", o.temperature);
  if (o.eval_every > 0 && o.eval_examples < 1)
    usage_fail("--eval-examples must be at least 1 when --eval-every is on, got {}", o.eval_examples);
}

fs::path rl_state_file(const fs::path& dir, int64_t step) { return dir / fmt::format("rl_state_{:06d}.json", step); }

// What must agree between a run and the one it resumes (the schedule and the data order depend on it).
nlohmann::json run_identity(const ChatRlOptions& o, int64_t num_steps, int64_t train_size) {
  return {{"num_steps", num_steps},
          {"train_examples", train_size},
          {"examples_per_step", o.examples_per_step},
          {"num_samples", o.num_samples},
          {"device_batch_size", o.device_batch_size}};
}

std::string format_pass_at_k(const std::vector<double>& p) {
  std::string out;
  for (size_t k = 0; k < p.size(); ++k) out += fmt::format("{}Pass@{}: {:.4f}", k ? ", " : "", k + 1, p[k]);
  return out;
}

}  // namespace

ChatRlResult run_chat_rl(const ChatRlOptions& o) {
  check_options(o);
  const std::string device = resolve_device(o.device_type, o.run);

  const fs::path tok_dir = o.tokenizer_dir.empty() ? tokenizer_dir() : fs::path(o.tokenizer_dir);
  NC_CHECK(fs::exists(tok_dir / "tokenizer.json"), "no tokenizer in {} (pass --tokenizer-dir)", tok_dir.string());
  const Tokenizer tok = Tokenizer::load(tok_dir);
  const fs::path sft_root = o.source_root.empty() ? model::checkpoints_dir("sft") : fs::path(o.source_root);
  const model::CheckpointSource src =
      model::locate_checkpoint(sft_root, o.model_tag, o.model_step, "fine-tune a model first: nanochat chat-sft");
  NC_CHECK(static_cast<int64_t>(tok.vocab_size()) == src.meta.model_config.vocab_size,
           "Tokenizer vocab size {} does not match model config vocab size {} ({})", tok.vocab_size(),
           src.meta.model_config.vocab_size, src.dir.string());

  eval::tasks::TaskPtr train_task = o.train_task, val_task = o.val_task;
  if (!train_task || !val_task) {
    NC_CHECK(!train_task && !val_task, "give both train and val tasks, or neither");
    ChatDataPaths paths;
    paths.data_root = o.data_root;
    const fs::path gsm8k = ChatDataPaths::with_defaults(paths).data_root / "gsm8k";
    train_task = std::make_shared<eval::tasks::GSM8K>(gsm8k, "train");
    val_task = std::make_shared<eval::tasks::GSM8K>(gsm8k, "test");
  }
  const int64_t train_size = train_task->size();
  const int64_t num_steps = (train_size / o.examples_per_step) * o.num_epochs;
  NC_CHECK(num_steps > 0, "{} train examples make no step of --examples-per-step {}", train_size, o.examples_per_step);
  log_info("Calculated number of steps: {}", num_steps);
  const int64_t examples_per_rank = o.examples_per_step;  // one rank
  const int64_t num_passes = o.num_samples / o.device_batch_size;
  const int64_t end_step = o.max_steps > 0 ? std::min(num_steps, o.max_steps) : num_steps;

  // The backend trains on fixed (B, T) batches; the original pads each group to its longest rollout.
  // Padding further changes nothing (causal attention, targets -1), so T covers the longest possible one.
  int64_t longest_prompt = 0;
  for (int64_t i = 0; i < train_size; ++i)
    longest_prompt = std::max<int64_t>(longest_prompt, static_cast<int64_t>(render_for_completion(tok, train_task->at(i)).size()));
  const int64_t T = longest_prompt + o.max_new_tokens - 1;
  log_info("Training batches: {} rollouts x {} positions (longest prompt {} + {} new tokens - 1)", o.device_batch_size, T,
           longest_prompt, o.max_new_tokens);

  optim::OptimizerSetup setup;
  setup.unembedding_lr = o.unembedding_lr;
  setup.embedding_lr = o.embedding_lr;
  setup.matrix_lr = o.matrix_lr;
  setup.weight_decay = o.weight_decay;
  const model::GPTConfig& config = src.meta.model_config;
  std::unique_ptr<TrainingBackend> backend = make_backend(device, config, o.device_batch_size, T, setup);
  model::GPT<float>& model = backend->host_model();
  optim::MuonAdamW& optimizer = backend->host_optimizer();
  model::load_weights(model::model_file(src.dir, src.step), model);
  log_info("Loaded {} step {} ({} parameters)", src.dir.string(), src.step,
           with_commas(static_cast<int64_t>(model.layout().num_parameters())));
  for (auto& g : optimizer.groups()) {
    g.lr *= o.init_lr_frac;
    g.initial_lr = g.lr;
  }

  ChatRlResult result;
  result.num_steps = num_steps;
  result.train_width = T;
  const fs::path root = o.checkpoint_root.empty() ? model::checkpoints_dir("rl") : fs::path(o.checkpoint_root);
  result.checkpoint_dir = root / (o.model_tag ? *o.model_tag : "d" + std::to_string(config.n_layer));
  const nlohmann::json identity = run_identity(o, num_steps, train_size);

  int64_t step = 0;
  if (o.resume_from_step >= 0) {
    const int64_t S = o.resume_from_step;
    const fs::path& dir = result.checkpoint_dir;
    const fs::path state_path = rl_state_file(dir, S), optim_path = model::optim_file(dir, S, 0);
    for (const fs::path& f : {model::model_file(dir, S), state_path, optim_path})
      NC_CHECK(fs::exists(f), "cannot resume chat_rl from step {}: {} is missing (only checkpoints written by "
               "nanochat.cpp's chat-rl can be resumed)", S, f.string());
    const model::CheckpointMeta meta = model::load_meta(model::meta_file(dir, S));
    NC_CHECK(meta.model_config.to_json() == config.to_json(), "{}: model_config {} does not match the SFT model's {}",
             model::meta_file(dir, S).string(), meta.model_config.to_json(), config.to_json());
    nlohmann::json st;
    try {
      st = nlohmann::json::parse(read_file(state_path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: bad chat_rl state: {}", state_path.string(), e.what());
    }
    NC_CHECK(st.is_object() && st.value("stage", "") == "chat_rl" && st.contains("run"),
             "{}: not a chat_rl state file", state_path.string());
    NC_CHECK(st["run"] == identity, "cannot resume from {}: it was written by a run with {}, this run has {}",
             state_path.string(), st["run"].dump(), identity.dump());
    model::load_weights(model::model_file(dir, S), model);
    optimizer.load_state(optim_path);
    step = S + 1;
    log_info("Resuming chat_rl after step {} ({})", S, dir.string());
  }
  backend->sync_from_host();
  const std::unique_ptr<PolicySampler> sampler =
      o.make_sampler ? o.make_sampler(*backend, tok) : make_policy_sampler(*backend, tok);
  const TokenId assistant_end = tok.encode_special("<|assistant_end|>");

  for (; step < end_step; ++step) {
    if (o.on_step_begin) {
      backend->sync_to_host(/*with_optimizer_state=*/false);
      o.on_step_begin(step, model);
      backend->sync_params_from_host();  // the hook may edit the weights; the moments stay on the device
    }
    sampler->refresh();
    if (o.eval_every > 0 && step % o.eval_every == 0) {
      RlEvalRecord e = evaluate_pass_at_k(*sampler, tok, *val_task, o.eval_examples, o.device_batch_size);
      e.step = step;
      log_info("Step {} | {}", step, format_pass_at_k(e.pass_at_k));
      result.evals.push_back(std::move(e));
    }

    const auto t0 = std::chrono::steady_clock::now();
    RlStepRecord rec;
    rec.step = step;
    double reward_sum = 0, length_sum = 0;
    int64_t num_sequences = 0;
    for (int64_t example_step = 0; example_step < examples_per_rank; ++example_step) {
      // The original's generator cycles over the train indices, one group per next().
      const int64_t example_idx = (step * examples_per_rank + example_step) % train_size;
      const RolloutGroup group = collect_rollouts(*sampler, tok, *train_task, example_idx, step, o);
      for (int64_t pass = 0; pass < num_passes; ++pass) {
        const size_t row0 = static_cast<size_t>(pass * o.device_batch_size);
        const RolloutBatch batch = rollout_batch(group, row0, static_cast<size_t>(o.device_batch_size), T, assistant_end);
        const std::span<const double> adv(group.advantages.data() + row0, static_cast<size_t>(o.device_batch_size));
        const PassLoss pl =
            reinforce_backward(*backend, batch, adv, static_cast<double>(num_passes * examples_per_rank));
        if (!std::isfinite(pl.loss))
          fail("chat_rl: training diverged at step {}: the loss is {} (example {} of the step, pass {}); stopping "
               "(checkpoints in {} are untouched)",
               step, pl.loss, example_step, pass, result.checkpoint_dir.string());
        rec.loss += pl.loss;
        rec.forwards += pl.forwards;
        double pass_reward = 0;
        for (int64_t b = 0; b < o.device_batch_size; ++b) pass_reward += group.rewards[row0 + static_cast<size_t>(b)];
        log_info("Step {}/{} | Example step {} | Pass {} | loss: {:.6f} | Average reward: {}", step, num_steps,
                 example_step, pass, pl.loss,
                 engine::python_float_repr(pass_reward / static_cast<double>(o.device_batch_size)));
      }
      reward_sum += group.mean_reward();
      for (const auto& s : group.sequences) length_sum += static_cast<double>(s.size());
      num_sequences += static_cast<int64_t>(group.sequences.size());
    }
    rec.mean_reward = reward_sum / static_cast<double>(examples_per_rank);
    rec.mean_sequence_length = length_sum / static_cast<double>(num_sequences);
    log_info("Step {}/{} | Average reward: {} | Average sequence length: {:.2f}", step, num_steps,
             engine::python_float_repr(rec.mean_reward), rec.mean_sequence_length);

    rec.lrm = rl_lr_multiplier(step, num_steps);
    // No momentum or weight-decay schedule: the Muon groups keep what the setup gave them.
    double momentum = 0, muon_wd = 0;
    for (const auto& g : optimizer.groups())
      if (g.kind == model::OptimKind::Muon) {
        momentum = g.momentum;
        muon_wd = g.weight_decay;
      }
    backend->optimizer_step(rec.lrm, momentum, muon_wd);
    if (const auto bad = backend->first_non_finite_param())
      fail("chat_rl: training diverged at step {}: parameter {} holds {} after the optimizer step (loss {}); stopping "
           "(checkpoints in {} are untouched)",
           step, bad->first, bad->second, rec.loss, result.checkpoint_dir.string());
    rec.seconds = seconds_since(t0);
    result.steps.push_back(rec);

    const bool periodic = o.save_every > 0 && step > 0 && step % o.save_every == 0;
    if (periodic || step == num_steps - 1 || step == end_step - 1) {
      const fs::path& dir = result.checkpoint_dir;
      backend->sync_to_host();
      ensure_dir(dir);
      nlohmann::json st;
      st["stage"] = "chat_rl";
      st["step"] = step;
      st["next_example"] = ((step + 1) * examples_per_rank) % train_size;
      st["run"] = identity;
      write_file_atomic(rl_state_file(dir, step), st.dump(2));
      model::CheckpointMeta meta;
      meta.step = step;
      meta.model_config = config;
      meta.user_config = user_config_json(o);
      // Crash-safe order as the other stages: optimizer, meta, weights last (discovery keys on them).
      optim::save_optimizer_shard(dir, step, optimizer, 0);
      model::save_meta(model::meta_file(dir, step), meta);
      model::save_weights(model::model_file(dir, step), model);
      result.saved_steps.push_back(step);
      log_info("Saved chat_rl checkpoint step {} to {}", step, dir.string());
    }
  }
  result.final_step = step;
  return result;
}

}  // namespace nanochat::train
