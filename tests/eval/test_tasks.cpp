// Tasks (spec §8): example rendering on real local rows, evaluate() verdicts, the task view,
// TaskMixture / TaskSequence order (pinned against CPython's random.Random(42).shuffle).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "nanochat/engine/decoder.h"
#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/engine/engine.h"
#include "nanochat/eval/python_random.h"
#include "nanochat/eval/sandbox.h"
#include "nanochat/eval/tasks/arc.h"
#include "nanochat/eval/tasks/chat_eval_runner.h"
#include "nanochat/eval/tasks/custom_json.h"
#include "nanochat/eval/tasks/gsm8k.h"
#include "nanochat/eval/tasks/humaneval.h"
#include "nanochat/eval/tasks/mmlu.h"
#include "nanochat/eval/tasks/task.h"
#include "nanochat/eval/tasks/task_data.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/chat_format.h"
#include "test_support.h"

namespace nanochat::eval::tasks {
namespace {

using nlohmann::json;

json part(const char* type, const char* text) { return {{"type", type}, {"text", text}}; }

// ---- task view, mixture, sequence ----

class CountingTask final : public Task {
 public:
  CountingTask(std::string label, int64_t n, TaskView view = {}) : Task(view), label_(std::move(label)), n_(n) {}
  std::string name() const override { return label_; }
  int64_t num_examples() const override { return n_; }
  json get_example(int64_t i) const override {
    NC_CHECK(i >= 0 && i < n_, "{}: physical index {} out of range", label_, i);
    return {{"task", label_}, {"i", i}};
  }

 private:
  std::string label_;
  int64_t n_;
};

TEST(TaskView, LengthAndIndexing) {
  const CountingTask plain("p", 10);
  EXPECT_EQ(plain.size(), 10);
  EXPECT_EQ(plain.at(9)["i"], 9);
  EXPECT_THROW(plain.at(10), Error);
  EXPECT_THROW(plain.at(-1), Error);

  const CountingTask sliced("s", 10, {1, 10, 3});  // physical 1, 4, 7
  EXPECT_EQ(sliced.size(), 3);
  EXPECT_EQ(sliced.at(0)["i"], 1);
  EXPECT_EQ(sliced.at(2)["i"], 7);

  const CountingTask stepped("s", 10, {0, std::nullopt, 4});  // 0, 4, 8
  EXPECT_EQ(stepped.size(), 3);
  EXPECT_EQ(stepped.at(2)["i"], 8);

  // stop is not clamped to the data: the length follows stop, reading past the data fails.
  const CountingTask beyond("b", 5, {0, 8, 1});
  EXPECT_EQ(beyond.size(), 8);
  EXPECT_THROW(beyond.at(6), Error);

  EXPECT_THROW(CountingTask("x", 5, {-1, std::nullopt, 1}), Error);
  EXPECT_THROW(CountingTask("x", 5, {3, 2, 1}), Error);
  EXPECT_THROW(CountingTask("x", 5, {0, std::nullopt, 0}), Error);
}

TEST(TaskMixture, OrderMatchesCPythonShuffle) {
  auto a = std::make_shared<CountingTask>("a", 3);
  auto b = std::make_shared<CountingTask>("b", 2);
  // The same task twice is oversampled: both copies contribute all their rows.
  const TaskMixture mix({a, b, a});
  ASSERT_EQ(mix.size(), 8);
  // CPython 3.11: l = [(0,0),(0,1),(0,2),(1,0),(1,1),(2,0),(2,1),(2,2)]; random.Random(42).shuffle(l)
  const std::vector<std::pair<size_t, int64_t>> expected = {{1, 0}, {1, 1}, {2, 1}, {2, 2},
                                                            {0, 2}, {2, 0}, {0, 0}, {0, 1}};
  const char* names[] = {"a", "b", "a"};
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(mix.source_of(i), expected[static_cast<size_t>(i)]) << i;
    const json ex = mix.at(i);
    EXPECT_EQ(ex["task"], names[expected[static_cast<size_t>(i)].first]);
    EXPECT_EQ(ex["i"], expected[static_cast<size_t>(i)].second);
  }
  EXPECT_THROW(mix.at(8), Error);
  // Deterministic: a second mixture has the same order.
  const TaskMixture again({a, b, a});
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(again.at(i), mix.at(i));
  // Sub-task views are honoured: a sliced task contributes its logical rows.
  auto sliced = std::make_shared<CountingTask>("s", 10, TaskView{5, std::nullopt, 2});  // 5, 7, 9
  const TaskMixture one({sliced});
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < one.size(); ++i) seen.push_back(one.at(i)["i"].get<int64_t>());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{5, 7, 9}));
}

