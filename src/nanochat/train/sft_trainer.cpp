#include "nanochat/train/sft_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/model/model_stats.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/optim/training_checkpoint.h"
#include "nanochat/tokenizer/tokenizer.h"
#include "nanochat/train/bpb.h"
#include "nanochat/train/mid_token_stream.h"
#include "nanochat/train/peak_flops.h"
#include "nanochat/train/sft_packing_loader.h"
#include "nanochat/train/train_log.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

double sft_lr_multiplier(double progress, double warmup_ratio, double warmdown_ratio, double final_lr_frac) {
  if (progress < warmup_ratio) return (progress + 1e-8) / warmup_ratio;
  if (progress <= 1.0 - warmdown_ratio) return 1.0;
  const double decay = (progress - (1.0 - warmdown_ratio)) / warmdown_ratio;
  return (1 - decay) * 1.0 + decay * final_lr_frac;
}

double mid_lr_multiplier(double progress) { return progress < 0.8 ? 1.0 : 1 - (progress - 0.8) / 0.2; }

double chat_muon_momentum(int64_t step) {
  const double frac = std::min(static_cast<double>(step) / 300.0, 1.0);
  return (1 - frac) * 0.85 + frac * 0.95;
}

namespace {

template <class T>
ojson opt_json(const std::optional<T>& v) {
  return v ? ojson(*v) : ojson(nullptr);
}

void common_json(ojson& j, const ChatStageCommon& c) {
  j["resume_from_step"] = c.resume_from_step;
  j["save_every"] = c.save_every;
  j["skip_missing_tasks"] = c.skip_missing_tasks;
  j["data_root"] = c.data.data_root.string();
  j["identity_conversations"] = c.data.identity_conversations.string();
  j["word_list"] = c.data.word_list.string();
  j["tokenizer_dir"] = c.tokenizer_dir;
  j["source_root"] = c.source_root;
  j["checkpoint_root"] = c.checkpoint_root;
}

}  // namespace

ojson user_config_json(const ChatSftOptions& o) {
  ojson j;
  j["run"] = o.run;
  j["device_type"] = o.device_type;
  j["model_tag"] = opt_json(o.model_tag);
  j["model_step"] = opt_json(o.model_step);
  j["load_optimizer"] = o.load_optimizer;
  j["num_iterations"] = o.num_iterations;
  j["max_seq_len"] = opt_json(o.max_seq_len);
  j["device_batch_size"] = opt_json(o.device_batch_size);
  j["total_batch_size"] = opt_json(o.total_batch_size);
  j["embedding_lr"] = opt_json(o.embedding_lr);
  j["unembedding_lr"] = opt_json(o.unembedding_lr);
  j["matrix_lr"] = opt_json(o.matrix_lr);
  j["init_lr_frac"] = o.init_lr_frac;
  j["warmup_ratio"] = o.warmup_ratio;
  j["warmdown_ratio"] = o.warmdown_ratio;
  j["final_lr_frac"] = o.final_lr_frac;
  j["eval_every"] = o.eval_every;
  j["eval_tokens"] = o.eval_tokens;
  j["chatcore_every"] = o.chatcore_every;
  j["chatcore_max_cat"] = o.chatcore_max_cat;
  j["chatcore_max_sample"] = o.chatcore_max_sample;
  j["mmlu_epochs"] = o.mmlu_epochs;
  j["gsm8k_epochs"] = o.gsm8k_epochs;
  common_json(j, o.common);
  return j;
}

ojson user_config_json(const MidTrainOptions& o) {
  ojson j;
  j["run"] = o.run;
  j["device_type"] = o.device_type;
  j["model_tag"] = opt_json(o.model_tag);
  j["step"] = opt_json(o.model_step);
  j["max_seq_len"] = o.max_seq_len;
  j["device_batch_size"] = o.device_batch_size;
  j["unembedding_lr"] = o.unembedding_lr;
  j["embedding_lr"] = o.embedding_lr;
  j["matrix_lr"] = o.matrix_lr;
  j["init_lr_frac"] = o.init_lr_frac;
  j["weight_decay"] = o.weight_decay;
  j["eval_every"] = o.eval_every;
  j["eval_tokens"] = o.eval_tokens;
  j["total_batch_size"] = o.total_batch_size;
  j["num_iterations"] = o.num_iterations;
  j["dry_run"] = o.dry_run;
  common_json(j, o.common);
  return j;
}

