// nanochat dataset: download pretraining shards (nanochat.dataset -n N -w W), or turn local text into
// shards of the same format (--from-text) so everything downstream runs offline.
#include <chrono>
#include <cstdlib>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/data/dataset.h"
#include "nanochat/data/document_source.h"
#include "nanochat/data/parquet_reader.h"

namespace nanochat::app {

namespace fs = std::filesystem;

namespace {

int from_text(const std::string& inputs, const fs::path& out, const std::string& text_field, int64_t shard_chars,
              int64_t seed) {
  DocumentSourceOptions src;
  src.text_field = text_field;
  src.exclude_val_shard = false;
  const auto files = resolve_document_files(inputs, src);
  std::vector<std::string> docs;
  for_each_document_batch(files, 4096, [&](std::vector<std::string>& batch) {
    for (auto& d : batch)
      if (!d.empty()) docs.push_back(std::move(d));
    return true;
  }, src);
  ShardingOptions opt;
  if (shard_chars > 0) opt.shard_chars = shard_chars;
  opt.shuffle_seed = seed;
  const auto t0 = std::chrono::steady_clock::now();
  const ShardingReport r = write_shards(std::move(docs), out, opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("wrote {} shard(s) to {}: {} documents, {} characters (about {} characters per shard; the last shard is "
           "the validation split) in {:.1f}s",
           r.shards, out.string(), r.documents, r.characters, r.shard_chars_used, secs);
  return 0;
}

}  // namespace

int dataset(const Args& args) {
  int64_t num_files = -1, shard_chars = -1, seed = 42;
  int workers = 4;
  double backoff = 2.0;
  std::string name = "climbmix", from, output, text_field = "text";
  ArgParser p("nanochat dataset",
              "Download pretraining shards, or build shards from local text (files, directories, JSONL).");
  p.add("-n,--num-files", &num_files, "number of train shards to download (-1 = all); the validation shard is added")
      .add("-w,--num-workers", &workers, "parallel downloads")
      .add("--dataset", &name, "dataset to download", {"climbmix", "fineweb-edu"})
      .add("--from-text", &from, "comma-separated text/JSONL/parquet files or directories to turn into shards")
      .add("--output", &output, "shard directory (default: $NANOCHAT_BASE_DIR/base_data_climbmix, or the dataset's)")
      .add("--text-field", &text_field, "JSONL field holding the text (with --from-text)")
      .add("--shard-chars", &shard_chars, "characters per shard with --from-text (-1 = 250M, reduced for small corpora)")
      .add("--shuffle-seed", &seed, "shuffle documents with this seed before sharding (-1 = keep order)")
      .add("--retry-backoff", &backoff, "seconds before the first retry of a failed download (doubles each time; 5 attempts)");
  if (!p.parse(args)) return 0;
  if (workers < 1) usage_fail("argument -w/--num-workers: must be at least 1, got {}", workers);
  if (backoff < 0) usage_fail("argument --retry-backoff: must not be negative, got {}", backoff);
  const DatasetSpec& spec = dataset_spec(name);
  const fs::path dir = output.empty() ? base_dir() / spec.dir_name : fs::path(output);
  if (!from.empty()) return from_text(from, dir, text_field, shard_chars, seed);

  const char* mirror = std::getenv("NANOCHAT_DATASET_BASE_URL");
  const auto jobs = dataset_download_jobs(spec, num_files, dir, mirror ? mirror : "");
  log_info("downloading {} shard(s) of {} to {} with {} workers", jobs.size(), spec.name, dir.string(), workers);
  DownloadOptions opt;
  opt.workers = workers;
  opt.backoff_seconds = backoff;
  opt.verify = [](const fs::path& f) { parquet::ParquetFile check(f); };  // footer must decode
  const DownloadReport r = download_files(jobs, opt);
  for (const auto& e : r.errors) log_error("{}", e);
  log_info("Done! Downloaded: {}/{} shards to {} ({} already present)", r.downloaded + r.skipped, jobs.size(),
           dir.string(), r.skipped);
  return r.failed == 0 ? 0 : 1;
}

}  // namespace nanochat::app