TEST(TaskSequence, ConcatenatesInOrder) {
  auto a = std::make_shared<CountingTask>("a", 2);
  auto empty = std::make_shared<CountingTask>("e", 0);
  auto b = std::make_shared<CountingTask>("b", 3);
  const TaskSequence seq({empty, a, empty, b});
  ASSERT_EQ(seq.size(), 5);
  const std::vector<std::pair<std::string, int64_t>> expected = {{"a", 0}, {"a", 1}, {"b", 0}, {"b", 1}, {"b", 2}};
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(seq.at(i)["task"], expected[static_cast<size_t>(i)].first);
    EXPECT_EQ(seq.at(i)["i"], expected[static_cast<size_t>(i)].second);
  }
  EXPECT_THROW(seq.at(5), Error);
  const TaskSequence view({a, b}, {1, 5, 2});  // sequence rows 1, 3
  ASSERT_EQ(view.size(), 2);
  EXPECT_EQ(view.at(0)["task"], "a");
  EXPECT_EQ(view.at(1)["i"], 1);
}

TEST(TaskData, RenderMcAndStrip) {
  EXPECT_EQ(render_mc("Q?", {"A", "B"}, {"x", "y"}),
            "Multiple Choice question: Q?\n- x=A\n- y=B\n\nRespond only with the letter of the correct answer.");
  EXPECT_EQ(python_strip(" \t\x1c a b\xc2\xa0\n"), "a b");
  EXPECT_EQ(python_strip("\xe3\x80\x80"), "");
  EXPECT_EQ(python_strip("\xc3\xa9 "), "\xc3\xa9");
  // The order every loader uses is NumPy's default_rng(42).permutation.
  EXPECT_EQ(shuffled_order(50), NumpyPcg64(42).permutation(50));
}

// ---- GSM8K ----

TEST(GSM8K, AnswerExtraction) {
  EXPECT_EQ(extract_gsm8k_answer("so.\n#### 1,234"), "1234");
  EXPECT_EQ(extract_gsm8k_answer("#### -7"), "-7");
  EXPECT_EQ(extract_gsm8k_answer("#### 10."), "10.");  // the trailing period is captured
  EXPECT_EQ(extract_gsm8k_answer("#### x then #### 5 and #### 6"), "5");
  EXPECT_EQ(extract_gsm8k_answer("#### - 3"), std::nullopt);
  EXPECT_EQ(extract_gsm8k_answer("the answer is 18"), std::nullopt);
  EXPECT_EQ(extract_gsm8k_answer("#####  2"), std::nullopt);
  EXPECT_EQ(extract_gsm8k_answer("##### 2"), "2");
}

TEST(GSM8K, AssistantPartsEdgeCases) {
  // Adjacent annotations leave an empty text piece between them; no '=' gives an empty output;
  // "<<>>" is not an annotation; the split is at the last '='.
  const json parts = gsm8k_assistant_parts("<<1+1=2>><<a==b>>x <<noeq>> <<>> y");
  const json expected = json::array({part("text", ""), part("python", "1+1"), part("python_output", "2"),
                                     part("text", ""), part("python", "a="), part("python_output", "b"),
                                     part("text", "x "), part("python", "noeq"), part("python_output", ""),
                                     part("text", " <<>> y")});
  EXPECT_EQ(parts, expected);
  EXPECT_EQ(gsm8k_assistant_parts("plain #### 3"), json::array({part("text", "plain #### 3")}));
}

