// Encoding throughput of a saved tokenizer on a JSONL corpus ({"text": ...} per line), the way
// tiktoken's encode_ordinary_batch is used: all documents, N threads. Prints MB/s (median of --repeat
// runs) and optionally writes the ids (uint32 little-endian, documents concatenated, preceded by a
// uint64 count per document) so another tool can compare them with tiktoken's.
//   tokenizer_encode_bench --tokenizer DIR --input corpus.jsonl [--threads N] [--repeat R] [--ids-out F]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/tokenizer/tokenizer.h"

using namespace nanochat;

int main(int argc, char** argv) {
  std::string tokenizer_dir, input, ids_out;
  int threads = 1, repeat = 5;
  ArgParser p("tokenizer_encode_bench", "Encoding throughput of a saved tokenizer on a JSONL corpus.");
  p.add("--tokenizer", &tokenizer_dir, "tokenizer directory")
      .add("--input", &input, "JSONL corpus with a 'text' field per line")
      .add("--threads", &threads, "threads")
      .add("--repeat", &repeat, "timed repetitions (median reported)")
      .add("--ids-out", &ids_out, "write ids here");
  try {
    if (!p.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
    NC_CHECK(!tokenizer_dir.empty() && !input.empty(), "--tokenizer and --input are required");
    const Tokenizer tok = Tokenizer::load(tokenizer_dir);
    std::vector<std::string> docs;
    size_t bytes = 0;
    {
      std::ifstream in(input, std::ios::binary);
      NC_CHECK(in.good(), "cannot open {}", input);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        docs.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
        bytes += docs.back().size();
      }
    }
    std::vector<std::vector<TokenId>> ids;
    ids = tok.encode_batch(docs, threads);  // warm-up (page faults, piece caches)
    std::vector<double> secs;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      ids = tok.encode_batch(docs, threads);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    const double med = secs[secs.size() / 2];
    size_t ntok = 0;
    for (const auto& v : ids) ntok += v.size();
    std::printf("{\"impl\": \"nanochat.cpp\", \"threads\": %d, \"docs\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
                "\"seconds_median\": %.6f, \"mb_per_s\": %.3f}\n",
                threads, docs.size(), bytes, ntok, med, static_cast<double>(bytes) / med / 1e6);
    if (!ids_out.empty()) {
      std::string blob;
      for (const auto& v : ids) {
        const uint64_t n = v.size();
        blob.append(reinterpret_cast<const char*>(&n), sizeof n);
        blob.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(TokenId));
      }
      write_file_atomic(ids_out, blob);
    }
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
