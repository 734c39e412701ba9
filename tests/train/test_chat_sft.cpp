// The chat stages on a tiny model (depth 2, C = 64, byte-level tokenizer of 265 tokens): SFT packing
// and its masks against hand-built rows, loader state round trips, the mid-training token stream,
// one chat-sft step against the same step done directly with GPT forward/backward + MuonAdamW,
// bitwise resume of chat-sft and mid-train, and a NaN loss stopping the run with its step.
#include <gtest/gtest.h>
#include <zlib.h>
#include <omp.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/eval/tasks/chat_eval_runner.h"
#include "nanochat/eval/tasks/chat_task_suite.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/optim/training_checkpoint.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/mid_token_stream.h"
#include "nanochat/train/sft_packing_loader.h"
#include "nanochat/train/sft_trainer.h"
#include "nanochat/train/training_plan.h"
#include "test_support.h"

using namespace nanochat;
using namespace nanochat::train;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const bool kSingleThreaded = [] {
  omp_set_num_threads(1);
  set_log_level(LogLevel::warn);
  return true;
}();

// Conversations held in memory.
class ListTask final : public eval::tasks::Task {
 public:
  explicit ListTask(std::vector<json> convs) : convs_(std::move(convs)) {}
  std::string name() const override { return "List"; }
  int64_t num_examples() const override { return static_cast<int64_t>(convs_.size()); }
  json get_example(int64_t i) const override { return convs_.at(static_cast<size_t>(i)); }

 private:
  std::vector<json> convs_;
};

json chat(const std::string& user, const json& assistant) {
  return {{"messages", {{{"role", "user"}, {"content", user}}, {{"role", "assistant"}, {"content", assistant}}}}};
}

// User text is upper case, assistant text lower case, tool output digits: a target's byte says who
// wrote it.
std::vector<json> synthetic_conversations(int n) {
  std::vector<json> out;
  for (int i = 0; i < n; ++i) {
    const std::string q(static_cast<size_t>(3 + i % 7), static_cast<char>('A' + i % 26));
    const std::string a(static_cast<size_t>(2 + (i * 5) % 11), static_cast<char>('a' + i % 26));
    if (i % 4 == 3) {
      json parts = json::array({{{"type", "text"}, {"text", a}},
                                {{"type", "python"}, {"text", "xy"}},
                                {{"type", "python_output"}, {"text", std::to_string(100 + i)}},
                                {{"type", "text"}, {"text", "ok"}}});
      out.push_back(chat(q, parts));
    } else {
      out.push_back(chat(q, a));
    }
  }
  return out;
}

const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::from_merges({});
  return tok;
}

eval::tasks::TaskPtr list_task(std::vector<json> convs) { return std::make_shared<ListTask>(std::move(convs)); }

// A base checkpoint (depth 2, trained at T = 32) with an optimizer that has taken one step, so its
// moments are not zero, in <root>/base/d2/. `model_seq` sets the model's own sequence_len (its rotary
// table is 10x that), which generation needs room in.
fs::path write_base_checkpoint(const fs::path& root, int64_t model_seq = 32) {
  const auto config =
      model_config_for_depth(2, ShapeArgs{32, 32, model_seq, "SL", static_cast<int64_t>(tokenizer().vocab_size())});
  model::GPT<float> m(config);
  init_weights(m, 7);
  optim::OptimizerSetup setup;
  optim::MuonAdamW opt(m.layout(), setup);
  for (auto& g : m.grads()) g = 0.01f;
  opt.step(m.params(), m.grads());
  m.zero_grads();
  model::CheckpointMeta meta;
  meta.step = 5;
  meta.model_config = config;
  meta.user_config = {{"embedding_lr", 0.3}, {"unembedding_lr", 0.008}, {"matrix_lr", 0.02}};
  model::TrainingProgress tp;
  tp.device_batch_size = 2;
  tp.max_seq_len = 32;
  tp.total_batch_size = 128;  // 2 micro-steps per step
  meta.training = tp;
  optim::save_training_checkpoint(root / "base" / "d2", meta, m, &opt, 0);
  tokenizer().save(root / "tokenizer");
  return root / "base";
}

