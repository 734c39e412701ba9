// nanochat base-eval: evaluate a base checkpoint (scripts/base_eval.py, spec tokenizer-inference-eval.md
// §6.9-§6.11): greedy and unconditioned samples, bits per byte on the train and val shards, and the CORE
// metric over the eval bundle. Runs on the CPU or one GPU (--device-type; autodetected); under 'nanochat
// launch' (or torchrun's variables) CORE items and bpb row groups are split across ranks (one GPU each)
// and summed, and rank 0 samples, prints and writes the CSV. When the bundle lacks task files, or a task cannot be run
// as configured (too few records for its shots, prompts beyond the model's context), the CORE printed is
// explicitly labelled partial and names those tasks; the original would have aborted instead.
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/core/process_group.h"
#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/data/dataset.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/data/eval_bundle_download.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/engine/engine.h"
#include "nanochat/engine/load_model.h"
#include "nanochat/eval/core_eval.h"
#include "nanochat/train/bpb.h"
#include "nanochat/train/sampling.h"
#ifdef NANOCHAT_HAVE_CUDA
#include "nanochat/model/gpt_cuda.h"
#endif

namespace nanochat::app {

namespace {

namespace fs = std::filesystem;

struct EvalModes {
  bool core = false, bpb = false, sample = false;
};

EvalModes parse_modes(const std::string& text) {
  EvalModes m;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string name = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (name == "core") m.core = true;
    else if (name == "bpb") m.bpb = true;
    else if (name == "sample") m.sample = true;
    else usage_fail("argument --eval: invalid choice: '{}' (choose from core, bpb, sample; comma-separated)", name);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return m;
}

void print_rule() { std::printf("%s\n", std::string(80, '-').c_str()); }

void run_samples(const engine::LoadedModel& loaded, const engine::Decoder& decoder) {
  const Tokenizer& tok = *loaded.tokenizer;
  const engine::Engine eng(decoder, tok);
  std::printf("\nConditioned samples:\n");
  for (const char* prompt : train::kSamplePrompts) {
    const auto ids = tok.encode(prompt, tok.bos_id());
    engine::GenerateOptions o;
    o.max_tokens = train::kSampleTokens;
    o.temperature = 0;
    const auto batch = eng.generate_batch(ids, o);
    print_rule();
    std::printf("%s\n", tok.decode(batch.tokens[0]).c_str());
  }
  std::printf("\nUnconditioned samples:\n");
  const std::vector<TokenId> bos{tok.bos_id()};
  engine::GenerateOptions o;
  o.num_samples = 8;
  o.max_tokens = 128;
  o.temperature = 1.0;
  o.seed = 42;
  const auto batch = eng.generate_batch(bos, o);
  for (const auto& row : batch.tokens) {
    print_rule();
    std::printf("%s\n", tok.decode(row).c_str());
  }
  std::fflush(stdout);
}

void run_bpb(const engine::LoadedModel& loaded, const std::string& device, int64_t device_batch_size,
             int64_t split_tokens, const fs::path& data_dir, ProcessGroup& group) {
  const auto& cfg = loaded.model->config();
  const int64_t B = device_batch_size, T = cfg.sequence_len, W = group.world_size();
  const int64_t tokens_per_step = B * T * W;
  const int64_t steps = split_tokens / tokens_per_step;
  if (steps < 1)
    usage_fail("argument --split-tokens: {} is less than one step of {} x {} x {} rank(s) = {} tokens", split_tokens, B,
               T, W, tokens_per_step);
  const auto shards = list_parquet_shards(data_dir);
  if (shards.size() < 2)
    fail("{} holds {} parquet shard(s); bpb needs at least 2 (the last one is the validation split). Run "
         "'nanochat dataset -n 8' or pass --data-dir",
         data_dir.string(), shards.size());
  const std::vector<int32_t> token_bytes = loaded.tokenizer->token_byte_lengths();
  // Per-row losses of a plain forward, on the device that runs the evaluation.
  train::RowLossFn row_losses;
  std::unique_ptr<model::Activations<float>> cpu_acts;
#ifdef NANOCHAT_HAVE_CUDA
  std::unique_ptr<cuda::CudaContext> ctx;
  std::unique_ptr<model::GptCuda> gpu;
  std::unique_ptr<model::CudaActivations> gpu_acts;
  if (device == "cuda") {
    ctx = std::make_unique<cuda::CudaContext>(group.distributed() ? group.local_rank() : 0);
    gpu = std::make_unique<model::GptCuda>(cfg, *ctx);
    gpu->upload_params(loaded.model->params());
    gpu_acts = std::make_unique<model::CudaActivations>(cfg, B, T);
    row_losses = [&](const int64_t* idx, const int64_t* targets, std::vector<float>& losses) {
      gpu->forward_loss(*gpu_acts, idx, targets);
      losses = gpu->read_row_losses(*gpu_acts);
    };
  }
#endif
  if (!row_losses) {
    NC_CHECK(device == "cpu", "bpb on device '{}' is not available in this build", device);
    cpu_acts = std::make_unique<model::Activations<float>>(cfg, B, T);
    row_losses = [&](const int64_t* idx, const int64_t* targets, std::vector<float>& losses) {
      loaded.model->forward(*cpu_acts, idx, targets);
      losses.assign(cpu_acts->loss, cpu_acts->loss + cpu_acts->rows());
    };
  }
  for (const char* split : {"train", "val"}) {
    BosPackingLoader loader(*loaded.tokenizer, split_shards(shards, std::string(split) == "val"), B, T, group.rank(),
                            group.world_size());
    const auto r = train::evaluate_bpb(row_losses, B, T, [&] { return loader.next(); }, steps, token_bytes);
    double bpb = r.bpb;
    if (group.distributed()) {  // §6.10: nats and bytes summed across ranks
      std::vector<double> nats{r.total_nats};
      std::vector<int64_t> bytes{r.total_bytes};
      group.all_reduce_sum(nats);
      group.all_reduce_sum(bytes);
      bpb = bytes[0] == 0 ? std::numeric_limits<double>::infinity()
                          : nats[0] / (std::numbers::ln2 * static_cast<double>(bytes[0]));
    }
    if (group.is_main()) {
      std::printf("%s bpb: %.6f\n", split, bpb);
      std::fflush(stdout);
    }
  }
}

void run_core(engine::LoadedModel& loaded, const engine::Decoder& decoder, const fs::path& bundle_dir,
              int64_t max_per_task, int64_t device_batch_size, ProcessGroup& group) {
  // Like the original: a missing bundle is downloaded once (eval_bundle.zip, kept beside it) and placed;
  // ensure_eval_bundle logs the URL and the placement.
  ensure_eval_bundle(bundle_dir);
  const eval::CoreBundle bundle = eval::load_core_bundle(bundle_dir);
  eval::CoreEvalOptions options;
  options.max_per_task = max_per_task;
  options.max_batch_tokens = device_batch_size * loaded.model->config().sequence_len;
  options.skip_unfit_tasks = true;
  options.group = &group;
  options.on_task = [&group](const eval::CoreTaskResult& r) {
    if (!group.is_main()) return;
    const std::string head = fmt::format("Evaluating: {} ({}-shot, type: {})... ", r.task.label, r.task.num_fewshot,
                                         eval::task_type_name(r.task.type));
    if (r.evaluated)
      std::printf("%saccuracy: %.4f | centered: %.4f | time: %.2fs\n", head.c_str(), r.accuracy, r.centered, r.seconds);
    else if (!r.skipped_reason.empty())
      std::printf("%sSKIPPED: %s\n", head.c_str(), r.skipped_reason.c_str());
    else
      std::printf("%sMISSING: no data file %s in the bundle\n", head.c_str(), r.task.dataset_uri.c_str());
    std::fflush(stdout);
  };
  const eval::CoreResult result = eval::evaluate_core(decoder, *loaded.tokenizer, bundle, options);
  if (!group.is_main()) return;  // every rank has the same result; rank 0 reports it

  const size_t total = bundle.tasks.size();
  const std::string core_label =
      result.partial() ? fmt::format("CORE (partial, {}/{} tasks)", result.evaluated, total) : std::string("CORE");
  std::string csv = fmt::format("{:<35}, {:<10}, {:<10}\n", "Task", "Accuracy", "Centered");
  for (const auto& r : result.tasks)
    if (r.evaluated) csv += fmt::format("{:<35}, {:<10.6f}, {:<10.6f}\n", r.task.label, r.accuracy, r.centered);
  csv += fmt::format("{:<35}, {:<10}, {:<10.6f}\n", core_label, "", result.core);
  const fs::path out = base_subdir("base_eval") / fmt::format("base_model_{:06d}.csv", loaded.step);
  write_file_atomic(out, csv);
  const std::string rule(80, '=');
  std::printf("%s\nModel: base_model (%s, step %06lld)\n%s\n%s", rule.c_str(), loaded.model_tag.c_str(),
              static_cast<long long>(loaded.step), rule.c_str(), csv.c_str());
  log_info("wrote {}", out.string());
  if (result.partial()) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s.empty() ? std::string("none") : s;
    };
    std::printf("PARTIAL CORE: mean over %d of %zu tasks; missing data: %s; skipped: %s\n", result.evaluated, total,
                join(result.missing).c_str(), join(result.skipped).c_str());
    std::printf("CORE metric (partial, %d/%zu tasks): %.4f\n", result.evaluated, total, result.core);
  } else {
    std::printf("CORE metric: %.4f\n", result.core);
  }
}

}  // namespace

