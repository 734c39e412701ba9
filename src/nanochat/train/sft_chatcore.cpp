#include "nanochat/train/sft_chatcore.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/engine/engine.h"
#include "nanochat/eval/tasks/chat_eval_runner.h"
#include "nanochat/eval/tasks/chat_task_suite.h"

namespace nanochat::train {

std::vector<ChatCoreTask> load_chatcore_tasks(const ChatCoreSettings& settings, bool skip_missing) {
  std::vector<ChatCoreTask> loaded;
  std::vector<std::string> failed;
  for (const auto& spec : eval::tasks::chatcore_tasks()) {
    try {
      loaded.push_back({spec.name, eval::tasks::make_chat_task(spec.name, settings.data_root, settings.word_list)});
    } catch (const Error& e) {
      failed.push_back(fmt::format("{}: {}", spec.name, e.what()));
    }
  }
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += "\n  - " + f;
    if (!skip_missing)
      fail("chat_sft: ChatCORE (--chatcore-every) cannot load {} task(s) from {}:{}\nProvide the data (see "
           "--data-root), pass --chatcore-every=-1, or --skip-missing-tasks for a partial ChatCORE",
           failed.size(), settings.data_root.string(), list);
    log_warn("chat_sft: ChatCORE will be partial, {} task(s) could not be loaded (--skip-missing-tasks):{}",
             failed.size(), list);
  }
  return loaded;
}

ChatCoreRecord evaluate_chatcore(const engine::Decoder& decoder, const Tokenizer& tokenizer,
                                 const std::vector<ChatCoreTask>& tasks, const ChatCoreSettings& settings, int64_t step) {
  const engine::Engine eng(decoder, tokenizer);
  engine::GenerateOptions gen;  // run_chat_eval's defaults when another script calls it
  gen.num_samples = 1;
  gen.max_tokens = 512;
  gen.temperature = 0.0;
  gen.top_k = 50;
  ChatCoreRecord rec;
  rec.step = step;
  std::vector<std::string> names, categorical;
  for (const auto& [name, task] : tasks) {
    names.push_back(name);
    const bool is_cat = task->eval_type() == eval::tasks::EvalType::categorical;
    const int64_t limit = is_cat ? settings.max_cat : settings.max_sample;
    const int64_t n = limit < 0 ? task->size() : std::min(limit, task->size());
    const eval::tasks::ChatEvalTally t =
        is_cat ? eval::tasks::run_categorical_eval(decoder, tokenizer, *task, n, settings.batch_size)
               : eval::tasks::run_generative_eval(eng, *task, n, gen);
    rec.accuracy[name] = t.accuracy();
    if (is_cat) categorical.push_back(name);
    log_info("  {}: {:.2f}%", name, 100.0 * t.accuracy());
  }
  rec.partial = tasks.size() < eval::tasks::chatcore_tasks().size();
  rec.chatcore = eval::tasks::chatcore_centered_mean(rec.accuracy, names);
  rec.chatcore_cat = eval::tasks::chatcore_centered_mean(rec.accuracy, categorical);
  log_info("Step {:05d} | ChatCORE: {:.4f} | ChatCORE_cat: {:.4f}{}", step, rec.chatcore, rec.chatcore_cat,
           rec.partial ? fmt::format(" (partial: {} of 5 tasks)", tasks.size()) : std::string());
  return rec;
}

}  // namespace nanochat::train
