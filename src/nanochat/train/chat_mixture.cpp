#include "nanochat/train/chat_mixture.h"

#include <functional>
#include <memory>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/eval/tasks/custom_json.h"
#include "nanochat/eval/tasks/gsm8k.h"
#include "nanochat/eval/tasks/mmlu.h"
#include "nanochat/eval/tasks/mmlu_auxiliary_train.h"
#include "nanochat/eval/tasks/smoltalk.h"
#include "nanochat/eval/tasks/spelling_bee.h"

namespace nanochat::train {

namespace fs = std::filesystem;
using eval::tasks::TaskPtr;
using eval::tasks::TaskView;

ChatDataPaths ChatDataPaths::with_defaults(ChatDataPaths p) {
  if (p.data_root.empty()) p.data_root = base_dir() / "task_data";
  if (p.identity_conversations.empty()) p.identity_conversations = base_dir() / "identity_conversations.jsonl";
  if (p.word_list.empty()) p.word_list = eval::tasks::kDefaultWordListPath;
  return p;
}

namespace {

// One entry of a mixture: the task's name, the file or folder it needs, how to build it, and how
// many times it is listed.
struct Part {
  std::string name;
  fs::path needs;
  std::function<TaskPtr()> make;
  int64_t copies = 1;
};

struct Built {
  TaskPtr dataset;
  std::vector<std::string> names;
};

Built build(const std::vector<Part>& parts, const char* split, std::vector<std::string>& missing) {
  std::vector<TaskPtr> tasks;
  Built out;
  for (const Part& p : parts) {
    if (p.copies <= 0) continue;
    if (!fs::exists(p.needs)) {
      missing.push_back(fmt::format("{} [{}] ({} not found)", p.name, split, p.needs.string()));
      continue;
    }
    const TaskPtr t = p.make();
    for (int64_t c = 0; c < p.copies; ++c) {
      tasks.push_back(t);
      out.names.push_back(p.name);
    }
  }
  out.dataset = std::make_shared<eval::tasks::TaskMixture>(std::move(tasks));
  return out;
}

fs::path smoltalk_file(const ChatDataPaths& d, const std::string& split) {
  const fs::path f = eval::tasks::SmolTalk::resolve(d.data_root / "smoltalk", split);
  return f.empty() ? d.data_root / "smoltalk" / (split + ".jsonl") : f;
}

std::vector<Part> val_parts(const ChatDataPaths& d) {
  return {
      {"SmolTalk(test)", smoltalk_file(d, "test"),
       [d] { return std::make_shared<eval::tasks::SmolTalk>(d.data_root / "smoltalk", "test"); }},
      {"MMLU(all, test, stop=5200)", d.data_root / "mmlu" / "data" / "test",
       [d] {
         return std::make_shared<eval::tasks::MMLU>(d.data_root / "mmlu" / "data", "test", TaskView{0, 5200, 1});
       }},
      {"GSM8K(main, test, stop=420)", d.data_root / "gsm8k" / "test.jsonl",
       [d] { return std::make_shared<eval::tasks::GSM8K>(d.data_root / "gsm8k", "test", TaskView{0, 420, 1}); }},
  };
}

Part smoltalk_train(const ChatDataPaths& d) {
  return {"SmolTalk(train)", smoltalk_file(d, "train"),
          [d] { return std::make_shared<eval::tasks::SmolTalk>(d.data_root / "smoltalk", "train"); }};
}
Part mmlu_aux(const ChatDataPaths& d, int64_t copies) {
  const fs::path folder = d.data_root / "mmlu" / "data" / "auxiliary_train";
  return {"MMLU(auxiliary_train)", folder, [folder] { return std::make_shared<eval::tasks::MMLUAuxiliaryTrain>(folder); },
          copies};
}
Part gsm8k_train(const ChatDataPaths& d, int64_t copies) {
  return {"GSM8K(main, train)", d.data_root / "gsm8k" / "train.jsonl",
          [d] { return std::make_shared<eval::tasks::GSM8K>(d.data_root / "gsm8k", "train"); }, copies};
}

ChatMixtures finish(const std::vector<Part>& train_parts, const ChatDataPaths& d, bool skip_missing,
                    const char* stage) {
  ChatMixtures m;
  Built train = build(train_parts, "train", m.missing);
  Built val = build(val_parts(d), "val", m.missing);
  if (!m.missing.empty()) {
    std::string list;
    for (const auto& s : m.missing) list += "\n  - " + s;
    if (!skip_missing)
      fail("{}: data missing for {} task(s):{}\nProvide the data (see --data-root) or pass --skip-missing-tasks to "
           "train without them",
           stage, m.missing.size(), list);
    log_warn("{}: skipping {} task(s) whose data is missing (--skip-missing-tasks):{}", stage, m.missing.size(), list);
  }
  NC_CHECK(train.dataset->size() > 0, "{}: the training mixture is empty (no task has data under {})", stage,
           d.data_root.string());
  NC_CHECK(val.dataset->size() > 0, "{}: the validation mixture is empty (no task has data under {})", stage,
           d.data_root.string());
  m.train = train.dataset;
  m.val = val.dataset;
  m.train_parts = std::move(train.names);
  m.val_parts = std::move(val.names);
  return m;
}

}  // namespace

ChatMixtures sft_mixtures(const ChatDataPaths& paths, int64_t mmlu_epochs, int64_t gsm8k_epochs, bool skip_missing) {
  const ChatDataPaths d = ChatDataPaths::with_defaults(paths);
  return finish({smoltalk_train(d), mmlu_aux(d, mmlu_epochs), gsm8k_train(d, gsm8k_epochs)}, d, skip_missing,
                "chat_sft");
}

ChatMixtures mid_mixtures(const ChatDataPaths& paths, bool skip_missing) {
  const ChatDataPaths d = ChatDataPaths::with_defaults(paths);
  // Both spelling tasks read the same ~100K-word list: load it once, on first use.
  auto cached = std::make_shared<std::shared_ptr<const std::vector<std::string>>>();
  auto words = [d, cached] {
    if (!*cached) *cached = std::make_shared<const std::vector<std::string>>(eval::tasks::load_word_list(d.word_list));
    return *cached;
  };
  std::vector<Part> parts = {
      smoltalk_train(d),
      mmlu_aux(d, 1),
      gsm8k_train(d, 1),
      {"CustomJSON(identity)", d.identity_conversations,
       [d] { return std::make_shared<eval::tasks::CustomJSON>(d.identity_conversations); }, 2},
      {"SimpleSpelling(size=200000, train)", d.word_list,
       [words] { return std::make_shared<eval::tasks::SimpleSpelling>(*words(), 200000, "train"); }},
      {"SpellingBee(size=80000, train)", d.word_list,
       [words] { return std::make_shared<eval::tasks::SpellingBee>(words(), 80000, "train"); }},
  };
  return finish(parts, d, skip_missing, "mid_train");
}

}  // namespace nanochat::train
