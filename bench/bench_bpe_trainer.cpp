// Time-to-vocab of the BPE trainer: chunk counting (pre-tokenize + count) and the merge loop, for
// vocab sizes 4096 and 32768 (nanochat's convention: 9 special tokens, so vocab - 265 merges).
//
//   bench_bpe_trainer [--threads=N] [--vocab=4096,32768] [--repeat=3] [--parallel-min-words=N] [files...]
//
// Each vocab size is trained --repeat times and the fastest run is printed (the dev box is shared).
//
// Every line of every file is one document (as HuggingFace's Tokenizer.train(files) reads files),
// so the figures compare with that trainer on the same files. Defaults to the shared test texts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/thread_pool.h"
#include "nanochat/tokenizer/bpe_trainer.h"
#include "nanochat/tokenizer/chunk_counter.h"

using namespace nanochat;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<size_t> parse_sizes(std::string_view list) {
  std::vector<size_t> out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string item(list.substr(0, comma));
    try {
      out.push_back(std::stoul(item));
    } catch (const std::exception&) {
      usage_fail("--vocab: '{}' is not a number", item);
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int threads = default_num_threads();
    std::vector<size_t> vocabs = {4096, 32768};
    std::vector<std::string> files;
    int repeat = 3;
    size_t parallel_min_words = BpeTrainOptions{}.parallel_min_words;
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg.starts_with("--threads=")) {
        threads = std::stoi(std::string(arg.substr(10)));
      } else if (arg.starts_with("--vocab=")) {
        vocabs = parse_sizes(arg.substr(8));
      } else if (arg.starts_with("--parallel-min-words=")) {
        parallel_min_words = std::stoul(std::string(arg.substr(21)));
      } else if (arg.starts_with("--repeat=")) {
        repeat = std::max(1, std::stoi(std::string(arg.substr(9))));
      } else if (arg.starts_with("--")) {
        usage_fail("unknown flag {} (flags: --threads=N --vocab=A,B --repeat=N --parallel-min-words=N)", arg);
      } else {
        files.emplace_back(arg);
      }
    }
    if (files.empty()) {
      const std::string shared = std::string(NANOCHAT_SOURCE_DIR) + "/../shared/data/";
      files = {shared + "tinyshakespeare/input.txt", shared + "wikitext2-raw/wiki.test.raw",
               shared + "gsm8k/train.jsonl"};
    }

    std::vector<std::string> texts;
    std::vector<std::string_view> docs;
    size_t bytes = 0;
    for (const auto& file : files) texts.push_back(read_file(file));
    for (const auto& text : texts) {
      bytes += text.size();
      size_t start = 0;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        end = end == std::string::npos ? text.size() : end + 1;
        docs.emplace_back(text.data() + start, end - start);
        start = end;
      }
    }
    const double mb = static_cast<double>(bytes) / 1e6;
    fmt::print("input: {} files, {:.2f} MB, {} documents (lines), {} threads\n", files.size(), mb, docs.size(),
               threads);

    for (size_t vocab : vocabs) {
      NC_CHECK(vocab >= 265, "--vocab: {} is below 265 (256 bytes + 9 special tokens)", vocab);
      const size_t num_merges = vocab - 256 - 9;
      struct Run {
        double total_s = 1e300, count_s = 0;
        size_t chunks = 0, merges = 0;
        int64_t pieces = 0;
        BpeTrainStats stats;
      } best;
      for (int r = 0; r < repeat; ++r) {
        const auto start = std::chrono::steady_clock::now();
        ChunkCounter counter;
        counter.add(docs, threads);
        const double count_s = seconds_since(start);
        BpeTrainOptions options;
        options.num_threads = threads;
        options.show_progress = false;
        options.parallel_min_words = parallel_min_words;
        BpeTrainStats stats;
        options.stats = &stats;
        const auto merges = train_bpe(counter, num_merges, options);
        const double total_s = seconds_since(start);
        if (total_s < best.total_s) {
          best = {total_s, count_s, counter.size(), merges.size(), counter.total_pieces(), stats};
        }
      }
      const BpeTrainStats& stats = best.stats;
      fmt::print(
          "vocab {:>6}: total {:7.3f} s ({:6.2f} MB/s) | count {:6.3f} s ({:6.1f} MB/s, {} chunks, {} pieces) | "
          "setup {:6.3f} s ({} words) | merge {:7.3f} s ({} merges, {:.0f} merges/s, {} word updates, {} pairs, {} stale pops, {} parallel merges of {} words)\n",
          vocab, best.total_s, mb / best.total_s, best.count_s, mb / best.count_s, best.chunks, best.pieces,
          stats.setup_seconds, stats.num_words, stats.merge_seconds, best.merges,
          static_cast<double>(best.merges) / stats.merge_seconds, stats.word_updates, stats.pairs_created,
          stats.stale_pops, stats.parallel_merges, stats.parallel_word_updates);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_bpe_trainer: {}\n", e.what());
    return 1;
  }
}
