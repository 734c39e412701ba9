// CORE evaluation: bundle parsing, prompt rendering per task type, answer spans, few-shot selection
// against the CPython oracle (spec Appendix A.7), scoring decisions, aggregation, and a run of the tiny
// golden model on a few real tasks of the shared bundle.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/eval/core_eval.h"
#include "nanochat/model/gpt.h"
#include "test_support.h"

using namespace nanochat;
using namespace nanochat::eval;

namespace {

CoreTaskConfig make_task(CoreTaskType type, std::string delim = " ", int shots = 0) {
  CoreTaskConfig t;
  t.label = "t";
  t.type = type;
  t.continuation_delimiter = std::move(delim);
  t.num_fewshot = shots;
  return t;
}

CoreExample mc(std::string q, std::vector<std::string> choices, int64_t gold) {
  CoreExample e;
  e.query = std::move(q);
  e.choices = std::move(choices);
  e.gold = gold;
  return e;
}

}  // namespace

TEST(CoreYaml, ParsesTheBundleSubset) {
  const std::string text =
      "# comment\nother: 1\nicl_tasks:\n-\n  label: a\n  dataset_uri: x/a.jsonl\n  num_fewshot: [10, 5]\n"
      "  icl_task_type: language_modeling\n  continuation_delimiter: \"\\nAnswer: \" # note\n  has_categories: true\n"
      "- label: 'b''s'\n  dataset_uri: x/b.jsonl # c\n  num_fewshot: [0]\n  icl_task_type: schema\n";
  const auto tasks = parse_core_yaml(text, "core.yaml");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].label, "a");
  EXPECT_EQ(tasks[0].dataset_uri, "x/a.jsonl");
  EXPECT_EQ(tasks[0].num_fewshot, 10);
  EXPECT_EQ(tasks[0].type, CoreTaskType::kLanguageModeling);
  EXPECT_EQ(tasks[0].continuation_delimiter, "\nAnswer: ");
  EXPECT_EQ(tasks[1].label, "b's");
  EXPECT_EQ(tasks[1].dataset_uri, "x/b.jsonl");
  EXPECT_EQ(tasks[1].num_fewshot, 0);
  EXPECT_EQ(tasks[1].type, CoreTaskType::kSchema);
  EXPECT_EQ(tasks[1].continuation_delimiter, " ");
}

TEST(CoreYaml, BadInputNamesTheProblem) {
  try {
    parse_core_yaml("icl_tasks:\n-\n  label: a\n  dataset_uri: u\n  num_fewshot: [0]\n  icl_task_type: cloze\n", "c.yaml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cloze"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_core_yaml("icl_tasks:\n-\n  label: a\n  num_fewshot: [0]\n  icl_task_type: schema\n", "c"), Error);
  EXPECT_THROW(parse_core_yaml("tasks:\n", "c"), Error);
}

TEST(CoreCsv, QuotedFieldsAndBaselines) {
  const auto m = parse_eval_meta_csv(
      "Eval Task,Desc,Random baseline\nx,\"a, \"\"quoted\"\"\nline\",25\ny,plain,9.1\n", "m.csv");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at("x"), 25.0);
  EXPECT_EQ(m.at("y"), 9.1);
  EXPECT_THROW(parse_eval_meta_csv("Eval Task,Other\nx,1\n", "m.csv"), Error);
  EXPECT_THROW(parse_eval_meta_csv("Eval Task,Random baseline\nx,abc\n", "m.csv"), Error);
}