TEST(GSM8K, RealRowsAndEvaluate) {
  NC_REQUIRE_SHARED(dir, "data/gsm8k");
  const GSM8K task(dir, "test");
  ASSERT_EQ(task.size(), 1319);
  EXPECT_EQ(task.eval_type(), EvalType::generative);
  // Physical row 0 of test.jsonl (Janet's ducks).
  const std::string q0 =
      "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
      "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. "
      "How much in dollars does she make every day at the farmers' market?";
  const std::string a0 =
      "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the "
      "farmer\u2019s market.\n#### 18";
  const json expected = {
      {"messages",
       json::array({{{"role", "user"}, {"content", q0}},
                    {{"role", "assistant"},
                     {"content", json::array({part("text", "Janet sells 16 - 3 - 4 = "), part("python", "16-3-4"),
                                              part("python_output", "9"),
                                              part("text", "9 duck eggs a day.\nShe makes 9 * 2 = $"),
                                              part("python", "9*2"), part("python_output", "18"),
                                              part("text", "18 every day at the farmer\u2019s market.\n#### 18")})}}})}};
  EXPECT_EQ(gsm8k_conversation(q0, a0), expected);
  // The logical row that is physical row 0 is where the seed-42 permutation put it.
  const auto order = NumpyPcg64(42).permutation(1319);
  const auto where = std::find(order.begin(), order.end(), 0) - order.begin();
  EXPECT_EQ(task.at(where), expected);

  EXPECT_TRUE(task.evaluate(expected, "She makes 18 dollars.\n#### 18"));
  EXPECT_TRUE(task.evaluate(expected, "<|python_start|>9*2<|python_end|>\n#### 18 dollars"));
  EXPECT_FALSE(task.evaluate(expected, "#### 18.0"));
  EXPECT_FALSE(task.evaluate(expected, "#### 17"));
  EXPECT_FALSE(task.evaluate(expected, "The answer is 18"));

  // Renders as chat: the python call is supervised, the output is not.
  const Tokenizer tok = Tokenizer::from_merges({});
  const auto r = render_conversation(tok, expected);
  const auto py = std::find(r.ids.begin(), r.ids.end(), tok.encode_special("<|python_start|>")) - r.ids.begin();
  const auto out = std::find(r.ids.begin(), r.ids.end(), tok.encode_special("<|output_start|>")) - r.ids.begin();
  ASSERT_LT(py, static_cast<std::ptrdiff_t>(r.ids.size()));
  ASSERT_LT(out, static_cast<std::ptrdiff_t>(r.ids.size()));
  EXPECT_EQ(r.mask[static_cast<size_t>(py)], 1);
  EXPECT_EQ(r.mask[static_cast<size_t>(out)], 0);

  EXPECT_THROW(GSM8K(dir, "validation"), Error);
  EXPECT_THROW(GSM8K(dir / "nope", "test"), Error);
}

// ---- MMLU ----

TEST(MMLU, CsvParsing) {
  const auto rows = parse_csv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\nx,\"multi\nline\",\n", "t.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b,c", "say \"hi\""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x", "multi\nline", ""}));
  EXPECT_THROW(parse_csv("a,\"open", "bad.csv"), Error);
}

TEST(MMLU, RealRowsAndEvaluate) {
  NC_REQUIRE_SHARED(dir, "data/mmlu/data");
  const MMLU task(dir, "test");
  ASSERT_EQ(task.size(), 14080);  // this snapshot's count (SOURCE.md)
  EXPECT_EQ(task.eval_type(), EvalType::categorical);
  // abstract_algebra_test.csv line 3: quoted choices "0,1" and "0,4", answer D.
  const std::string question =
      "Find all zeros in the indicated finite field of the given polynomial with coefficients in that field. x^5 + "
      "3x^3 + x^2 + 2x in Z_5";
  int64_t found = -1;
  for (int64_t i = 0; i < task.num_examples() && found < 0; ++i)
    if (task.row(i).question == question) found = i;
  ASSERT_GE(found, 0);
  const json conv = task.at(found);
  EXPECT_EQ(conv["messages"][0]["content"],
            "Multiple Choice question: " + question +
                "\n- 0=A\n- 1=B\n- 0,1=C\n- 0,4=D\n\nRespond only with the letter of the correct answer.");
  EXPECT_EQ(conv["messages"][1]["content"], "D");
  EXPECT_EQ(conv["subject"], "abstract_algebra");
  EXPECT_EQ(conv["letters"], json::array({"A", "B", "C", "D"}));
  EXPECT_TRUE(task.evaluate(conv, "D"));
  EXPECT_FALSE(task.evaluate(conv, "A"));
  EXPECT_THROW(task.evaluate(conv, "E"), Error);
  EXPECT_THROW(task.evaluate(conv, " D"), Error);

  const MMLU dev(dir, "dev");
  EXPECT_EQ(dev.size(), 285);
  EXPECT_THROW(MMLU(dir, "auxiliary_train"), Error);
}

// ---- ARC ----