namespace {

// The device the run uses (resolve_training_device); wandb's --run is only recorded.
std::string check_device(const std::string& device_type, const std::string& run) {
  const std::string device = resolve_training_device(device_type);
  if (run != "dummy") log_warn("--run {}: wandb logging is not part of nanochat.cpp; the run name is only recorded", run);
  return device;
}


std::vector<int32_t> token_bytes_for(const fs::path& dir, const Tokenizer& tok) {
  const fs::path npy = dir / "token_bytes.npy";
  std::vector<int32_t> bytes = fs::exists(npy) ? read_npy_int32(npy) : tok.token_byte_lengths();
  NC_CHECK(bytes.size() == tok.vocab_size(), "{}: {} entries, but the tokenizer has {} tokens", npy.string(),
           bytes.size(), tok.vocab_size());
  return bytes;
}

// The checkpoint a stage continues from (the original's load_model(source, phase="train", ...)).
fs::path chat_state_file(const fs::path& dir, int64_t step) {
  return dir / fmt::format("chat_state_{:06d}.json", step);
}

// Everything a stage's loop needs, prepared by run_chat_sft / run_mid_train.
struct Stage {
  const char* name = "";  // chat_sft | mid_train
  const ChatStageCommon* common = nullptr;
  const Tokenizer* tokenizer = nullptr;
  std::vector<int32_t> token_bytes;
  TrainingBackend* backend = nullptr;  // holds the model and optimizer, set up and synced from host
  eval::tasks::TaskPtr train, val;
  int64_t B = 0, T = 0, total_batch_size = 0, num_iterations = -1, eval_every = -1, eval_tokens = 0;
  int64_t grad_accum_steps = 1;
  std::function<double(double)> lr_multiplier;
  fs::path checkpoint_dir;
  bool write_checkpoints = true;
  bool log_epoch = true;        // SFT's log line has the epoch
  bool tok_sec_per_step = true;  // SFT: total_batch_size / dt; mid (v0.1.0): B*T*world / dt
  ojson user_config;
  // Runs after the step's val-bpb evaluation, where the original evaluates ChatCORE (SFT only).
  std::function<void(int64_t step, bool last_step, ChatTrainResult& result)> after_eval;
};

template <class Loader>
ChatTrainResult run_stage(Stage& s) {
  using State = decltype(std::declval<Loader>().state());
  TrainingBackend& backend = *s.backend;
  model::GPT<float>& model = backend.host_model();
  optim::MuonAdamW& optimizer = backend.host_optimizer();
  const ChatStageCommon& c = *s.common;
  ChatTrainResult result;
  result.checkpoint_dir = s.checkpoint_dir;
  result.min_val_bpb = std::numeric_limits<double>::infinity();

  SftLoaderOptions lo;
  lo.device_batch_size = s.B;
  lo.max_seq_len = s.T;
  lo.num_iterations = s.num_iterations;
  Loader train_loader(*s.tokenizer, s.train, lo);
  SftLoaderOptions vo = lo;
  vo.train = false;
  vo.num_iterations = -1;

  int64_t step = 0;
  double progress = 0;
  bool last_step = false;
  LossEma ema;
  TrainingClock clock;
  if (c.resume_from_step >= 0) {
    const int64_t S = c.resume_from_step;
    const fs::path meta_path = model::meta_file(s.checkpoint_dir, S), state_path = chat_state_file(s.checkpoint_dir, S);
    NC_CHECK(fs::exists(model::model_file(s.checkpoint_dir, S)) && fs::exists(state_path),
             "cannot resume {} from step {}: {} or {} is missing (only checkpoints written by nanochat.cpp with "
             "--save-every can be resumed)",
             s.name, S, model::model_file(s.checkpoint_dir, S).string(), state_path.string());
    const model::CheckpointMeta meta = model::load_meta(meta_path);
    model::GPTConfig want = model.config(), got = meta.model_config;
    got.sequence_len = want.sequence_len;  // the meta records the stage's max_seq_len there
    NC_CHECK(got.to_json() == want.to_json(), "{}: model_config {} does not match the source model's {}",
             meta_path.string(), meta.model_config.to_json(), model.config().to_json());
    model::load_weights(model::model_file(s.checkpoint_dir, S), model);
    optimizer.load_state(model::optim_file(s.checkpoint_dir, S, 0));
    nlohmann::json st;
    try {
      st = nlohmann::json::parse(read_file(state_path));
      progress = st.at("progress").get<double>();
      last_step = st.at("last_step").get<bool>();
      ema = LossEma(st.at("smooth_train_loss").get<double>());
      clock = TrainingClock(st.at("total_training_time").get<double>());
      result.min_val_bpb = st.at("min_val_bpb").is_null() ? std::numeric_limits<double>::infinity()
                                                          : st.at("min_val_bpb").get<double>();
    } catch (const nlohmann::json::exception& e) {
      fail("{}: bad chat stage state: {}", state_path.string(), e.what());
    }
    train_loader.restore(State::from_json(st.at("loader"), state_path.string()));
    backend.sync_from_host();
    step = meta.step;
    result.val_bpb = meta.val_bpb;
    log_info("Resuming {} from step {} ({})", s.name, step, s.checkpoint_dir.string());
  }

  // The state before each draw is what a checkpoint stores: a resume re-draws the prefetched batch.
  State state_before = train_loader.state();
  ChatBatch batch = train_loader.next();
  last_step = last_step || batch.last_step;
  int64_t epoch = batch.epoch;

  const int64_t eval_steps = s.eval_tokens / (s.B * s.T);
  const int64_t flops_per_tok = flops_per_token(model.config());
  const double peak = peak_bf16_flops(backend.device_name());
  std::vector<int64_t> idx, targets;
  while (true) {
    if (last_step || (s.eval_every > 0 && step % s.eval_every == 0)) {
      if (eval_steps == 0)
        log_warn("--eval-tokens {} is less than one batch ({} tokens): val bpb is undefined", s.eval_tokens, s.B * s.T);
      Loader val_loader(*s.tokenizer, s.val, vo);
      const BpbResult r = evaluate_bpb(
          [&](const int64_t* i, const int64_t* t, std::vector<float>& losses) { backend.eval_row_losses(i, t, losses); },
          s.B, s.T, [&] { return val_loader.next().batch; }, eval_steps, s.token_bytes);
      log_info("Step {:05d} | Validation bpb: {:.4f}", step, r.bpb);
      result.val_bpb = r.bpb;
      result.min_val_bpb = std::min(result.min_val_bpb, r.bpb);
      result.evals.push_back({step, r.bpb});
    }
    if (s.after_eval) s.after_eval(step, last_step, result);
    const bool periodic_save = c.save_every > 0 && step > 0 && step % c.save_every == 0 && step != c.resume_from_step;
    if (s.write_checkpoints && (last_step || periodic_save)) {
      nlohmann::json st;
      st["stage"] = s.name;
      st["loader"] = state_before.to_json();
      st["last_step"] = last_step;
      st["progress"] = progress;
      st["smooth_train_loss"] = ema.smooth();
      st["total_training_time"] = clock.total_seconds();
      st["min_val_bpb"] = std::isfinite(result.min_val_bpb) ? nlohmann::json(result.min_val_bpb) : nlohmann::json();
      backend.sync_to_host();
      ensure_dir(s.checkpoint_dir);
      write_file_atomic(chat_state_file(s.checkpoint_dir, step), st.dump(2));
      model::CheckpointMeta meta;
      meta.step = step;
      meta.val_bpb = result.val_bpb;
      meta.model_config = model.config();
      meta.model_config.sequence_len = s.T;
      meta.user_config = s.user_config;
      // The original records the stage's max_seq_len as model_config.sequence_len, which may differ
      // from the model's own (save_model_and_meta insists on equality), so the three files are
      // written here, in the same crash-safe order: optimizer, meta, weights last.
      optim::save_optimizer_shard(s.checkpoint_dir, step, optimizer, 0);
      model::save_meta(model::meta_file(s.checkpoint_dir, step), meta);
      model::save_weights(model::model_file(s.checkpoint_dir, step), model);
      log_info("Saved {} checkpoint step {} to {}", s.name, step, s.checkpoint_dir.string());
    }
    if (last_step) break;
    if (c.on_step_begin) {
      backend.sync_to_host(/*with_optimizer_state=*/false);
      c.on_step_begin(step, model);
      backend.sync_params_from_host();  // the hook may edit the weights; the moments stay on the device
    }

    const auto t0 = std::chrono::steady_clock::now();
    double train_loss = 0;
    for (int64_t micro = 0; micro < s.grad_accum_steps; ++micro) {
      widen_ids(batch.batch.inputs, idx);
      widen_ids(batch.batch.targets, targets);
      // The mean loss of a micro-batch without one supervised token is 0/0 (the original gets NaN too):
      // say so, instead of reporting it as a divergence.
      if (std::none_of(targets.begin(), targets.end(), [](int64_t t) { return t >= 0; }))
        fail("{}: micro-step {} of step {} has no supervised token (every target is -1: the rows hold only "
             "masked prompt/padding); use a larger --max-seq-len or --device-batch-size",
             s.name, micro, step);
      backend.forward_backward(idx.data(), targets.data(), 1.0f / static_cast<float>(s.grad_accum_steps));
      state_before = train_loader.state();
      batch = train_loader.next();  // the host packs the next batch while the device computes
      train_loss = backend.last_loss();
      if (!std::isfinite(train_loss))
        fail("{}: training diverged at step {}: the loss is {} (micro-step {} of {}); stopping (checkpoints in {} "
             "are untouched)",
             s.name, step, train_loss, micro, s.grad_accum_steps, s.checkpoint_dir.string());
      last_step = last_step || batch.last_step;
      epoch = batch.epoch;
      progress = std::max(progress, batch.approx_progress);
    }
    const double lrm = s.lr_multiplier(progress);
    // Only lr and momentum follow a schedule here; the Muon weight decay stays what setup gave it.
    double muon_wd = 0;
    for (const auto& g : optimizer.groups())
      if (g.kind == model::OptimKind::Muon) muon_wd = g.weight_decay;
    backend.optimizer_step(lrm, chat_muon_momentum(step), muon_wd);
    const double dt = seconds_since(t0);
    if (const auto bad = backend.first_non_finite_param())
      fail("{}: training diverged at step {}: parameter {} holds {} after the optimizer step (loss {}); stopping "
           "(checkpoints in {} are untouched)",
           s.name, step, bad->first, bad->second, train_loss, s.checkpoint_dir.string());
    ++step;

    const double smooth = ema.update(train_loss, step);
    clock.add(step, dt);
    const int64_t tokens = s.tok_sec_per_step ? s.total_batch_size : s.B * s.T;
    const double mfu = mfu_percent(flops_per_tok, s.total_batch_size, dt, peak);
    std::string line = fmt::format("step {:05d} ({:.2f}%) | loss: {:.6f} | lrm: {:.2f} | dt: {:.2f}ms | tok/sec: {} | "
                                   "mfu: {:.2f}",
                                   step, 100 * progress, smooth, lrm, dt * 1000,
                                   with_commas(tokens_per_second(tokens, dt)), mfu);
    if (s.log_epoch) line += fmt::format(" | epoch: {}", epoch);
    line += fmt::format(" | total time: {:.2f}m", clock.total_seconds() / 60);
    log_info("{}", line);
    result.steps.push_back({step - 1, train_loss, smooth, lrm, dt, tokens_per_second(tokens, dt)});
  }
  result.final_step = step;
  log_info("Total training time: {:.2f}m", clock.total_seconds() / 60);
  log_info("Minimum validation bpb: {:.4f}", result.min_val_bpb);
  return result;
}

struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int32_t> token_bytes;
  model::CheckpointSource source;
};

