// Single-thread throughput of the pre-tokenizer: the hand-written scanner (make_fast_pretokenizer) vs
// the PCRE2-JIT reference (make_regex_pretokenizer), on English text from ../shared/data.
//   bench_pretokenizer [--benchmark_filter=...]      (NANOCHAT_SHARED overrides the data location)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/core/file_io.h"
#include "nanochat/tokenizer/fast_pretokenizer.h"
#include "nanochat/tokenizer/split_pattern.h"

namespace {

std::filesystem::path shared_dir() {
  const char* env = std::getenv("NANOCHAT_SHARED");
  if (env != nullptr && *env != '\0') return env;
  return std::filesystem::path(NANOCHAT_SOURCE_DIR) / ".." / "shared";
}

struct Corpus {
  const char* name;
  const char* relative_path;
};
constexpr Corpus kCorpora[] = {
    {"tinyshakespeare", "data/tinyshakespeare/input.txt"},
    {"wikitext2_test", "data/wikitext2-raw/wiki.test.raw"},
};

void run_split(benchmark::State& state, const nanochat::Pretokenizer& pretokenizer, const std::string& text) {
  std::vector<std::string_view> pieces;  // reused, as the tokenizer does, so allocation is not measured
  for (auto _ : state) {
    pieces.clear();
    pretokenizer.split(text, pieces);
    benchmark::DoNotOptimize(pieces.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["pieces"] = static_cast<double>(pieces.size());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  static std::shared_ptr<nanochat::Pretokenizer> fast = nanochat::make_fast_pretokenizer(nanochat::kNanochatSplitPattern);
  static std::shared_ptr<nanochat::Pretokenizer> pcre2 = nanochat::make_regex_pretokenizer(nanochat::kNanochatSplitPattern);
  static std::vector<std::string> texts;
  texts.reserve(std::size(kCorpora));
  for (const Corpus& corpus : kCorpora) {
    const auto path = shared_dir() / corpus.relative_path;
    if (!std::filesystem::exists(path)) {
      std::fprintf(stderr, "skipping %s: missing %s (set NANOCHAT_SHARED)\n", corpus.name, path.c_str());
      continue;
    }
    const std::string& text = texts.emplace_back(nanochat::read_file(path));
    benchmark::RegisterBenchmark((std::string("split/fast/") + corpus.name).c_str(),
                                 [&text](benchmark::State& s) { run_split(s, *fast, text); });
    benchmark::RegisterBenchmark((std::string("split/pcre2_jit/") + corpus.name).c_str(),
                                 [&text](benchmark::State& s) { run_split(s, *pcre2, text); });
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
