// nanochat tok-eval: compression ratio (UTF-8 bytes per token) of our tokenizer against GPT-2 and
// GPT-4 on built-in texts and on the first row group of the train and validation shards, printed as
// the original's two tables. GPT-2/GPT-4 need their rank files locally (no network access here):
// r50k_base.tiktoken and cl100k_base.tiktoken in $NANOCHAT_BASE_DIR/tiktoken, or --gpt2-ranks/--gpt4-ranks.
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/data/parquet_reader.h"
#include "nanochat/tokenizer/split_pattern.h"
#include "nanochat/tokenizer/tokenizer.h"
#include "tok_eval_texts.h"

namespace nanochat::app {

namespace fs = std::filesystem;

namespace {

struct NamedText {
  std::string name, text;
};

std::optional<Tokenizer> load_reference(const std::string& path, bool gpt4) {
  if (!fs::exists(path)) return std::nullopt;
  if (gpt4) {
    return Tokenizer::from_tiktoken_file(path, "cl100k_base", std::string(kGpt4SplitPattern),
                                         {{"<|endoftext|>", 100257},
                                          {"<|fim_prefix|>", 100258},
                                          {"<|fim_middle|>", 100259},
                                          {"<|fim_suffix|>", 100260},
                                          {"<|endofprompt|>", 100276}},
                                         "<|endoftext|>");
  }
  return Tokenizer::from_tiktoken_file(path, "gpt2", std::string(kGpt2SplitPattern), {{"<|endoftext|>", 50256}},
                                       "<|endoftext|>");
}

// Documents of the first row group of a shard, joined with newlines (as the original).
std::string first_row_group_text(const fs::path& shard) {
  const parquet::ParquetFile file(shard);
  std::string out;
  if (file.num_row_groups() == 0) return out;
  const auto docs = file.read_text_column(0, "text");
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out += '\n';
    out += docs[i];
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

void print_table(const std::string& baseline_name, const Tokenizer& baseline, const Tokenizer& ours,
                 const std::vector<NamedText>& texts) {
  const char* green = "\033[92m";
  const char* red = "\033[91m";
  const char* reset = "\033[0m";
  std::string out = fmt::format("\nComparison with {}:\n{}\n", baseline_name, std::string(95, '='));
  out += fmt::format("{:<10} {:<8} {:<15} {:<15} {:<12} {:<10}\n", "Text Type", "Bytes", baseline_name, "Ours",
                     "Relative", "Better");
  out += fmt::format("{:10} {:8} {:<7} {:<7} {:<7} {:<7} {:<12}\n", "", "", "Tokens", "Ratio", "Tokens", "Ratio",
                     "Diff %");
  out += std::string(95, '-') + "\n";
  for (const auto& t : texts) {
    const auto b = baseline.encode(t.text);
    const auto o = ours.encode(t.text);
    NC_CHECK(baseline.decode(b) == t.text, "{} does not round-trip text '{}'", baseline_name, t.name);
    NC_CHECK(ours.decode(o) == t.text, "our tokenizer does not round-trip text '{}'", t.name);
    const double bytes = static_cast<double>(t.text.size());
    const double bratio = bytes / static_cast<double>(b.size()), oratio = bytes / static_cast<double>(o.size());
    const double diff = (static_cast<double>(b.size()) - static_cast<double>(o.size())) / static_cast<double>(b.size()) * 100;
    const char *cb = "", *co = "", *cd = "";
    std::string better = "Tie";
    if (bratio > oratio) {
      cb = green, co = red, cd = red, better = baseline_name;
    } else if (oratio > bratio) {
      cb = red, co = green, cd = green, better = "Ours";
    }
    out += fmt::format("{:<10} {:<8} {}{:<7}{} {}{:<7.2f}{} {}{:<7}{} {}{:<7.2f}{} {}{:+7.1f}%{}     {:<10}\n", t.name,
                       t.text.size(), cb, b.size(), reset, cb, bratio, reset, co, o.size(), reset, co, oratio, reset, cd,
                       diff, reset, better);
  }
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int tok_eval(const Args& args) {
  const fs::path ref_dir = base_dir() / "tiktoken";
  std::string tokenizer_path = tokenizer_dir().string();
  std::string gpt2_path = (ref_dir / "r50k_base.tiktoken").string();
  std::string gpt4_path = (ref_dir / "cl100k_base.tiktoken").string();
  std::string shards;
  ArgParser p("nanochat tok-eval", "Compare the tokenizer's compression ratio with GPT-2 and GPT-4.");
  p.add("--tokenizer", &tokenizer_path, "our tokenizer directory")
      .add("--gpt2-ranks", &gpt2_path, "GPT-2 ranks (.tiktoken, r50k_base)")
      .add("--gpt4-ranks", &gpt4_path, "GPT-4 ranks (.tiktoken, cl100k_base)")
      .add("--shards", &shards, "directory of parquet shards for the train/val rows (default: the dataset directory)");
  if (!p.parse(args)) return 0;

  const Tokenizer ours = Tokenizer::load(tokenizer_path);
  std::vector<NamedText> texts;
  for (const auto& [name, text] : kTokEvalTexts) texts.push_back({std::string(name), trim(text)});
  std::string prefix = "climbmix";
  if (shards.empty()) {
    if (fs::is_directory(base_dir() / "base_data_climbmix")) {
      shards = (base_dir() / "base_data_climbmix").string();
    } else if (fs::is_directory(base_dir() / "base_data")) {
      shards = (base_dir() / "base_data").string();
      prefix = "fwe";
    }
  }
  if (!shards.empty()) {
    const auto files = list_parquet_shards(shards);
    NC_CHECK(files.size() >= 2, "{}: need a train and a validation shard", shards);
    texts.push_back({prefix + "-train", first_row_group_text(files.front())});
    std::string val = first_row_group_text(files.back());
    if (!val.empty()) texts.push_back({prefix + "-val", std::move(val)});
  } else {
    log_warn("no shards found: skipping the {}-train/{}-val rows (run 'nanochat dataset' or pass --shards)", prefix, prefix);
  }

  const auto gpt2 = load_reference(gpt2_path, false);
  const auto gpt4 = load_reference(gpt4_path, true);
  std::printf("\nVocab sizes:\n");
  std::printf("GPT-2: %s\n", gpt2 ? std::to_string(gpt2->vocab_size()).c_str() : ("not available (no " + gpt2_path + ")").c_str());
  std::printf("GPT-4: %s\n", gpt4 ? std::to_string(gpt4->vocab_size()).c_str() : ("not available (no " + gpt4_path + ")").c_str());
  std::printf("Ours: %zu\n", ours.vocab_size());
  if (gpt2) print_table("GPT-2", *gpt2, ours, texts);
  if (gpt4) print_table("GPT-4", *gpt4, ours, texts);
  if (!gpt2 && !gpt4) {
    // Without references, still report our own ratios so the command is useful offline.
    std::printf("\nNo reference tokenizers available; our compression:\n%-16s %-8s %-8s %s\n", "Text Type", "Bytes", "Tokens", "Ratio");
    for (const auto& t : texts) {
      const auto o = ours.encode(t.text);
      NC_CHECK(ours.decode(o) == t.text, "our tokenizer does not round-trip text '{}'", t.name);
      std::printf("%-16s %-8zu %-8zu %.2f\n", t.name.c_str(), t.text.size(), o.size(),
                  static_cast<double>(t.text.size()) / static_cast<double>(o.size()));
    }
  }
  return 0;
}

}  // namespace nanochat::app