TEST(CoreJsonl, RecordsPerTypeAndErrors) {
  const auto m = parse_task_jsonl("{\"query\":\"Q\",\"choices\":[\"a\",5,1.5],\"gold\":2}\n\n", CoreTaskType::kMultipleChoice, "f");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].choices, (std::vector<std::string>{"a", "5", "1.5"}));
  EXPECT_EQ(m[0].gold, 2);
  const auto s = parse_task_jsonl(" {\"context_options\":[\"A\",\"B\"],\"continuation\":\"c\",\"gold\":1} ", CoreTaskType::kSchema, "f");
  EXPECT_EQ(s[0].context_options.size(), 2u);
  EXPECT_EQ(s[0].continuation, "c");
  const auto l = parse_task_jsonl("{\"context\":\"x\",\"continuation\":\"y\",\"category\":\"k\"}", CoreTaskType::kLanguageModeling, "f");
  EXPECT_EQ(l[0].context, "x");
  EXPECT_THROW(parse_task_jsonl("{\"query\":\"Q\",\"choices\":[\"a\"],\"gold\":1}", CoreTaskType::kMultipleChoice, "f"), Error);
  EXPECT_THROW(parse_task_jsonl("{\"query\":\"Q\"}", CoreTaskType::kMultipleChoice, "f"), Error);
  EXPECT_THROW(parse_task_jsonl("{bad", CoreTaskType::kLanguageModeling, "f"), Error);
}

TEST(CoreBundleFiles, SharedBundleHasThe22Tasks) {
  NC_REQUIRE_SHARED(dir, "data/core-eval/core.yaml");
  const auto b = load_core_bundle(dir.parent_path());
  ASSERT_EQ(b.tasks.size(), 22u);
  EXPECT_EQ(b.tasks[0].label, "hellaswag_zeroshot");
  EXPECT_EQ(b.tasks[1].label, "jeopardy");
  EXPECT_EQ(b.tasks[1].continuation_delimiter, "\nAnswer: ");
  EXPECT_EQ(b.tasks[1].num_fewshot, 10);
  EXPECT_EQ(b.tasks[11].type, CoreTaskType::kSchema);
  EXPECT_EQ(b.tasks[21].label, "bigbench_language_identification");
  EXPECT_EQ(b.random_baseline("commonsense_qa"), 20.0);
  EXPECT_EQ(b.random_baseline("bigbench_language_identification"), 9.1);
  EXPECT_EQ(b.random_baseline("boolq"), 62.0);
  EXPECT_THROW(b.random_baseline("nope"), Error);
}

TEST(CoreBundleFiles, EveryPresentTaskFileParsesAndRenders) {
  NC_REQUIRE_SHARED(dir, "data/core-eval/core.yaml");
  const auto b = load_core_bundle(dir.parent_path());
  const Tokenizer tok = Tokenizer::from_merges({});
  std::vector<std::string> missing;
  for (const auto& t : b.tasks) {
    if (!std::filesystem::exists(b.data_path(t))) {
      missing.push_back(t.label);
      continue;
    }
    const auto recs = load_task_examples(b, t);
    EXPECT_GT(recs.size(), 20u) << t.label;
    // The first few prepared items render and tokenize (LM prefix checks included).
    const auto ex = prepare_task_examples(recs, 30);
    for (size_t i = 0; i < 3; ++i) {
      std::vector<const CoreExample*> shots;
      for (size_t j : select_fewshot(ex.size(), i, t.num_fewshot)) shots.push_back(&ex[j]);
      const auto prompts = render_prompts(t, ex[i], shots);
      const auto seqs = tokenize_prompts(t.type, prompts, tok);
      for (size_t s = 0; s < seqs.tokens.size(); ++s) {
        EXPECT_GE(seqs.start[s], 1) << t.label;
        EXPECT_LE(seqs.start[s], seqs.end[s]) << t.label;
      }
    }
  }
  EXPECT_EQ(missing, (std::vector<std::string>{"hellaswag_zeroshot", "hellaswag", "squad", "coqa"}));
}

