#include "nanochat/train/sft_chatcore.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/engine/engine.h"
#include "nanochat/eval/tasks/chat_eval_runner.h"
#include "nanochat/eval/tasks/chat_task_suite.h"

namespace nanochat::train {

std::vector<std::string> chatcore_tasks_with_data(const ChatCoreSettings& settings, bool skip_missing) {
  std::vector<std::string> present, missing;
  for (const auto& spec : eval::tasks::chatcore_tasks()) {
    const auto path = eval::tasks::chat_task_data(spec.name, settings.data_root, settings.word_list);
    if (std::filesystem::exists(path)) {
      present.emplace_back(spec.name);
    } else {
      missing.push_back(fmt::format("{} ({} not found)", spec.name, path.string()));
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  - " + m;
    if (!skip_missing)
      fail("chat_sft: ChatCORE (--chatcore-every) needs data for {} task(s):{}\nProvide it (see --data-root), pass "
           "--chatcore-every=-1, or --skip-missing-tasks for a partial ChatCORE",
           missing.size(), list);
    log_warn("chat_sft: ChatCORE will be partial, {} task(s) have no data (--skip-missing-tasks):{}", missing.size(), list);
  }
  return present;
}

ChatCoreRecord evaluate_chatcore(const engine::Decoder& decoder, const Tokenizer& tokenizer,
                                 const std::vector<std::string>& tasks, const ChatCoreSettings& settings, int64_t step) {
  const engine::Engine eng(decoder, tokenizer);
  engine::GenerateOptions gen;  // run_chat_eval's defaults when another script calls it
  gen.num_samples = 1;
  gen.max_tokens = 512;
  gen.temperature = 0.0;
  gen.top_k = 50;
  ChatCoreRecord rec;
  rec.step = step;
  std::vector<std::string> categorical;
  for (const auto& name : tasks) {
    const auto task = eval::tasks::make_chat_task(name, settings.data_root, settings.word_list);
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
  rec.chatcore = eval::tasks::chatcore_centered_mean(rec.accuracy, tasks);
  rec.chatcore_cat = eval::tasks::chatcore_centered_mean(rec.accuracy, categorical);
  log_info("Step {:05d} | ChatCORE: {:.4f} | ChatCORE_cat: {:.4f}{}", step, rec.chatcore, rec.chatcore_cat,
           rec.partial ? fmt::format(" (partial: {} of 5 tasks)", tasks.size()) : std::string());
  return rec;
}

}  // namespace nanochat::train