ChatStageCommon common_for(const fs::path& root, const std::string& out) {
  ChatStageCommon c;
  c.tokenizer_dir = (root / "tokenizer").string();
  c.source_root = (root / "base").string();
  c.checkpoint_root = (root / out).string();
  c.train_dataset = list_task(synthetic_conversations(60));
  c.val_dataset = list_task(synthetic_conversations(9));
  return c;
}

ChatSftOptions sft_options(const fs::path& root) {
  ChatSftOptions o;
  o.device_type = "cpu";
  o.eval_every = 4;
  o.eval_tokens = 2 * 64;
  o.chatcore_every = -1;
  o.warmdown_ratio = 0.5;
  o.common = common_for(root, "sft");
  return o;
}

std::vector<float> weights_of(const fs::path& dir, int64_t step) {
  model::GPT<float> m(model::load_meta(model::meta_file(dir, step)).model_config);
  model::load_weights(model::model_file(dir, step), m);
  return {m.params().begin(), m.params().end()};
}

}  // namespace

TEST(SftPacking, RowsAreBestFitWithAssistantOnlyTargets) {
  // Three conversations of distinct lengths; the buffer cycles through them.
  json sys = {{"messages",
               {{{"role", "system"}, {"content", "SYS"}},
                {{"role", "user"}, {"content", "QQ"}},
                {{"role", "assistant"},
                 {"content", json::array({{{"type", "text"}, {"text", "ab"}},
                                          {{"type", "python"}, {"text", "cd"}},
                                          {{"type", "python_output"}, {"text", "77"}},
                                          {{"type", "text"}, {"text", "e"}}})}}}}};
  const std::vector<json> convs = {chat("AAAA", std::string(20, 'b')), chat("C", "d"), sys};
  std::vector<RenderedConversation> r;
  for (const auto& c : convs) r.push_back(render_conversation(tokenizer(), c));
  const size_t L = r[0].ids.size(), S = r[1].ids.size(), M = r[2].ids.size();
  ASSERT_GT(L, M);
  ASSERT_GT(M, S + 1);
  // Row capacity L + S + 1: the largest (conv 0), then the only one fitting the rest (conv 1), then 1 pad.
  SftLoaderOptions o;
  o.device_batch_size = 2;
  o.max_seq_len = static_cast<int64_t>(L + S);
  SftPackingLoader loader(tokenizer(), list_task(convs), o);
  const ChatBatch b = loader.next();
  const TokenId bos = tokenizer().bos_id();
  std::vector<TokenId> row;
  std::vector<uint8_t> mask;
  for (int k : {0, 1}) {
    row.insert(row.end(), r[static_cast<size_t>(k)].ids.begin(), r[static_cast<size_t>(k)].ids.end());
    mask.insert(mask.end(), r[static_cast<size_t>(k)].mask.begin(), r[static_cast<size_t>(k)].mask.end());
  }
  row.push_back(bos);
  mask.push_back(0);
  const auto T = static_cast<size_t>(o.max_seq_len);
  for (size_t j = 0; j < T; ++j) {
    EXPECT_EQ(b.batch.inputs[j], row[j]) << j;
    EXPECT_EQ(b.batch.targets[j], mask[j + 1] ? static_cast<int32_t>(row[j + 1]) : -1) << j;
  }
  // Row 1: the buffer's next largest is another copy of conv 0, then conv 1 again.
  EXPECT_EQ(b.batch.inputs[T], static_cast<int32_t>(bos));
  EXPECT_EQ(std::vector<int32_t>(b.batch.inputs.begin() + static_cast<long>(T), b.batch.inputs.end()),
            std::vector<int32_t>(b.batch.inputs.begin(), b.batch.inputs.begin() + static_cast<long>(T)));

  // The system/tool conversation alone in a row: supervised = assistant text, the python call with
  // its delimiters and <|assistant_end|>; never system, user, or the tool output.
  SftLoaderOptions o2;
  o2.device_batch_size = 1;
  o2.max_seq_len = static_cast<int64_t>(M) + 3;
  SftPackingLoader alone(tokenizer(), list_task({sys}), o2);
  const ChatBatch c = alone.next();
  std::string supervised;
  for (int32_t t : c.batch.targets)
    if (t >= 0) supervised += tokenizer().decode(std::vector<TokenId>{static_cast<TokenId>(t)});
  EXPECT_EQ(supervised, "ab<|python_start|>cd<|python_end|>e<|assistant_end|>");
}