TEST(CoreBundleFiles, RealPromptsMatchThePythonOracle) {
  // oracle (CPython 3.11, the spec's pipeline): records shuffled with Random(1337), first 30 kept,
  // item 5 with Random(1239).sample shots; MC prompt of its last choice, LM prompt_with.
  NC_REQUIRE_SHARED(dir, "data/core-eval/core.yaml");
  const auto b = load_core_bundle(dir.parent_path());
  struct Case {
    const char* label;
    size_t bytes;
    const char *head, *tail;
  };
  const Case cases[] = {
      {"arc_easy", 1770, "Question: A student ties a string around a weight ", " atmosphere?\nAnswer: plant transpiration"},
      {"jeopardy", 1289, "WORD ORIGINS: From the Italian for bench, its a su", "he science of numbers\nAnswer: arithmetic"},
  };
  for (const auto& c : cases) {
    const auto it = std::find_if(b.tasks.begin(), b.tasks.end(), [&](const auto& t) { return t.label == c.label; });
    ASSERT_NE(it, b.tasks.end());
    const auto ex = prepare_task_examples(load_task_examples(b, *it), 30);
    std::vector<const CoreExample*> shots;
    for (size_t j : select_fewshot(ex.size(), 5, it->num_fewshot)) shots.push_back(&ex[j]);
    const auto prompts = render_prompts(*it, ex[5], shots);
    const std::string& p = prompts.back();
    EXPECT_EQ(p.size(), c.bytes) << c.label;
    EXPECT_EQ(p.substr(0, std::string(c.head).size()), c.head) << c.label;
    EXPECT_EQ(p.substr(p.size() - std::string(c.tail).size()), c.tail) << c.label;
  }
}

TEST(CorePrompts, MultipleChoiceMatchesTheSpecExample) {
  const auto task = make_task(CoreTaskType::kMultipleChoice, "\nAnswer: ", 2);
  const CoreExample s1 = mc("Q1", {"a", "b"}, 1), s2 = mc("Q2", {"c", "d"}, 0), item = mc("Q3", {"X", "Y"}, 0);
  const std::vector<const CoreExample*> shots{&s1, &s2};
  const auto p = render_prompts(task, item, shots);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "Q1\nAnswer: b\n\nQ2\nAnswer: c\n\nQ3\nAnswer: X");
  EXPECT_EQ(p[1], "Q1\nAnswer: b\n\nQ2\nAnswer: c\n\nQ3\nAnswer: Y");
}

TEST(CorePrompts, Schema) {
  const auto task = make_task(CoreTaskType::kSchema);
  CoreExample shot;
  shot.context_options = {"The cat", "The dog"};
  shot.continuation = "barked.";
  shot.gold = 1;
  CoreExample item;
  item.context_options = {"A", "B"};
  item.continuation = "ran.";
  const std::vector<const CoreExample*> shots{&shot};
  const auto p = render_prompts(task, item, shots);
  EXPECT_EQ(p, (std::vector<std::string>{"The dog barked.\n\nA ran.", "The dog barked.\n\nB ran."}));
}

TEST(CorePrompts, LanguageModelingStripsContextsAndThePromptWithout) {
  const auto task = make_task(CoreTaskType::kLanguageModeling);
  CoreExample shot;
  shot.context = "\u3000 ctx1 \n";
  shot.continuation = "c1";
  CoreExample item;
  item.context = "\tctx2  ";
  item.continuation = "c2 ";
  const std::vector<const CoreExample*> shots{&shot};
  const auto p = render_prompts(task, item, shots);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "ctx1 c1\n\nctx2");
  EXPECT_EQ(p[1], "ctx1 c1\n\nctx2 c2 ");
  EXPECT_EQ(python_strip("\xc2\x85x\xe2\x80\xa8 y\xc2\xa0"), "x\xe2\x80\xa8 y");
  EXPECT_EQ(python_strip(" \t "), "");
}

