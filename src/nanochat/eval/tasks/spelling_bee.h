// SpellingBee and SimpleSpelling (spec tokenizer-inference-eval.md §8.4; v0.1.0, deleted at HEAD):
// synthetic tasks that teach a small model to spell words and count letters. Example i is drawn from
// CPython's Random(seed) with seed = i for split train; for split test the seed rule is selectable
// (v0.1.0: -(i+1), which CPython folds to i+1, so test example i equals train example i+1; the later
// version: 10,000,000 + i). Every draw happens in the original's order, so the same word list gives
// the same conversations as the original.
//
// Word list: the original downloads dwyl/english-words words_alpha.txt (~370K lowercase words); this
// port reads a local file (default Debian's wamerican, /usr/share/dict/american-english, ~104K words
// that include capitals, apostrophes and a few accented letters). Lines are Python-stripped and kept
// in file order; characters are Unicode code points, as Python's str.
#pragma once
#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

inline constexpr const char* kDefaultWordListPath = "/usr/share/dict/american-english";

// One word per line, python-stripped, file order. Throws naming the file when it is missing or empty.
std::vector<std::string> load_word_list(const std::filesystem::path& path);
using WordList = std::shared_ptr<const std::vector<std::string>>;

// The 51 user-message templates in the original's order ({letter}, {word} placeholders).
extern const std::array<std::string_view, 51> kSpellingBeeTemplates;

enum class SpellingTestSeed { v0_1_0, offset_10m };
// The Random seed behind example `index` of a split ("train" | "test").
int64_t spelling_seed(const std::string& split, int64_t index, SpellingTestSeed rule);

class SpellingBee final : public Task {
 public:
  SpellingBee(WordList words, int64_t size, const std::string& split,
              SpellingTestSeed rule = SpellingTestSeed::v0_1_0, TaskView view = {});
  std::string name() const override { return "SpellingBee"; }
  EvalType eval_type() const override { return EvalType::generative; }
  int64_t num_examples() const override { return size_; }
  nlohmann::json get_example(int64_t physical_index) const override;
  // GSM8K's verdict: the "#### n" of the completion equals the reference's.
  bool evaluate(const nlohmann::json& conversation, std::string_view completion) const override;

 private:
  WordList words_;
  int64_t size_;
  std::string split_;
  SpellingTestSeed rule_;
};

class SimpleSpelling final : public Task {
 public:
  // Copies the word list and shuffles it with Random(42), as the original.
  SimpleSpelling(const std::vector<std::string>& words, int64_t size, const std::string& split,
                 SpellingTestSeed rule = SpellingTestSeed::v0_1_0, TaskView view = {});
  std::string name() const override { return "SimpleSpelling"; }
  EvalType eval_type() const override { return EvalType::generative; }
  int64_t num_examples() const override { return size_; }
  nlohmann::json get_example(int64_t physical_index) const override;

 private:
  std::vector<std::string> words_;
  int64_t size_;
  std::string split_;
  SpellingTestSeed rule_;
};

}  // namespace nanochat::eval::tasks