// The source's weights into the backend's host model (built from the source's model_config).
void load_source_weights(const Loaded& l, TrainingBackend& backend) {
  model::load_weights(model::model_file(l.source.dir, l.source.step), backend.host_model());
  log_info("Loaded {} step {} ({} parameters)", l.source.dir.string(), l.source.step,
           with_commas(static_cast<int64_t>(backend.host_model().layout().num_parameters())));
}

Loaded load_source(const ChatStageCommon& c, const std::optional<std::string>& tag,
                   const std::optional<int64_t>& step) {
  Loaded l;
  const fs::path tok_dir = c.tokenizer_dir.empty() ? tokenizer_dir() : fs::path(c.tokenizer_dir);
  NC_CHECK(fs::exists(tok_dir / "tokenizer.json"), "no tokenizer in {} (pass --tokenizer-dir)", tok_dir.string());
  l.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(tok_dir));
  l.token_bytes = token_bytes_for(tok_dir, *l.tokenizer);
  const fs::path root = c.source_root.empty() ? model::checkpoints_dir("base") : fs::path(c.source_root);
  l.source = model::locate_checkpoint(root, tag, step, "train a base model first: nanochat base-train");
  NC_CHECK(static_cast<int64_t>(l.tokenizer->vocab_size()) == l.source.meta.model_config.vocab_size,
           "Tokenizer vocab size {} does not match model config vocab size {} ({})", l.tokenizer->vocab_size(),
           l.source.meta.model_config.vocab_size, l.source.dir.string());
  return l;
}