TEST(SftPacking, TargetsComeOnlyFromAssistantsAndProgressCountsConsumption) {
  const auto convs = synthetic_conversations(40);
  SftLoaderOptions o;
  o.device_batch_size = 3;
  o.max_seq_len = 48;
  SftPackingLoader loader(tokenizer(), list_task(convs), o);
  const TokenId bos = tokenizer().bos_id();
  double last_progress = 0;
  int batches = 0;
  for (bool done = false; !done; ++batches) {
    const ChatBatch b = loader.next();
    for (int64_t row = 0; row < 3; ++row) EXPECT_EQ(b.batch.inputs[static_cast<size_t>(row * 48)], bos);
    for (int32_t t : b.batch.targets) {
      if (t < 0) continue;
      const std::string s = tokenizer().decode(std::vector<TokenId>{static_cast<TokenId>(t)});
      const bool assistant = (s.size() == 1 && s[0] >= 'a' && s[0] <= 'z') || s == "<|assistant_end|>" ||
                             s == "<|python_start|>" || s == "<|python_end|>";
      ASSERT_TRUE(assistant) << "supervised token '" << s << "'";
    }
    EXPECT_GE(b.approx_progress, last_progress);
    last_progress = b.approx_progress;
    done = b.last_step;
    ASSERT_LT(batches, 100);
  }
  EXPECT_GE(last_progress, 1.0);
  EXPECT_GE(loader.state().consumed, 40);
}

TEST(SftPacking, StateRestoresTheExactStream) {
  SftLoaderOptions o;
  o.device_batch_size = 2;
  o.max_seq_len = 40;
  o.buffer_size = 7;
  auto task = list_task(synthetic_conversations(25));
  SftPackingLoader a(tokenizer(), task, o);
  for (int i = 0; i < 3; ++i) a.next();
  const SftLoaderState s = a.state();
  EXPECT_EQ(SftLoaderState::from_json(json::parse(s.to_json().dump()), "test"), s);
  EXPECT_EQ(s.buffer.size(), 7u);
  SftPackingLoader b(tokenizer(), task, o);
  b.restore(s);
  for (int i = 0; i < 12; ++i) {
    const ChatBatch x = a.next(), y = b.next();
    ASSERT_EQ(x.batch.inputs, y.batch.inputs) << i;
    ASSERT_EQ(x.batch.targets, y.batch.targets) << i;
    ASSERT_EQ(x.last_step, y.last_step);
    ASSERT_EQ(x.approx_progress, y.approx_progress);
  }
  SftLoaderState bad = s;
  bad.buffer[0] = 999;
  EXPECT_THROW(b.restore(bad), Error);
}

