// nanochat tok-train: train the BPE tokenizer (scripts/tok_train.py). Reads documents in order, crops
// each to --doc-cap code points, stops after the document that takes the total past --max-chars,
// learns vocab_size - 9 mergeable tokens, saves to $NANOCHAT_BASE_DIR/tokenizer.
#include <chrono>
#include <filesystem>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/document_source.h"
#include "nanochat/tokenizer/bpe_trainer.h"
#include "nanochat/tokenizer/chunk_counter.h"
#include "nanochat/tokenizer/special_tokens.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::app {

namespace fs = std::filesystem;

namespace {

// The default data directory, as the original: ClimbMix shards, else the legacy FineWeb-Edu ones.
std::string default_input() {
  for (const char* name : {"base_data_climbmix", "base_data"}) {
    const fs::path dir = base_dir() / name;
    if (fs::is_directory(dir)) return dir.string();
  }
  usage_fail("no pretraining shards in {} (run 'nanochat dataset -n 8', or pass --input FILES_OR_DIRS)",
             (base_dir() / "base_data_climbmix").string());
}

const char* kSanityText =
    "Hello world! This is a test.\nNumbers: 123, 4567, 89\nContractions: I'm, you're, it's\n"
    "Special chars: @#$%^&*()\nUnicode: \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8c\x8d";

}  // namespace

int tok_train(const Args& args) {
  int64_t max_chars = 2'000'000'000, doc_cap = 10'000, vocab_size = 32768;
  std::string input, output, text_field = "text";
  int num_threads = 0;
  ArgParser p("nanochat tok-train", "Train a BPE tokenizer (GPT-4 style, nanochat's split pattern and merge order).");
  p.add("--max-chars", &max_chars, "maximum characters to train on")
      .add("--doc-cap", &doc_cap, "maximum characters per document")
      .add("--vocab-size", &vocab_size, "vocabulary size, including the 9 special tokens")
      .add("--input", &input,
           "comma-separated parquet/jsonl/text files or directories (default: $NANOCHAT_BASE_DIR/base_data_climbmix "
           "minus its last (validation) shard)")
      .add("--output", &output, "output directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--text-field", &text_field, "JSONL field / parquet column holding the text")
      .add("--num-threads", &num_threads, "worker threads (0 = all cores)");
  if (!p.parse(args)) return 0;
  if (vocab_size - static_cast<int64_t>(kSpecialTokens.size()) < 256) {
    usage_fail("argument --vocab-size: must be at least {} (256 bytes + {} special tokens), got {}",
               256 + kSpecialTokens.size(), kSpecialTokens.size(), vocab_size);
  }
  if (max_chars <= 0) usage_fail("argument --max-chars: must be positive, got {}", max_chars);
  if (doc_cap <= 0) usage_fail("argument --doc-cap: must be positive, got {}", doc_cap);
  if (input.empty()) input = default_input();
  const fs::path out_dir = output.empty() ? tokenizer_dir() : fs::path(output);

  log_info("max_chars: {}  doc_cap: {}  vocab_size: {}", max_chars, doc_cap, vocab_size);
  DocumentSourceOptions src;
  src.text_field = text_field;
  const auto files = resolve_document_files(input, src);
  log_info("training on {} file(s), first {}", files.size(), files.front().string());

  const auto t0 = std::chrono::steady_clock::now();
  ChunkCounter counter;
  int64_t total_chars = 0, docs = 0;
  std::vector<std::string_view> cropped;
  for_each_document_batch(
      files, 8192,
      [&](std::vector<std::string>& batch) {
        cropped.clear();
        bool done = false;
        for (auto& doc : batch) {
          std::string_view d = doc;
          // The original crops Python strings; text read from files is repaired the same way first.
          if (!utf8_is_valid(d)) {
            doc = utf8_sanitize(d);
            d = doc;
          }
          const size_t bytes = utf8_prefix_bytes(d, static_cast<size_t>(doc_cap));
          d = d.substr(0, bytes);
          cropped.push_back(d);
          total_chars += static_cast<int64_t>(utf8_count_code_points(d));
          ++docs;
          if (total_chars > max_chars) {  // the document that crosses the limit is included
            done = true;
            break;
          }
        }
        counter.add(cropped, num_threads);
        return !done;
      },
      src);
  const double count_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("read {} documents, {} characters, {} distinct chunks in {:.2f}s", docs, total_chars, counter.size(), count_s);

  const size_t num_merges = static_cast<size_t>(vocab_size) - kSpecialTokens.size() - 256;
  BpeTrainOptions opts;
  opts.num_threads = num_threads;
  const auto merges = train_bpe(counter, num_merges, opts);
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (merges.size() < num_merges) {
    log_warn("only {} merges were possible (asked for {}): the vocabulary is {} instead of {}", merges.size(), num_merges,
             256 + merges.size() + kSpecialTokens.size(), vocab_size);
  }
  log_info("Training time: {:.2f}s", train_s);

  std::vector<std::pair<TokenId, TokenId>> pairs;
  pairs.reserve(merges.size());
  for (const auto& m : merges) pairs.emplace_back(m.left, m.right);
  const Tokenizer tok = Tokenizer::from_merges(pairs);
  const auto ids = tok.encode(kSanityText);
  NC_CHECK(tok.decode(ids) == kSanityText, "sanity check failed: encode/decode did not round-trip");
  tok.save(out_dir);
  log_info("saved tokenizer ({} tokens) to {}", tok.vocab_size(), out_dir.string());
  const auto lengths = tok.token_byte_lengths();
  int64_t specials = 0, sum = 0, mn = INT64_MAX, mx = 0;
  for (const auto l : lengths) {
    if (l == 0) ++specials;
    else {
      sum += l;
      mn = std::min<int64_t>(mn, l);
      mx = std::max<int64_t>(mx, l);
    }
  }
  log_info("token_bytes: {} special, {} ordinary; bytes per token min {} max {} mean {:.2f}", specials,
           static_cast<int64_t>(lengths.size()) - specials, mn, mx,
           static_cast<double>(sum) / static_cast<double>(lengths.size() - static_cast<size_t>(specials)));
  return 0;
}

}  // namespace nanochat::app