// The mixtures from the options' datasets (tests) or from the data paths.
ChatMixtures datasets(const ChatStageCommon& c, const std::function<ChatMixtures()>& build) {
  if (c.train_dataset && c.val_dataset) {
    ChatMixtures m;
    m.train = c.train_dataset;
    m.val = c.val_dataset;
    m.train_parts = {"(given)"};
    return m;
  }
  NC_CHECK(!c.train_dataset && !c.val_dataset, "give both train and val datasets, or neither");
  return build();
}

int64_t grad_accum(int64_t total, int64_t B, int64_t T) {
  NC_CHECK(B > 0 && T > 0, "device batch {}x{} must be positive", B, T);
  NC_CHECK(total > 0 && total % (B * T) == 0,
           "total batch size {} must be a positive multiple of device_batch_size * max_seq_len = {}", total, B * T);
  return total / (B * T);
}

fs::path output_dir(const ChatStageCommon& c, const char* subdir, const std::optional<std::string>& tag,
                    const model::GPTConfig& config) {
  const fs::path root = c.checkpoint_root.empty() ? base_dir() / subdir : fs::path(c.checkpoint_root);
  return root / (tag ? *tag : "d" + std::to_string(config.n_layer));
}

}  // namespace

ChatTrainResult run_chat_sft(const ChatSftOptions& o) {
  const std::string device = check_device(o.device_type, o.run);
  if (o.warmup_ratio < 0 || o.warmdown_ratio < 0 || o.warmup_ratio + o.warmdown_ratio > 1)
    usage_fail("--warmup-ratio {} and --warmdown-ratio {} must be >= 0 and sum to at most 1", o.warmup_ratio,
               o.warmdown_ratio);
  Loaded l = load_source(o.common, o.model_tag, o.model_step);
  const model::CheckpointMeta& meta = l.source.meta;

  // Unset flags inherit from the base checkpoint, else the original's fallbacks.
  ChatSftOptions r = o;
  auto resolve_int = [&](const char* name, std::optional<int64_t>& arg, std::optional<int64_t> pre, int64_t fallback) {
    if (!arg) {
      arg = pre.value_or(fallback);
      log_info("Inherited {}={} from pretrained checkpoint", name, *arg);
    } else if (pre && *arg != *pre) {
      log_info("NOTE: --{}={} overrides pretrained value of {}", name, *arg, *pre);
    } else {
      log_info("Using {}={}", name, *arg);
    }
  };
  auto resolve_lr = [&](const char* name, std::optional<double>& arg, double fallback) {
    std::optional<double> pre;
    if (meta.user_config.contains(name) && meta.user_config[name].is_number()) pre = meta.user_config[name].get<double>();
    if (!arg) {
      arg = pre.value_or(fallback);
      log_info("Inherited {}={} from pretrained checkpoint", name, *arg);
    } else if (pre && *arg != *pre) {
      log_info("NOTE: --{}={} overrides pretrained value of {}", name, *arg, *pre);
    } else {
      log_info("Using {}={}", name, *arg);
    }
  };
  const auto& tp = meta.training;
  resolve_int("max_seq_len", r.max_seq_len, tp ? std::optional<int64_t>(tp->max_seq_len) : std::nullopt, 2048);
  resolve_int("device_batch_size", r.device_batch_size, tp ? std::optional<int64_t>(tp->device_batch_size) : std::nullopt, 32);
  resolve_int("total_batch_size", r.total_batch_size, tp ? std::optional<int64_t>(tp->total_batch_size) : std::nullopt,
              524288);
  resolve_lr("embedding_lr", r.embedding_lr, 0.3);
  resolve_lr("unembedding_lr", r.unembedding_lr, 0.004);
  resolve_lr("matrix_lr", r.matrix_lr, 0.02);

  Stage s;
  s.name = "chat_sft";
  s.common = &o.common;
  s.B = *r.device_batch_size;
  s.T = *r.max_seq_len;
  s.total_batch_size = *r.total_batch_size;
  s.grad_accum_steps = grad_accum(s.total_batch_size, s.B, s.T);
  log_info("Tokens / micro-batch / rank: {} x {} = {}", s.B, s.T, with_commas(s.B * s.T));
  log_info("Total batch size {} => gradient accumulation steps: {}", with_commas(s.total_batch_size), s.grad_accum_steps);

  optim::OptimizerSetup setup;
  setup.unembedding_lr = *r.unembedding_lr;
  setup.embedding_lr = *r.embedding_lr;
  setup.matrix_lr = *r.matrix_lr;
  setup.weight_decay = 0.0;
  const std::unique_ptr<TrainingBackend> backend = make_backend(device, meta.model_config, s.B, s.T, setup);
  load_source_weights(l, *backend);
  optim::MuonAdamW& optimizer = backend->host_optimizer();
  if (o.load_optimizer != 0) {
    const fs::path f = model::optim_file(l.source.dir, l.source.step, 0);
    if (fs::exists(f)) {
      std::vector<double> fresh;
      for (const auto& g : optimizer.groups()) fresh.push_back(g.lr);
      optimizer.load_state(f);
      for (size_t i = 0; i < fresh.size(); ++i) optimizer.groups()[i].lr = fresh[i];
      log_info("Loaded optimizer state from pretrained checkpoint (momentum buffers only, LRs reset)");
    } else {
      log_warn("optimizer checkpoint {} not found, starting with fresh optimizer (slightly worse)", f.string());
    }
  }
  for (auto& g : optimizer.groups()) {
    g.lr *= o.init_lr_frac;
    g.initial_lr = g.lr;
  }
  backend->sync_from_host();

  const ChatMixtures m = datasets(o.common, [&] {
    return sft_mixtures(o.common.data, o.mmlu_epochs, o.gsm8k_epochs, o.common.skip_missing_tasks);
  });
  log_info("Training mixture: {} rows (MMLU x{}, GSM8K x{})", with_commas(m.train->size()), o.mmlu_epochs,
           o.gsm8k_epochs);
  s.tokenizer = l.tokenizer.get();
  s.token_bytes = l.token_bytes;
  s.backend = backend.get();
  s.train = m.train;
  s.val = m.val;
  s.num_iterations = o.num_iterations;
  s.eval_every = o.eval_every;
  s.eval_tokens = o.eval_tokens;
  s.lr_multiplier = [w = o.warmup_ratio, d = o.warmdown_ratio, f = o.final_lr_frac](double p) {
    return sft_lr_multiplier(p, w, d, f);
  };
  s.checkpoint_dir = output_dir(o.common, "chatsft_checkpoints", o.model_tag, meta.model_config);
  s.user_config = user_config_json(o);
  if (o.chatcore_every > 0) {
    ChatCoreSettings cs;
    const ChatDataPaths paths = ChatDataPaths::with_defaults(o.common.data);
    cs.data_root = paths.data_root;
    cs.word_list = paths.word_list;
    cs.max_cat = o.chatcore_max_cat;
    cs.max_sample = o.chatcore_max_sample;
    cs.batch_size = s.B;
    // Checked before training, so a missing task cannot end a long run at its first evaluation.
    const std::vector<ChatCoreTask> tasks = load_chatcore_tasks(cs, o.common.skip_missing_tasks);
    s.after_eval = [&, cs, tasks, every = o.chatcore_every](int64_t step, bool last_step, ChatTrainResult& out) {
      if (!(last_step || (step > 0 && step % every == 0))) return;
      backend->sync_to_host(/*with_optimizer_state=*/false);
      const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(device, backend->host_model());
      out.chatcore.push_back(evaluate_chatcore(*decoder, *l.tokenizer, tasks, cs, step));
    };
  }
  ChatTrainResult result = run_stage<SftPackingLoader>(s);
  result.train_parts = m.train_parts;
  result.missing_tasks = m.missing;
  return result;
}