TEST(MidStream, PopsBTPlusOneTokensOfTheRenderedStream) {
  const auto convs = synthetic_conversations(12);
  std::vector<TokenId> stream;
  for (int epoch = 0; epoch < 3; ++epoch)
    for (const auto& c : convs) {
      const auto r = render_conversation(tokenizer(), c);
      stream.insert(stream.end(), r.ids.begin(), r.ids.end());
    }
  SftLoaderOptions o;
  o.device_batch_size = 2;
  o.max_seq_len = 16;
  MidTokenStream mid(tokenizer(), list_task(convs), o);
  size_t pos = 0;
  bool wrapped = false;
  for (int k = 0; k < 8; ++k) {
    const ChatBatch b = mid.next();
    for (size_t i = 0; i < 32; ++i) {
      ASSERT_EQ(b.batch.inputs[i], static_cast<int32_t>(stream[pos + i])) << k << " " << i;
      ASSERT_EQ(b.batch.targets[i], static_cast<int32_t>(stream[pos + i + 1])) << k << " " << i;
    }
    pos += 33;  // the extra token is consumed, not reused
    wrapped |= b.last_step;
  }
  EXPECT_TRUE(wrapped);  // 8 * 33 tokens run past one epoch of 12 short conversations
  // Restore.
  MidTokenStream a(tokenizer(), list_task(convs), o), b(tokenizer(), list_task(convs), o);
  a.next();
  const auto s = a.state();
  EXPECT_EQ(MidStreamState::from_json(json::parse(s.to_json().dump()), "t"), s);
  b.restore(s);
  for (int k = 0; k < 4; ++k) ASSERT_EQ(a.next().batch.inputs, b.next().batch.inputs);
}