TEST(CorePrompts, AnswerSpans) {
  const Tokenizer tok = Tokenizer::from_merges({});
  const TokenId bos = tok.bos_id();
  const std::vector<std::string> mc_prompts{"ab X", "ab Yz"};
  const auto m = tokenize_prompts(CoreTaskType::kMultipleChoice, mc_prompts, tok);
  ASSERT_EQ(m.tokens.size(), 2u);
  EXPECT_EQ(m.tokens[0].front(), bos);
  EXPECT_EQ(m.start, (std::vector<int64_t>{4, 4}));  // BOS + "ab " shared
  EXPECT_EQ(m.end, (std::vector<int64_t>{5, 6}));
  const std::vector<std::string> same{"ab", "ab"};
  EXPECT_EQ(tokenize_prompts(CoreTaskType::kMultipleChoice, same, tok).start, (std::vector<int64_t>{3, 3}));
  const std::vector<std::string> schema{"A x end.", "BB end."};
  const auto s = tokenize_prompts(CoreTaskType::kSchema, schema, tok);
  EXPECT_EQ(s.end, (std::vector<int64_t>{9, 8}));
  EXPECT_EQ(s.start, (std::vector<int64_t>{4, 3}));  // common suffix " end." (5 bytes)
  const std::vector<std::string> lm{"ctx", "ctx done"};
  const auto l = tokenize_prompts(CoreTaskType::kLanguageModeling, lm, tok);
  ASSERT_EQ(l.tokens.size(), 1u);
  EXPECT_EQ(l.start[0], 4);
  EXPECT_EQ(l.end[0], 9);
  const std::vector<std::string> not_prefix{"ctx", "cx done"};
  EXPECT_THROW(tokenize_prompts(CoreTaskType::kLanguageModeling, not_prefix, tok), Error);
}