int base_eval(const Args& args) {
  std::string eval_modes = "core,bpb,sample", device = "", tokenizer_dir, bundle_dir, data_dir;
  std::optional<std::string> tag;
  std::optional<int64_t> step;
  int64_t max_per_task = -1, device_batch_size = 32, split_tokens = 40 * 524288;
  ArgParser p("nanochat base-eval", "Evaluate a base model: samples, bits per byte and the CORE metric.");
  p.add("--eval", &eval_modes, "comma-separated evaluations: core, bpb, sample")
      .add("-g,--model-tag", &tag, "model tag (default: the largest d<N>)")
      .add("-s,--step", &step, "checkpoint step (default: the last)")
      .add("--max-per-task", &max_per_task, "examples per CORE task (-1 = all)")
      .add("--device-batch-size", &device_batch_size, "rows per forward (bpb), and tokens per CORE forward / sequence_len")
      .add("--split-tokens", &split_tokens, "tokens per split for bpb")
      .add("--device-type", &device, "cuda or cpu (empty = cuda when a GPU is usable)", {"", "cpu", "cuda"})
      .add("--bundle-dir", &bundle_dir, "CORE eval bundle folder (default: $NANOCHAT_BASE_DIR/eval_bundle); when missing, eval_bundle.zip is "
           "downloaded from $NANOCHAT_EVAL_BUNDLE_URL (default: the original's S3 URL) and extracted there")
      .add("--data-dir", &data_dir, "parquet shards for bpb (default: $NANOCHAT_BASE_DIR/base_data_climbmix)")
      .add("--tokenizer-dir", &tokenizer_dir, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)");
  if (!p.parse(args)) return 0;
  const EvalModes modes = parse_modes(eval_modes);
  if (device_batch_size < 1) usage_fail("argument --device-batch-size: must be positive, got {}", device_batch_size);
  if (split_tokens < 1) usage_fail("argument --split-tokens: must be positive, got {}", split_tokens);
  const std::string dev = engine::resolve_inference_device(device);
  ProcessGroup group = ProcessGroup::from_environment();
  set_log_rank(group.rank(), group.world_size());

  engine::LoadedModel loaded = engine::load_model(
      "base", tag, step, tokenizer_dir.empty() ? std::nullopt : std::optional<fs::path>(tokenizer_dir));
  log_info("base-eval: {} step {} ({})", loaded.model_tag, loaded.step, loaded.checkpoint_dir.string());

  engine::CudaDecoderOptions cuda_options;
  cuda_options.device = group.distributed() ? group.local_rank() : 0;  // one GPU per rank
  const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(dev, *loaded.model, cuda_options);
  log_info("base-eval: device {} ({})", decoder->device(), decoder->device_name());

  if (modes.sample && group.is_main()) run_samples(loaded, *decoder);
  if (modes.bpb)
    run_bpb(loaded, dev, device_batch_size, split_tokens, data_dir.empty() ? default_data_dir() : fs::path(data_dir),
            group);
  if (modes.core)
    run_core(loaded, *decoder, bundle_dir.empty() ? base_dir() / "eval_bundle" : fs::path(bundle_dir), max_per_task,
             device_batch_size, group);
  return 0;
}

}  // namespace nanochat::app
