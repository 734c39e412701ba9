// nanochat chat-eval: accuracy of a chat model on the chat tasks (scripts/chat_eval.py, spec
// tokenizer-inference-eval.md §7): multiple-choice tasks read the letter the model prefers right after
// <|assistant_start|> (one forward per batch), generative tasks sample with the engine (seed 42) and
// check the completions; ChatCORE when all five tasks ran. Under 'nanochat launch' (or torchrun's
// variables) the problems are split across ranks and the tallies summed; rank 0 prints the results.
// Task data comes from local files (--data-root; the original downloads from HF):
//   gsm8k/test.jsonl, mmlu/data/test/*.csv, humaneval/HumanEval.jsonl.gz, core-eval/ (ARC).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/core/process_group.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/engine/engine.h"
#include "nanochat/engine/load_model.h"
#include "nanochat/eval/tasks/chat_eval_runner.h"
#include "nanochat/eval/tasks/chat_task_suite.h"
#include "nanochat/eval/tasks/spelling_bee.h"

namespace nanochat::app {

namespace {

namespace fs = std::filesystem;

using eval::tasks::ChatEvalTally;

void print_final(const ChatEvalTally& t) {
  std::printf("Final: %lld/%lld (%.2f%%)\n", static_cast<long long>(t.passed), static_cast<long long>(t.total),
              100.0 * t.accuracy());
}

std::vector<std::string> split_task_names(const std::string& text) {
  std::vector<std::string> names;
  size_t pos = 0;
  for (;;) {
    const size_t bar = text.find('|', pos);
    names.push_back(text.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
    if (bar == std::string::npos) break;
    pos = bar + 1;
  }
  for (const auto& name : names) {
    if (!eval::tasks::is_chat_task(name))
      usage_fail("argument -a/--task-name: unknown task '{}' (choose from ARC-Easy, ARC-Challenge, MMLU, GSM8K, "
                 "HumanEval, SpellingBee; '|'-separated)",
                 name);
  }
  return names;
}

}  // namespace

int chat_eval(const Args& args) {
  std::string source, task_name, device, tokenizer_dir, data_root, records_path;
  std::string word_list = eval::tasks::kDefaultWordListPath;
  std::optional<std::string> tag;
  std::optional<int64_t> step, max_problems;
  double temperature = 0.0;
  int64_t max_new_tokens = 512, num_samples = 1, top_k = 50, batch_size = 8;
  ArgParser p("nanochat chat-eval", "Evaluate a chat model on ARC, MMLU, GSM8K and HumanEval (ChatCORE).");
  p.add("-i,--source", &source, "checkpoint source (required; mid as v0.1.0, base is accepted for smoke tests)",
        {"", "sft", "rl", "mid", "base"})
      .add("-a,--task-name", &task_name, "task names separated by '|' (default: all five)")
      .add("-t,--temperature", &temperature, "sampling temperature (generative tasks)")
      .add("-m,--max-new-tokens", &max_new_tokens, "tokens per completion (generative tasks)")
      .add("-n,--num-samples", &num_samples, "completions per problem; a problem passes if any does")
      .add("-k,--top-k", &top_k, "sample among the k most likely tokens (0 = all)")
      .add("-b,--batch-size", &batch_size, "problems per forward (categorical tasks)")
      .add("-g,--model-tag", &tag, "model tag (default: the largest d<N>)")
      .add("-s,--step", &step, "checkpoint step (default: the last)")
      .add("-x,--max-problems", &max_problems, "problems per task (default: all)")
      .add("--device-type", &device, "cuda or cpu (empty = cuda when a GPU is usable)", {"", "cpu", "cuda"})
      .add("--data-root", &data_root,
           "folder with gsm8k/, mmlu/data/, humaneval/, core-eval/ (default: $NANOCHAT_BASE_DIR/task_data)")
      .add("--tokenizer-dir", &tokenizer_dir, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--word-list", &word_list, "word list for SpellingBee (v0.1.0's task; size 256, test split)")
      .add("--records", &records_path,
           "write every judged answer as JSONL {task, i, answer, correct} to this file (with several ranks, "
           "one file per rank: <file>.rank<r>)");
  if (!p.parse(args)) return 0;
  if (source.empty()) usage_fail("the following arguments are required: -i/--source");
  if (temperature < 0) usage_fail("argument -t/--temperature: must be >= 0, got {}", temperature);
  if (max_new_tokens < 1) usage_fail("argument -m/--max-new-tokens: must be at least 1, got {}", max_new_tokens);
  if (num_samples < 1) usage_fail("argument -n/--num-samples: must be at least 1, got {}", num_samples);
  if (batch_size < 1) usage_fail("argument -b/--batch-size: must be at least 1, got {}", batch_size);
  if (max_problems && *max_problems < 0) usage_fail("argument -x/--max-problems: must be >= 0, got {}", *max_problems);
  const std::string dev = engine::resolve_inference_device(device);
  ProcessGroup group = ProcessGroup::from_environment();
  set_log_rank(group.rank(), group.world_size());
  const bool main_rank = group.is_main();

  std::vector<std::string> names;
  if (task_name.empty()) {
    for (const auto& s : eval::tasks::chatcore_tasks()) names.emplace_back(s.name);
  } else {
    names = split_task_names(task_name);
  }
  const fs::path root = data_root.empty() ? base_dir() / "task_data" : fs::path(data_root);

  engine::LoadedModel loaded = engine::load_model(
      source, tag, step, tokenizer_dir.empty() ? std::nullopt : std::optional<fs::path>(tokenizer_dir));
  log_info("chat-eval: {} {} step {} ({})", source, loaded.model_tag, loaded.step, loaded.checkpoint_dir.string());
  const Tokenizer& tok = *loaded.tokenizer;
  engine::CudaDecoderOptions cuda_options;
  cuda_options.device = group.distributed() ? group.local_rank() : 0;  // one GPU per rank
  const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(dev, *loaded.model, cuda_options);
  log_info("chat-eval: device {} ({})", decoder->device(), decoder->device_name());
  const engine::Engine eng(*decoder, tok);
  engine::GenerateOptions gen;
  gen.num_samples = num_samples;
  gen.max_tokens = max_new_tokens;
  gen.temperature = temperature;
  gen.top_k = top_k;
  gen.seed = 42;

  std::ofstream records;
  if (!records_path.empty()) {
    const std::string path = group.distributed() ? fmt::format("{}.rank{}", records_path, group.rank()) : records_path;
    records.open(path);
    NC_CHECK(records.good(), "--records: cannot write {}", path);
  }
  std::string current_task;
  const eval::tasks::ChatEvalRecord record = [&](int64_t i, const std::string& answer, bool correct, float margin) {
    nlohmann::json line{{"task", current_task}, {"i", i}, {"answer", answer}, {"correct", correct}};
    if (std::isfinite(margin)) line["margin"] = margin;
    records << line.dump() << "\n";
  };
  const eval::tasks::ChatEvalRecord no_record;

  std::map<std::string, double> results;
  for (const auto& name : names) {
    current_task = name;
    const auto task = eval::tasks::make_chat_task(name, root, word_list);
    const int64_t n = max_problems ? std::min(*max_problems, task->size()) : task->size();
    ChatEvalTally t;
    if (task->eval_type() == eval::tasks::EvalType::categorical) {
      t = eval::tasks::run_categorical_eval(*decoder, tok, *task, n, batch_size, &group,
                                            records.is_open() ? record : no_record);
    } else {
      // Every rank shows its own running tally, as the original does.
      const int rank = group.rank();
      t = eval::tasks::run_generative_eval(
          eng, *task, n, gen,
          [rank](const ChatEvalTally& run) {
            std::printf("\r\033[KRank %d | %lld/%lld (%.2f%%)", rank, static_cast<long long>(run.passed),
                        static_cast<long long>(run.total), 100.0 * run.accuracy());
            std::fflush(stdout);
          },
          &group, records.is_open() ? record : no_record);
      std::printf("\n");
    }
    results[name] = t.accuracy();
    if (records.is_open()) {  // a full disk must not leave a silently truncated record file
      records.flush();
      NC_CHECK(records.good(), "--records: writing {} failed", records_path);
    }
    if (!main_rank) continue;
    print_final(t);
    std::printf("%s accuracy: %.2f%%\n", name.c_str(), 100.0 * t.accuracy());
    std::fflush(stdout);
  }
  std::vector<std::string> five;
  for (const auto& spec : eval::tasks::chatcore_tasks()) five.emplace_back(spec.name);
  const bool all = std::all_of(five.begin(), five.end(), [&](const std::string& t) { return results.count(t) > 0; });
  if (all && main_rank) std::printf("ChatCORE metric: %.4f\n", eval::tasks::chatcore_centered_mean(results, five));
  return 0;
}

}  // namespace nanochat::app
