#include "nanochat/eval/tasks/spelling_bee.h"

#include <span>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/eval/python_random.h"
#include "nanochat/eval/python_str.h"
#include "nanochat/eval/tasks/gsm8k.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace {

constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyz";

// A word as Python sees it: one string per code point.
std::vector<std::string> code_points(const std::string& word) {
  NC_CHECK(utf8_is_valid(word), "SpellingBee: word '{}' is not valid UTF-8", utf8_sanitize(word));
  std::vector<std::string> out;
  for (size_t pos = 0; pos < word.size();) {
    const Utf8Step s = utf8_next(word, pos);
    out.push_back(word.substr(pos, s.length));
    pos += s.length;
  }
  return out;
}

std::string join_commas(const std::vector<std::string>& chars) {
  std::string out;
  for (size_t i = 0; i < chars.size(); ++i) {
    if (i > 0) out += ',';
    out += chars[i];
  }
  return out;
}

// Python's str.lower() restricted to what the templates need: their only cased letters are ASCII
// (the accented ones, the CJK and Hangul text are already lowercase or caseless).
std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

const std::string& choose_word(PythonRandom& rng, const std::vector<std::string>& words) {
  return rng.choice(std::span<const std::string>(words));
}

void check_split(const std::string& task, const std::string& split, int64_t size) {
  NC_CHECK(split == "train" || split == "test", "{} split must be train|test (got '{}')", task, split);
  NC_CHECK(size >= 0, "{}: size must be >= 0 (got {})", task, size);
}

}  // namespace

const std::array<std::string_view, 51> kSpellingBeeTemplates = {
    "How many {letter} are in the word {word}",
    "How many {letter} are in {word}",
    "Count the number of {letter} in {word}",
    "How many times does {letter} appear in {word}",
    "What's the count of {letter} in {word}",
    "In the word {word}, how many {letter} are there",
    "How many letter {letter} are in the word {word}",
    "Count how many {letter} appear in {word}",
    "Tell me the number of {letter} in {word}",
    "How many occurrences of {letter} are in {word}",
    "Find the count of {letter} in {word}",
    "Can you count the {letter} letters in {word}",
    "What is the frequency of {letter} in {word}",
    "How many {letter}s are in {word}",
    "How many {letter}'s are in {word}",
    "Count all the {letter} in {word}",
    "How many times is {letter} in {word}",
    "Number of {letter} in {word}",
    "Total count of {letter} in {word}",
    "How many {letter} does {word} have",
    "How many {letter} does {word} contain",
    "What's the number of {letter} in {word}",
    "{word} has how many {letter}",
    "In {word}, count the {letter}",
    "How many {letter} appear in {word}",
    "Count the {letter} in {word}",
    "Give me the count of {letter} in {word}",
    "How many instances of {letter} in {word}",
    "Show me how many {letter} are in {word}",
    "Calculate the number of {letter} in {word}",
    // Spanish
    "\u00bfCu\u00e1ntas {letter} hay en {word}?",
    "\u00bfCu\u00e1ntas veces aparece {letter} en {word}?",
    "Cuenta las {letter} en {word}",
    "\u00bfCu\u00e1ntas letras {letter} tiene {word}?",
    // Chinese (simplified)
    "{word}\u4e2d\u6709\u591a\u5c11\u4e2a{letter}",
    "{word}\u91cc\u6709\u51e0\u4e2a{letter}",
    "\u6570\u4e00\u4e0b{word}\u4e2d\u7684{letter}",
    "{word}\u8fd9\u4e2a\u8bcd\u91cc\u6709\u591a\u5c11{letter}",
    // Korean
    "{word}\uc5d0 {letter}\uac00 \uba87 \uac1c \uc788\ub098\uc694",
    "{word}\uc5d0\uc11c {letter}\uc758 \uac1c\uc218\ub294",
    "{word}\uc5d0 {letter}\uac00 \uba87 \ubc88 \ub098\uc624\ub098\uc694",
    "{word}\ub77c\ub294 \ub2e8\uc5b4\uc5d0 {letter}\uac00 \uba87 \uac1c",
    // French
    "Combien de {letter} dans {word}",
    "Combien de fois {letter} appara\u00eet dans {word}",
    "Compte les {letter} dans {word}",
    // German
    "Wie viele {letter} sind in {word}",
    "Wie oft kommt {letter} in {word} vor",
    "Z\u00e4hle die {letter} in {word}",
    // Japanese
    "{word}\u306b{letter}\u306f\u4f55\u500b\u3042\u308a\u307e\u3059\u304b",
    "{word}\u306e\u4e2d\u306b{letter}\u304c\u3044\u304f\u3064",
    "{word}\u306b{letter}\u304c\u4f55\u56de\u51fa\u3066\u304f\u308b",
};

std::vector<std::string> load_word_list(const std::filesystem::path& path) {
  NC_CHECK(std::filesystem::exists(path),
           "word list {} not found (SpellingBee/SimpleSpelling need one word per line; on Debian: apt-get install "
           "wamerican, or pass another file)",
           path.string());
  const std::string text = read_file(path);
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    words.push_back(python_strip(std::string_view(text).substr(pos, end - pos)));
    pos = end + 1;
  }
  NC_CHECK(!words.empty(), "word list {} is empty", path.string());
  return words;
}