TEST(ARC, RealRowsFromCoreBundle) {
  NC_REQUIRE_SHARED(bundle, "data/core-eval");
  const ARC easy(bundle, "ARC-Easy");
  const ARC challenge(bundle, "ARC-Challenge");
  EXPECT_EQ(easy.size(), 2376);
  EXPECT_EQ(challenge.size(), 1172);
  EXPECT_EQ(easy.name(), "ARC-Easy");
  // arc_easy.jsonl line 1 (gold 0); physical row 0 sits where the seed-42 permutation put it.
  const auto order = NumpyPcg64(42).permutation(2376);
  const auto where = std::find(order.begin(), order.end(), 0) - order.begin();
  const json conv = easy.at(where);
  EXPECT_EQ(conv["messages"][0]["content"],
            "Multiple Choice question: Which statement best explains why photosynthesis is the foundation of most "
            "food webs?\n- Sunlight is the source of energy for nearly all ecosystems.=A\n- Most ecosystems are found "
            "on land instead of in water.=B\n- Carbon dioxide is more available than other gases.=C\n- The producers "
            "in all ecosystems are plants.=D\n\nRespond only with the letter of the correct answer.");
  EXPECT_EQ(conv["messages"][1]["content"], "A");
  EXPECT_EQ(conv["letters"], json::array({"A", "B", "C", "D"}));
  EXPECT_TRUE(easy.evaluate(conv, "A"));
  EXPECT_FALSE(easy.evaluate(conv, "B"));
  EXPECT_THROW(easy.evaluate(conv, "E"), Error);
  // Digit labels (as some upstream items have) work through the conversation's letters.
  const json digits = arc_conversation("q", {"1", "2", "3"}, {"x", "y", "z"}, "2");
  EXPECT_EQ(digits["messages"][0]["content"],
            "Multiple Choice question: q\n- x=1\n- y=2\n- z=3\n\nRespond only with the letter of the correct answer.");
  EXPECT_TRUE(easy.evaluate(digits, "2"));
  EXPECT_THROW(arc_conversation("q", {"A", "B"}, {"x", "y"}, "C"), Error);
  EXPECT_THROW(ARC(bundle, "ARC-Easy", "train"), Error);
  EXPECT_THROW(ARC(bundle, "ARC-Hard"), Error);
}

// ---- HumanEval ----

TEST(HumanEval, CodeExtraction) {
  EXPECT_EQ(extract_program_code("Sure:\n```python\ndef f():\n    return 1\n```\nand ```python\nx\n```"),
            "def f():\n    return 1");
  EXPECT_EQ(extract_program_code("```\n  y = 2  \n```"), "y = 2");
  EXPECT_EQ(extract_program_code("```python  \n\nz\n```"), "z");
  EXPECT_EQ(extract_program_code("```\n\n```"), "");  // \s* gives back the second newline
  EXPECT_EQ(extract_program_code("  def g(): pass\n"), "def g(): pass");
  EXPECT_EQ(extract_program_code("```python def h(): pass```"), "```python def h(): pass```");
  EXPECT_EQ(humaneval_imports("import os\n# c\n\nfrom a import b\ndef f():\n    import sys\n"),
            "import os\nfrom a import b");
  EXPECT_EQ(humaneval_imports("def f():\n    pass\nimport os\n"), "");
}

TEST(HumanEval, CanonicalSolutionPassesWrongOneFails) {
  NC_REQUIRE_SHARED(path, "data/humaneval/HumanEval.jsonl.gz");
  const HumanEval task(path);
  ASSERT_EQ(task.size(), 164);
  EXPECT_EQ(task.eval_type(), EvalType::generative);
  int64_t first = -1;
  for (int64_t i = 0; i < task.num_examples() && first < 0; ++i)
    if (task.row(i).task_id == "HumanEval/0") first = i;
  ASSERT_GE(first, 0);
  const auto& row = task.row(first);
  const json conv = task.at(first);
  EXPECT_EQ(conv["messages"][0]["content"], row.prompt);
  EXPECT_TRUE(row.prompt.starts_with("from typing import List\n\n\ndef has_close_elements("));
  EXPECT_EQ(conv["messages"][1]["content"], row.prompt + "\n" + row.canonical_solution);
  EXPECT_EQ(conv["entry_point"], "has_close_elements");
  EXPECT_EQ(humaneval_program(conv, "def f(): pass").substr(0, 39), "from typing import List\n\ndef f(): pass\n");
  if (!find_python_interpreter()) GTEST_SKIP() << "no python3 for the sandbox";
  EXPECT_TRUE(task.evaluate(conv, conv["messages"][1]["content"].get<std::string>()));
  EXPECT_TRUE(task.evaluate(conv, "Here you go:\n```python\n" + row.prompt + row.canonical_solution + "```\n"));
  EXPECT_FALSE(task.evaluate(conv, row.prompt + "    return False\n"));
  EXPECT_FALSE(task.evaluate(conv, "def has_close_elements(numbers, threshold):\n    return True\n"));
}

