// Pretraining loader throughput: tokens/s that BosPackingLoader delivers (parquet -> tokenize on a
// worker pool -> best-fit packing), the figure that must keep a training node fed.
//   loader_bench --tokenizer DIR --data DIR [--threads N] [--batch 32] [--seq 2048] [--batches 200]
#include <chrono>
#include <cstdio>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/data/document_stream.h"

using namespace nanochat;

int main(int argc, char** argv) {
  std::string tokenizer_dir, data_dir;
  int threads = 4;
  int64_t B = 32, T = 2048, batches = 200;
  ArgParser p("loader_bench", "Throughput of the BOS-aligned best-fit packing loader.");
  p.add("--tokenizer", &tokenizer_dir, "tokenizer directory")
      .add("--data", &data_dir, "shard directory (all but the last shard are read)")
      .add("--threads", &threads, "tokenizer threads")
      .add("--batch", &B, "rows per batch")
      .add("--seq", &T, "sequence length")
      .add("--batches", &batches, "timed batches");
  try {
    if (!p.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
    NC_CHECK(!tokenizer_dir.empty() && !data_dir.empty(), "--tokenizer and --data are required");
    const Tokenizer tok = Tokenizer::load(tokenizer_dir);
    LoaderOptions opt;
    opt.tokenizer_threads = threads;
    BosPackingLoader loader(tok, split_shards(list_parquet_shards(data_dir), false), B, T, 0, 1, std::nullopt, opt);
    for (int i = 0; i < 5; ++i) loader.next();  // warm-up: fill the prefetch queue and the packing buffer
    const auto t0 = std::chrono::steady_clock::now();
    int64_t checksum = 0;
    for (int64_t i = 0; i < batches; ++i) checksum += loader.next().inputs[static_cast<size_t>(i % (B * T))];
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tokens = static_cast<double>(batches * B * T);
    const auto& st = loader.stats();
    std::printf("{\"threads\": %d, \"B\": %lld, \"T\": %lld, \"batches\": %lld, \"seconds\": %.4f, \"tokens_per_s\": %.0f, "
                "\"cropped_fraction\": %.4f, \"checksum\": %lld}\n",
                threads, static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(batches), secs,
                tokens / secs,
                static_cast<double>(st.tokens_cropped) / static_cast<double>(st.tokens_emitted + st.tokens_cropped),
                static_cast<long long>(checksum));
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