TEST(CorePrompts, TruncationKeepsTheTail) {
  ScoredSequences s;
  s.tokens = {{1, 2, 3, 4, 5, 6}, {1, 2, 3}};
  s.start = {4, 1};
  s.end = {6, 3};
  truncate_sequences(s, 4);
  EXPECT_EQ(s.tokens[0], (std::vector<TokenId>{3, 4, 5, 6}));
  EXPECT_EQ(s.start, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(s.end, (std::vector<int64_t>{4, 3}));
  ScoredSequences bad;
  bad.tokens = {{1, 2, 3, 4}};
  bad.start = {1};
  bad.end = {4};
  EXPECT_THROW(truncate_sequences(bad, 2), Error);
}

TEST(CoreFewShot, MatchesThePythonOracle) {
  // Spec A.7: Random(1234+idx).sample(all indices but idx, k).
  EXPECT_EQ(select_fewshot(100, 0, 10), (std::vector<size_t>{57, 15, 1, 12, 75, 5, 86, 89, 11, 13}));
  EXPECT_EQ(select_fewshot(100, 0, 3), (std::vector<size_t>{57, 15, 1}));
  EXPECT_EQ(select_fewshot(100, 7, 10), (std::vector<size_t>{78, 64, 98, 28, 37, 33, 25, 92, 63, 71}));
  EXPECT_EQ(select_fewshot(20, 0, 10), (std::vector<size_t>{15, 4, 1, 3, 19, 13, 10, 17, 11, 2}));
  EXPECT_TRUE(select_fewshot(5, 2, 0).empty());
  EXPECT_THROW(select_fewshot(10, 0, 10), Error);  // only 9 others: Python's sample raises
}

TEST(CoreFewShot, ShuffleAndTruncateUseRandom1337) {
  std::vector<CoreExample> recs;
  for (int i = 0; i < 10; ++i) recs.push_back(mc(std::to_string(i), {"a"}, 0));
  const auto all = prepare_task_examples(recs, -1);
  std::vector<std::string> order;
  for (const auto& e : all) order.push_back(e.query);
  EXPECT_EQ(order, (std::vector<std::string>{"0", "3", "7", "2", "1", "6", "4", "5", "8", "9"}));
  const auto four = prepare_task_examples(recs, 4);
  ASSERT_EQ(four.size(), 4u);
  EXPECT_EQ(four[2].query, "7");
}

TEST(CoreScoring, CenteredAccuracy) {
  EXPECT_DOUBLE_EQ(centered_accuracy(0.25, 25.0), 0.0);
  EXPECT_DOUBLE_EQ(centered_accuracy(1.0, 25.0), 1.0);
  EXPECT_DOUBLE_EQ(centered_accuracy(0.5, 0.0), 0.5);
  EXPECT_NEAR(centered_accuracy(0.81, 62.0), (0.81 - 0.62) / 0.38, 1e-15);
  EXPECT_LT(centered_accuracy(0.1, 50.0), 0.0);
  EXPECT_THROW(centered_accuracy(0.5, 100.0), Error);
}

TEST(CoreScoring, DecisionRules) {
  ScoredSequences s;
  s.tokens = {{0, 1, 2, 3}, {0, 1, 2, 3}};
  s.start = {2, 3};
  s.end = {4, 4};
  std::vector<SequenceScores> sc(2);
  sc[0].loss = {9, 1.0, 3.0, NAN};  // mean over t=1..2 = 2.0
  sc[1].loss = {9, 9, 2.0, NAN};    // mean over t=2 = 2.0: tie, the first wins
  sc[0].correct = sc[1].correct = {1, 1, 1, 0};
  EXPECT_TRUE(item_is_correct(CoreTaskType::kMultipleChoice, s, sc, 0));
  sc[1].loss[2] = 1.5;
  EXPECT_TRUE(item_is_correct(CoreTaskType::kSchema, s, sc, 1));
  ScoredSequences l;
  l.tokens = {{0, 1, 2, 3}};
  l.start = {2};
  l.end = {4};
  std::vector<SequenceScores> ls(1);
  ls[0].correct = {0, 1, 1, 0};  // t=1..2 checked; t=0 and the last column are not
  EXPECT_TRUE(item_is_correct(CoreTaskType::kLanguageModeling, l, ls, -1));
  ls[0].correct[2] = 0;
  EXPECT_FALSE(item_is_correct(CoreTaskType::kLanguageModeling, l, ls, -1));
}

TEST(CoreGolden, TinyModelScoresRealTasks) {
  NC_REQUIRE_SHARED(model_path, "golden/gpt_tiny_gqa_window.safetensors");
  NC_REQUIRE_SHARED(yaml, "data/core-eval/core.yaml");
  SafetensorsReader file(model_path);
  const auto cfg = model::GPTConfig::from_json(file.metadata_value("config"));
  model::GPT<float> gpt(cfg);
  gpt.load(file, "param.");
  const Tokenizer tok = Tokenizer::from_merges({});
  ASSERT_LE(tok.vocab_size(), static_cast<size_t>(cfg.vocab_size));
  const auto bundle = load_core_bundle(yaml.parent_path());
  // 0-shot tasks of each type, evaluated batched and one item per forward (as the original); then a
  // 10-shot task on the smallest pool that allows 10 shots (11 records).
  for (const char* label : {"copa", "winograd", "lambada_openai", "bigbench_operators"}) {
    const auto it = std::find_if(bundle.tasks.begin(), bundle.tasks.end(), [&](const auto& t) { return t.label == label; });
    ASSERT_NE(it, bundle.tasks.end()) << label;
    const bool few_shot = it->num_fewshot > 0;
    const size_t n = few_shot ? 11 : 12;
    const auto t0 = std::chrono::steady_clock::now();
    const auto examples = prepare_task_examples(load_task_examples(bundle, *it), static_cast<int64_t>(n));
    ASSERT_EQ(examples.size(), n);
    CoreEvalOptions batched, single, some;
    batched.max_batch_tokens = 1 << 16;
    single.max_batch_tokens = 1;  // one item per forward
    some.max_batch_tokens = 700;  // a few items per forward
    const double a = evaluate_task(gpt, tok, *it, examples, batched);
    EXPECT_TRUE(std::isfinite(a) && a >= 0.0 && a <= 1.0) << label << " " << a;
    // Accuracy is a count over the examples.
    EXPECT_NEAR(a * static_cast<double>(n), std::round(a * static_cast<double>(n)), 1e-9) << label;
    if (!few_shot) {
      EXPECT_EQ(a, evaluate_task(gpt, tok, *it, examples, single)) << label << ": batching changed the result";
      EXPECT_EQ(a, evaluate_task(gpt, tok, *it, examples, some)) << label << ": batching changed the result";
    }
    std::printf("%s: accuracy %.4f in %.2fs\n", label, a,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // Too few records for 10 shots: the error Python's sample raises.
  const auto ops = std::find_if(bundle.tasks.begin(), bundle.tasks.end(), [](const auto& t) { return t.label == "bigbench_operators"; });
  const auto ten = prepare_task_examples(load_task_examples(bundle, *ops), 10);
  EXPECT_THROW(evaluate_task(gpt, tok, *ops, ten, CoreEvalOptions{}), Error);
}

TEST(CoreGolden, ScoresMatchTheModelsOwnLoss) {
  NC_REQUIRE_SHARED(model_path, "golden/gpt_tiny_gqa_window.safetensors");
  SafetensorsReader file(model_path);
  const auto cfg = model::GPTConfig::from_json(file.metadata_value("config"));
  model::GPT<float> gpt(cfg);
  gpt.load(file, "param.");
  const Tokenizer tok = Tokenizer::from_merges({});
  const std::vector<std::string> prompts{"The cat sat on the mat.", "The cat sat on a hat, twice."};
  const auto seqs = tokenize_prompts(CoreTaskType::kMultipleChoice, prompts, tok);
  const auto scores = score_sequences(gpt, tok.bos_id(), seqs);
  ASSERT_EQ(scores.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    // Reference: the training forward's per-position cross-entropy on this row alone.
    const auto& t = seqs.tokens[s];
    const auto T = static_cast<int64_t>(t.size());
    std::vector<int64_t> idx(t.begin(), t.end()), targets(idx.begin() + 1, idx.end());
    targets.push_back(-1);
    model::Activations<float> acts(cfg, 1, T);
    gpt.forward(acts, idx.data(), targets.data());
    for (int64_t p = seqs.start[s] - 1; p <= seqs.end[s] - 2; ++p) {
      ASSERT_TRUE(std::isfinite(scores[s].loss[static_cast<size_t>(p)])) << p;
      EXPECT_NEAR(scores[s].loss[static_cast<size_t>(p)], acts.loss[p], 2e-4) << "row " << s << " position " << p;
    }
    EXPECT_TRUE(std::isnan(scores[s].loss[0]));  // before the span: not computed
  }
}

TEST(CoreGolden, PartialCoreNamesMissingTasks) {
  NC_REQUIRE_SHARED(model_path, "golden/gpt_tiny_gqa_window.safetensors");
  NC_REQUIRE_SHARED(yaml, "data/core-eval/core.yaml");
  SafetensorsReader file(model_path);
  const auto cfg = model::GPTConfig::from_json(file.metadata_value("config"));
  model::GPT<float> gpt(cfg);
  gpt.load(file, "param.");
  const Tokenizer tok = Tokenizer::from_merges({});
  auto bundle = load_core_bundle(yaml.parent_path());
  // Two evaluable 0-shot tasks plus one whose file the shared bundle lacks.
  std::vector<CoreTaskConfig> keep;
  for (const auto& t : bundle.tasks)
    if (t.label == "copa" || t.label == "winograd" || t.label == "hellaswag_zeroshot") keep.push_back(t);
  bundle.tasks = keep;
  CoreEvalOptions opt;
  opt.max_per_task = 6;
  int calls = 0;
  opt.on_task = [&](const CoreTaskResult&) { ++calls; };
  const auto r = evaluate_core(gpt, tok, bundle, opt);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(r.missing, (std::vector<std::string>{"hellaswag_zeroshot"}));
  EXPECT_TRUE(r.partial());
  double sum = 0;
  for (const auto& t : r.tasks)
    if (t.evaluated) sum += centered_accuracy(t.accuracy, bundle.random_baseline(t.task.label));
  EXPECT_DOUBLE_EQ(r.core, sum / 2);
}