// ---- CustomJSON ----

TEST(CustomJSON, ReadsConversationsAndRejectsBadOnes) {
  test::TempDir tmp;
  const auto good = tmp.path() / "c.jsonl";
  write_file_atomic(good,
                    "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]\n"
                    "  \n"
                    " [{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
                    "{\"role\":\"user\",\"content\":\"c\"}] \n");
  const CustomJSON task(good);
  ASSERT_EQ(task.size(), 2);
  EXPECT_EQ(task.at(0),
            json::parse(R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]})"));
  EXPECT_EQ(task.at(1)["messages"].size(), 3u);
  EXPECT_THROW(task.evaluate(task.at(0), "x"), Error);

  const CustomJSON missing(tmp.path() / "absent.jsonl");
  EXPECT_EQ(missing.size(), 0);

  const auto bad_role = tmp.path() / "r.jsonl";
  write_file_atomic(bad_role, "[{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]\n");
  EXPECT_THROW(CustomJSON{bad_role}, Error);
  const auto too_short = tmp.path() / "s.jsonl";
  write_file_atomic(too_short, "[{\"role\":\"user\",\"content\":\"x\"}]\n");
  EXPECT_THROW(CustomJSON{too_short}, Error);
  const auto not_json = tmp.path() / "j.jsonl";
  write_file_atomic(not_json, "{oops\n");
  EXPECT_THROW(CustomJSON{not_json}, Error);
}

// ---- chat-eval loops on the golden tiny model ----

class ListTask final : public Task {
 public:
  ListTask(std::vector<json> convs, EvalType type) : convs_(std::move(convs)), type_(type) {}
  std::string name() const override { return "list"; }
  EvalType eval_type() const override { return type_; }
  int64_t num_examples() const override { return static_cast<int64_t>(convs_.size()); }
  json get_example(int64_t i) const override { return convs_.at(static_cast<size_t>(i)); }
  bool evaluate(const json& conv, std::string_view completion) const override {
    seen.emplace_back(completion);
    if (type_ == EvalType::categorical) return evaluate_letter(conv, completion, "list");
    return completion.size() % 2 == 0;
  }
  mutable std::vector<std::string> seen;

 private:
  std::vector<json> convs_;
  EvalType type_;
};

json mc(const std::string& q, std::vector<std::string> letters, const std::string& answer) {
  std::vector<std::string> choices;
  for (size_t i = 0; i < letters.size(); ++i) choices.push_back(q + std::to_string(i));
  return arc_conversation(q, letters, choices, answer);
}

// Reference: the full logits of one unpadded prompt at its last position, restricted to the letters.
std::vector<float> reference_letter_logits(model::GPT<float>& gpt, const Tokenizer& tok, const json& conv) {
  const auto prompt = render_for_completion(tok, conv);
  const auto T = static_cast<int64_t>(prompt.size());
  const std::vector<int64_t> idx(prompt.begin(), prompt.end());
  model::Activations<float> acts(gpt.config(), 1, T);
  gpt.forward(acts, idx.data(), nullptr);
  std::vector<float> logits(static_cast<size_t>(T * gpt.config().vocab_size));
  gpt.logits(acts, logits.data());
  const float* last = logits.data() + (T - 1) * gpt.config().vocab_size;
  std::vector<float> z;
  for (const auto& l : conv["letters"]) z.push_back(last[tok.encode(l.get<std::string>())[0]]);
  return z;
}

// The first maximum's letter.
std::string reference_letter(model::GPT<float>& gpt, const Tokenizer& tok, const json& conv) {
  const std::vector<float> z = reference_letter_logits(gpt, tok, conv);
  return conv["letters"][static_cast<size_t>(std::max_element(z.begin(), z.end()) - z.begin())].get<std::string>();
}

// The best letter's lead over the runner-up.
float reference_margin(model::GPT<float>& gpt, const Tokenizer& tok, const json& conv) {
  std::vector<float> z = reference_letter_logits(gpt, tok, conv);
  std::sort(z.rbegin(), z.rend());
  return z[0] - z[1];
}