TEST(ChatSchedules, FollowTheSpec) {
  EXPECT_DOUBLE_EQ(sft_lr_multiplier(0.2, 0.0, 0.5, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(sft_lr_multiplier(0.5, 0.0, 0.5, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(sft_lr_multiplier(0.75, 0.0, 0.5, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(sft_lr_multiplier(1.0, 0.0, 0.5, 0.2), 0.2);
  EXPECT_DOUBLE_EQ(sft_lr_multiplier(0.05, 0.1, 0.5, 0.0), (0.05 + 1e-8) / 0.1);  // the original's +1e-8
  EXPECT_DOUBLE_EQ(mid_lr_multiplier(0.79), 1.0);
  EXPECT_NEAR(mid_lr_multiplier(0.9), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(chat_muon_momentum(0), 0.85);
  EXPECT_NEAR(chat_muon_momentum(150), 0.90, 1e-12);
  EXPECT_DOUBLE_EQ(chat_muon_momentum(300), 0.95);
  EXPECT_DOUBLE_EQ(chat_muon_momentum(1000), 0.95);
}

// Runs chat-sft with a checkpoint every step, then redoes step 1 -> 2 by hand from the step-1
// checkpoint (weights, optimizer, loader state) with GPT forward/backward + MuonAdamW, and compares
// with the step-2 weights bit for bit.
TEST(ChatSft, OneStepEqualsTheBaseTrainingPath) {
  test::TempDir dir;
  write_base_checkpoint(dir.path());
  ChatSftOptions o = sft_options(dir.path());
  o.common.save_every = 1;
  const ChatTrainResult r = run_chat_sft(o);
  ASSERT_GE(r.final_step, 3);
  const fs::path out = r.checkpoint_dir;
  EXPECT_EQ(out, dir.path() / "sft" / "d2");
  const auto meta = model::load_meta(model::meta_file(out, r.final_step));
  EXPECT_EQ(meta.model_config.sequence_len, 32);
  EXPECT_EQ(meta.user_config["init_lr_frac"], 0.8);
  ASSERT_TRUE(meta.val_bpb.has_value());
  EXPECT_TRUE(std::isfinite(*meta.val_bpb));

  model::GPT<float> m(model::load_meta(model::meta_file(out, 1)).model_config);
  model::load_weights(model::model_file(out, 1), m);
  optim::MuonAdamW opt(m.layout(), optim::OptimizerSetup{});
  opt.load_state(model::optim_file(out, 1, 0));
  const json st = json::parse(read_file(out / "chat_state_000001.json"));
  SftLoaderOptions lo;
  lo.device_batch_size = 2;
  lo.max_seq_len = 32;
  SftPackingLoader loader(tokenizer(), o.common.train_dataset, lo);
  loader.restore(SftLoaderState::from_json(st["loader"], "state"));
  double progress = st["progress"].get<double>();
  ChatBatch batch = loader.next();
  model::Activations<float> acts(m.config(), 2, 32);
  acts.fuse_lm_head_backward = true;
  std::vector<int64_t> idx, tgt;
  double loss = 0;
  for (int micro = 0; micro < 2; ++micro) {
    idx.assign(batch.batch.inputs.begin(), batch.batch.inputs.end());
    tgt.assign(batch.batch.targets.begin(), batch.batch.targets.end());
    loss = m.forward(acts, idx.data(), tgt.data());
    m.backward(acts, 0.5f);
    batch = loader.next();
    progress = std::max(progress, batch.approx_progress);
  }
  double wd = 0;
  for (const auto& g : opt.groups())
    if (g.kind == model::OptimKind::Muon) wd = g.weight_decay;
  opt.apply_schedule(sft_lr_multiplier(progress, 0.0, 0.5, 0.0), chat_muon_momentum(1), wd);
  opt.step(m.params(), m.grads());
  ASSERT_EQ(r.steps.size(), static_cast<size_t>(r.final_step));
  EXPECT_EQ(r.steps[1].train_loss, loss);
  const std::vector<float> expected(m.params().begin(), m.params().end());
  EXPECT_EQ(weights_of(out, 2), expected);
  // The base run's optimizer was warm-started: SFT's lrs are the fresh ones times init_lr_frac.
  const auto groups = optim::default_param_groups(m.layout(), {0.008, 0.3, 0.02, 0.0, 0.5});
  for (size_t g = 0; g < groups.size(); ++g) EXPECT_DOUBLE_EQ(opt.groups()[g].initial_lr, groups[g].lr * 0.8) << g;
}

TEST(ChatSft, ResumeIsBitwiseExact) {
  test::TempDir dir;
  write_base_checkpoint(dir.path());
  ChatSftOptions o = sft_options(dir.path());
  o.common.save_every = 3;
  const ChatTrainResult full = run_chat_sft(o);
  ASSERT_GT(full.final_step, 4);
  const std::vector<float> final_weights = weights_of(full.checkpoint_dir, full.final_step);

  ChatSftOptions again = o;
  again.common.resume_from_step = 3;
  const ChatTrainResult resumed = run_chat_sft(again);
  ASSERT_EQ(resumed.final_step, full.final_step);
  ASSERT_EQ(resumed.steps.size(), full.steps.size() - 3);
  for (size_t i = 0; i < resumed.steps.size(); ++i) {
    EXPECT_EQ(resumed.steps[i].step, full.steps[i + 3].step);
    EXPECT_EQ(resumed.steps[i].train_loss, full.steps[i + 3].train_loss) << i;
    EXPECT_EQ(resumed.steps[i].smooth_loss, full.steps[i + 3].smooth_loss) << i;
  }
  EXPECT_EQ(weights_of(resumed.checkpoint_dir, resumed.final_step), final_weights);
  EXPECT_EQ(resumed.val_bpb, full.val_bpb);
}

TEST(ChatSft, NanLossStopsNamingTheStep) {
  test::TempDir dir;
  write_base_checkpoint(dir.path());
  ChatSftOptions o = sft_options(dir.path());
  o.common.on_step_begin = [](int64_t step, model::GPT<float>& m) {
    if (step == 2) m.param("lm_head.weight")[0] = std::nanf("");
  };
  try {
    run_chat_sft(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged at step 2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "sft" / "d2"));  // no checkpoint written for a diverged run
}

TEST(ChatSft, MissingTaskDataIsAnErrorUnlessSkipped) {
  test::TempDir dir;
  write_base_checkpoint(dir.path());
  ChatSftOptions o = sft_options(dir.path());
  o.common.train_dataset = nullptr;
  o.common.val_dataset = nullptr;
  o.common.data.data_root = dir.path() / "task_data";
  fs::create_directories(dir.path() / "task_data" / "smoltalk");
  std::string lines;  // SmolTalk rows hold string contents only
  for (int i = 0; i < 30; ++i) lines += chat(std::string(static_cast<size_t>(2 + i % 5), 'Q'), "answer " + std::to_string(i)).dump() + "\n";
  write_file_atomic(dir.path() / "task_data" / "smoltalk" / "train.jsonl", lines);
  write_file_atomic(dir.path() / "task_data" / "smoltalk" / "test.jsonl", lines);
  try {
    run_chat_sft(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MMLU(auxiliary_train)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GSM8K(main, train)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--skip-missing-tasks"), std::string::npos) << msg;
  }
  o.common.skip_missing_tasks = true;
  o.num_iterations = 3;
  const ChatTrainResult r = run_chat_sft(o);
  EXPECT_EQ(r.train_parts, std::vector<std::string>{"SmolTalk(train)"});
  EXPECT_EQ(r.missing_tasks.size(), 4u);  // MMLU aux, GSM8K train, MMLU test, GSM8K test
  EXPECT_EQ(r.final_step, 1);  // num_iterations counts batches (2 per step after the prefetch): the 3rd ends the run
}

// Small local copies of the five ChatCORE tasks' files, short enough for the tiny model's context.
fs::path write_chat_task_data(const fs::path& root) {
  const fs::path wk = root / "core-eval" / "eval_data" / "world_knowledge";
  fs::create_directories(wk);
  std::string arc;
  for (int i = 0; i < 5; ++i)
    arc += json{{"query", "Question: " + std::to_string(i) + "+1?"}, {"choices", {"x", "y", "z"}}, {"gold", i % 3}}.dump() + "\n";
  write_file_atomic(wk / "arc_easy.jsonl", arc);
  write_file_atomic(wk / "arc_challenge.jsonl", arc);
  fs::create_directories(root / "mmlu" / "data" / "test");
  write_file_atomic(root / "mmlu" / "data" / "test" / "toy_test.csv", "q1,a,b,c,d,A\nq2,a,b,c,d,B\nq3,a,b,c,d,C\nq4,a,b,c,d,D\n");
  fs::create_directories(root / "gsm8k");
  write_file_atomic(root / "gsm8k" / "test.jsonl",
                    json{{"question", "1+1?"}, {"answer", "1+1=<<1+1=2>>2\n#### 2"}}.dump() + "\n" +
                        json{{"question", "2+2?"}, {"answer", "#### 4"}}.dump() + "\n");
  fs::create_directories(root / "humaneval");
  const std::string he = json{{"task_id", "HumanEval/0"},
                              {"prompt", "def f(x):\n"},
                              {"canonical_solution", "    return x + 1\n"},
                              {"test", "def check(candidate):\n    assert candidate(1) == 2\n"},
                              {"entry_point", "f"}}
                             .dump() +
                         "\n";
  gzFile gz = gzopen((root / "humaneval" / "HumanEval.jsonl.gz").c_str(), "wb");
  EXPECT_NE(gz, nullptr);
  gzwrite(gz, he.data(), static_cast<unsigned>(he.size()));
  gzclose(gz);
  return root;
}

TEST(ChatSft, ChatCoreDuringSftOnTheCurrentWeights) {
  test::TempDir dir;
  write_base_checkpoint(dir.path(), 64);  // greedy generation of 512 tokens needs a 640-position rotary table
  ChatSftOptions o = sft_options(dir.path());
  o.common.data.data_root = write_chat_task_data(dir.path() / "task_data");
  o.chatcore_every = 2;
  o.chatcore_max_cat = 3;
  o.chatcore_max_sample = 1;
  const ChatTrainResult r = run_chat_sft(o);
  // Every 2nd step after step 0, and the last step once.
  std::vector<int64_t> want_steps;
  for (int64_t k = 2; k < r.final_step; k += 2) want_steps.push_back(k);
  want_steps.push_back(r.final_step);
  std::vector<int64_t> got_steps;
  for (const auto& c : r.chatcore) got_steps.push_back(c.step);
  EXPECT_EQ(got_steps, want_steps);
  const double base[] = {0.25, 0.25, 0.25, 0.0, 0.0};
  const char* names[] = {"ARC-Easy", "ARC-Challenge", "MMLU", "GSM8K", "HumanEval"};
  for (const auto& c : r.chatcore) {
    ASSERT_EQ(c.accuracy.size(), 5u);
    EXPECT_FALSE(c.partial);
    double all = 0, cat = 0;
    for (int t = 0; t < 5; ++t) {
      const double a = c.accuracy.at(names[t]);
      EXPECT_GE(a, 0.0);
      EXPECT_LE(a, 1.0);
      all += (a - base[t]) / (1 - base[t]);
      if (t < 3) cat += (a - base[t]) / (1 - base[t]);
    }
    EXPECT_NEAR(c.chatcore, all / 5, 1e-12);
    EXPECT_NEAR(c.chatcore_cat, cat / 3, 1e-12);
  }
  // The last evaluation's categorical scores are the final checkpoint's (a weak check on a tiny model at
  // chance, but it fails if the evaluation read other weights and their picks differ).
  model::GPT<float> m(model::load_meta(model::meta_file(r.checkpoint_dir, r.final_step)).model_config);
  model::load_weights(model::model_file(r.checkpoint_dir, r.final_step), m);
  const auto decoder = engine::make_cpu_decoder(m);
  for (const char* name : {"ARC-Easy", "MMLU"}) {
    const auto task = eval::tasks::make_chat_task(name, o.common.data.data_root, "");
    const auto t = eval::tasks::run_categorical_eval(*decoder, tokenizer(), *task, 3, 2);
    EXPECT_EQ(t.accuracy(), r.chatcore.back().accuracy.at(name)) << name;
  }

  // A task without data stops the run before training, naming it; --skip-missing-tasks scores the rest.
  fs::remove(o.common.data.data_root / "humaneval" / "HumanEval.jsonl.gz");
  o.common.checkpoint_root = (dir.path() / "sft2").string();
  try {
    run_chat_sft(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("HumanEval"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HumanEval.jsonl.gz not found"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "sft2"));
  // Data that exists but does not parse also stops the run before training, not at the first evaluation.
  const fs::path gsm = o.common.data.data_root / "gsm8k" / "test.jsonl";
  const std::string good_gsm = read_file(gsm);
  write_file_atomic(gsm, "{\"question\": \"1+1?\"}\n");
  try {
    run_chat_sft(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GSM8K"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "sft2"));
  write_file_atomic(gsm, good_gsm);
  o.common.skip_missing_tasks = true;
  const ChatTrainResult partial = run_chat_sft(o);
  ASSERT_FALSE(partial.chatcore.empty());
  EXPECT_TRUE(partial.chatcore.back().partial);
  EXPECT_EQ(partial.chatcore.back().accuracy.count("HumanEval"), 0u);
  EXPECT_EQ(partial.chatcore.back().accuracy.size(), 4u);
}

TEST(MidTrain, TrainsSavesAndResumesExactly) {
  test::TempDir dir;
  write_base_checkpoint(dir.path());
  MidTrainOptions o;
  o.device_type = "cpu";
  o.max_seq_len = 32;
  o.device_batch_size = 2;
  o.total_batch_size = 128;
  o.eval_every = 3;
  o.eval_tokens = 128;
  o.common = common_for(dir.path(), "mid");
  o.common.save_every = 2;
  const ChatTrainResult full = run_mid_train(o);
  ASSERT_GT(full.final_step, 3);
  EXPECT_TRUE(fs::exists(model::model_file(dir.path() / "mid" / "d2", full.final_step)));
  for (const auto& s : full.steps) EXPECT_TRUE(std::isfinite(s.train_loss));
  EXPECT_LT(full.steps.back().train_loss, full.steps.front().train_loss);
  const auto final_weights = weights_of(full.checkpoint_dir, full.final_step);
  MidTrainOptions again = o;
  again.common.resume_from_step = 2;
  const ChatTrainResult resumed = run_mid_train(again);
  ASSERT_EQ(resumed.final_step, full.final_step);
  for (size_t i = 0; i < resumed.steps.size(); ++i)
    EXPECT_EQ(resumed.steps[i].train_loss, full.steps[i + 2].train_loss) << i;
  EXPECT_EQ(weights_of(resumed.checkpoint_dir, resumed.final_step), final_weights);
}