ChatTrainResult run_mid_train(const MidTrainOptions& o) {
  const std::string device = check_device(o.device_type, o.run);
  Loaded l = load_source(o.common, o.model_tag, o.model_step);
  if (l.source.meta.training && o.device_batch_size > l.source.meta.training->device_batch_size)
    log_warn("FOOTGUN WARNING: base model training used device_batch_size {}, did you pass in a good "
             "--device-batch-size to this script?",
             l.source.meta.training->device_batch_size);
  Stage s;
  s.name = "mid_train";
  s.common = &o.common;
  s.B = o.device_batch_size;
  s.T = o.max_seq_len;
  s.total_batch_size = o.total_batch_size;
  s.grad_accum_steps = grad_accum(s.total_batch_size, s.B, s.T);
  log_info("Tokens / micro-batch / rank: {} x {} = {}", s.B, s.T, with_commas(s.B * s.T));
  log_info("Total batch size {} => gradient accumulation steps: {}", with_commas(s.total_batch_size), s.grad_accum_steps);

  optim::OptimizerSetup setup;
  setup.unembedding_lr = o.unembedding_lr;
  setup.embedding_lr = o.embedding_lr;
  setup.matrix_lr = o.matrix_lr;
  setup.weight_decay = o.weight_decay;
  const std::unique_ptr<TrainingBackend> backend = make_backend(device, l.source.meta.model_config, s.B, s.T, setup);
  load_source_weights(l, *backend);
  for (auto& g : backend->host_optimizer().groups()) {
    g.lr *= o.init_lr_frac;
    g.initial_lr = g.lr;
  }
  backend->sync_from_host();
  const ChatMixtures m = datasets(o.common, [&] { return mid_mixtures(o.common.data, o.common.skip_missing_tasks); });
  log_info("Training mixture: {} rows", with_commas(m.train->size()));
  s.tokenizer = l.tokenizer.get();
  s.token_bytes = l.token_bytes;
  s.backend = backend.get();
  s.train = m.train;
  s.val = m.val;
  s.num_iterations = o.num_iterations;
  s.eval_every = o.eval_every;
  s.eval_tokens = o.eval_tokens;
  s.lr_multiplier = mid_lr_multiplier;
  s.checkpoint_dir = output_dir(o.common, "mid_checkpoints", o.model_tag, l.source.meta.model_config);
  s.write_checkpoints = o.dry_run == 0;
  s.log_epoch = false;
  s.tok_sec_per_step = false;
  s.user_config = user_config_json(o);
  ChatTrainResult result = run_stage<MidTokenStream>(s);
  result.train_parts = m.train_parts;
  result.missing_tasks = m.missing;
  return result;
}

}  // namespace nanochat::train