TEST(ChatEvalRunner, CategoricalMatchesFullLogitsAcrossPadding) {
  NC_REQUIRE_SHARED(model_path, "golden/gpt_tiny_gqa_window.safetensors");
  SafetensorsReader file(model_path);
  model::GPT<float> gpt(model::GPTConfig::from_json(file.metadata_value("config")));
  gpt.load(file, "param.");
  const Tokenizer tok = Tokenizer::from_merges({});
  // Different prompt lengths (so rows are padded), 3-5 options, digit labels.
  std::vector<json> convs = {mc("Why is the sky blue?", {"A", "B", "C", "D"}, "A"),
                             mc("2+2?", {"1", "2", "3"}, "2"),
                             mc("Pick the longest answer among these five options, please.", {"A", "B", "C", "D", "E"}, "E"),
                             mc("x", {"A", "B", "C", "D"}, "C")};
  const auto decoder = engine::make_cpu_decoder(gpt);
  const auto batched = predict_letters(*decoder, tok, convs);
  ASSERT_EQ(batched.size(), convs.size());
  for (size_t i = 0; i < convs.size(); ++i) {
    EXPECT_EQ(batched[i], reference_letter(gpt, tok, convs[i])) << i;
  }
  // pick_letters: the same letters, each with its lead over the runner-up (what --records reports).
  const auto picks = pick_letters(*decoder, tok, convs);
  for (size_t i = 0; i < convs.size(); ++i) {
    EXPECT_EQ(picks[i].letter, batched[i]) << i;
    EXPECT_GT(picks[i].margin, 0.0f) << i;
    EXPECT_NEAR(picks[i].margin, reference_margin(gpt, tok, convs[i]), 1e-4f) << i;
  }
  // The tally equals the count of references the model hits, whatever the batch size.
  int64_t expected = 0;
  for (size_t i = 0; i < convs.size(); ++i) expected += batched[i] == convs[i]["messages"][1]["content"] ? 1 : 0;
  const ListTask task(convs, EvalType::categorical);
  for (int64_t bs : {1, 3, 8}) {
    const auto t = run_categorical_eval(*decoder, tok, task, 4, bs);
    EXPECT_EQ(t.total, 4);
    EXPECT_EQ(t.passed, expected) << bs;
  }
  EXPECT_EQ(run_categorical_eval(*decoder, tok, task, 2, 8).total, 2);
  EXPECT_THROW(run_categorical_eval(*decoder, tok, task, 5, 8), Error);
  // A multi-token "letter" is refused, as the original asserts.
  const std::vector<json> bad = {mc("q", {"AB", "C"}, "C")};
  EXPECT_THROW(predict_letters(*decoder, tok, bad), Error);
}

TEST(ChatEvalRunner, GenerativeJudgesEachSampleAfterThePrompt) {
  NC_REQUIRE_SHARED(model_path, "golden/gpt_tiny_gqa_window.safetensors");
  SafetensorsReader file(model_path);
  model::GPT<float> gpt(model::GPTConfig::from_json(file.metadata_value("config")));
  gpt.load(file, "param.");
  const Tokenizer tok = Tokenizer::from_merges({});
  const engine::Engine eng(gpt, tok);
  const std::vector<json> convs = {user_assistant("Hello there", "hi"), user_assistant("What is 2+2?", "4")};
  const ListTask task(convs, EvalType::generative);
  engine::GenerateOptions o;
  o.num_samples = 3;
  o.max_tokens = 5;
  o.temperature = 1.0;
  o.top_k = 50;
  std::vector<int64_t> progress;
  const auto t = run_generative_eval(eng, task, 2, o, [&](const ChatEvalTally& run) { progress.push_back(run.total); });
  EXPECT_EQ(progress, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(t.total, 2);
  ASSERT_EQ(task.seen.size(), 6u);  // every sample judged
  // The completions are exactly the decoded tokens after each prompt, seed 42.
  int64_t passed = 0;
  for (size_t p = 0; p < 2; ++p) {
    const auto prompt = render_for_completion(tok, convs[p]);
    const auto batch = eng.generate_batch(prompt, o);
    bool any = false;
    for (size_t s = 0; s < 3; ++s) {
      const auto& row = batch.tokens[s];
      const std::string text = tok.decode(std::span<const TokenId>(row.data() + prompt.size(), row.size() - prompt.size()));
      EXPECT_EQ(task.seen[p * 3 + s], text);
      any = any || text.size() % 2 == 0;
    }
    passed += any ? 1 : 0;
  }
  EXPECT_EQ(t.passed, passed);
}

}  // namespace
}  // namespace nanochat::eval::tasks