int64_t spelling_seed(const std::string& split, int64_t index, SpellingTestSeed rule) {
  if (split == "train") return index;
  return rule == SpellingTestSeed::v0_1_0 ? -(index + 1) : 10'000'000 + index;
}

SpellingBee::SpellingBee(WordList words, int64_t size, const std::string& split, SpellingTestSeed rule, TaskView view)
    : Task(view), words_(std::move(words)), size_(size), split_(split), rule_(rule) {
  check_split("SpellingBee", split, size);
  NC_CHECK(words_ && !words_->empty(), "SpellingBee: the word list is empty");
}

nlohmann::json SpellingBee::get_example(int64_t index) const {
  NC_CHECK(index >= 0 && index < size_, "SpellingBee: index {} out of range (size {})", index, size_);
  PythonRandom rng(spelling_seed(split_, index, rule_));
  const std::string& word = choose_word(rng, *words_);
  const std::vector<std::string> chars = code_points(word);
  NC_CHECK(!chars.empty(), "SpellingBee: the word list holds an empty line (picked for example {})", index);
  std::string letter;
  if (rng.random() < 0.9) {
    letter = rng.choice(std::span<const std::string>(chars));
  } else {
    letter = std::string(1, kLetters[rng.randbelow(kLetters.size())]);
  }
  int64_t count = 0;
  for (const auto& c : chars) count += c == letter ? 1 : 0;

  std::string templ(kSpellingBeeTemplates[rng.randbelow(kSpellingBeeTemplates.size())]);
  if (rng.random() < 0.3) templ = lower_ascii(templ);
  static const std::array<std::string, 3> kQuotes = {"", "'", "\""};
  const std::string& lq = rng.choice(std::span<const std::string>(kQuotes));
  const std::string& wq = rng.choice(std::span<const std::string>(kQuotes));
  std::string user = templ;
  replace_all(user, "{letter}", lq + letter + lq);
  replace_all(user, "{word}", wq + word + wq);
  if (rng.random() < 0.5) user += "?";

  std::string manual = "We are asked to find the number '" + letter + "' in the word '" + word +
                       "'. Let me try a manual approach first.\n\nFirst spell the word out:\n" + word + ":" +
                       join_commas(chars) + "\n\nThen count the occurrences of '" + letter + "':\n";
  int64_t running = 0;
  for (size_t i = 0; i < chars.size(); ++i) {
    if (chars[i] == letter) {
      ++running;
      manual += std::to_string(i + 1) + ":" + chars[i] + " hit! count=" + std::to_string(running) + "\n";
    } else {
      manual += std::to_string(i + 1) + ":" + chars[i] + "\n";
    }
  }
  manual += "\nThis gives us " + std::to_string(running) + ".";
  const std::string n = std::to_string(count);
  nlohmann::json parts = nlohmann::json::array();
  parts.push_back({{"type", "text"}, {"text", manual}});
  parts.push_back({{"type", "text"}, {"text", "\n\nLet me double check this using Python:\n\n"}});
  parts.push_back({{"type", "python"}, {"text", "'" + word + "'.count('" + letter + "')"}});
  parts.push_back({{"type", "python_output"}, {"text", n}});
  parts.push_back({{"type", "text"}, {"text", "\n\nPython gives us " + n + ".\n\nMy final answer is:\n\n#### " + n}});
  return user_assistant(user, parts);
}

bool SpellingBee::evaluate(const nlohmann::json& conversation, std::string_view completion) const {
  const auto& reference = conversation.at("messages").back();
  NC_CHECK(reference.at("role") == "assistant", "SpellingBee: the last message must be from the Assistant");
  const auto& content = reference.at("content");
  NC_CHECK(content.is_array() && !content.empty(), "SpellingBee: the reference must be a list of parts");
  return extract_gsm8k_answer(content.back().at("text").get<std::string>()) == extract_gsm8k_answer(completion);
}

SimpleSpelling::SimpleSpelling(const std::vector<std::string>& words, int64_t size, const std::string& split,
                               SpellingTestSeed rule, TaskView view)
    : Task(view), words_(words), size_(size), split_(split), rule_(rule) {
  check_split("SimpleSpelling", split, size);
  NC_CHECK(!words_.empty(), "SimpleSpelling: the word list is empty");
  PythonRandom rng(42);
  rng.shuffle(words_);  // a different word order than SpellingBee's
}

nlohmann::json SimpleSpelling::get_example(int64_t index) const {
  NC_CHECK(index >= 0 && index < size_, "SimpleSpelling: index {} out of range (size {})", index, size_);
  PythonRandom rng(spelling_seed(split_, index, rule_));
  const std::string& word = choose_word(rng, words_);
  return user_assistant("Spell the word: " + word, word + ":" + join_commas(code_points(word)));
}

}  // namespace nanochat::eval::tasks
