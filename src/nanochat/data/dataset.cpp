#include "nanochat/data/dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/parquet_writer.h"

namespace nanochat {

namespace fs = std::filesystem;

const DatasetSpec& dataset_spec(std::string_view name) {
  static const DatasetSpec kClimbMix{"climbmix",
                                     "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main/",
                                     6542, "base_data_climbmix", true};
  static const DatasetSpec kFineWebEdu{"fineweb-edu",
                                       "https://huggingface.co/datasets/karpathy/fineweb-edu-100b-shuffle/resolve/main/",
                                       1822, "base_data", false};
  if (name == kClimbMix.name) return kClimbMix;
  if (name == kFineWebEdu.name) return kFineWebEdu;
  usage_fail("unknown dataset '{}' (choose from 'climbmix', 'fineweb-edu')", name);
}

std::string shard_filename(int index) { return fmt::format("shard_{:05d}.parquet", index); }

std::vector<DownloadJob> dataset_download_jobs(const DatasetSpec& spec, int64_t num_files, const fs::path& dir,
                                               const std::string& base_url_override) {
  std::string base = base_url_override.empty() ? spec.base_url : base_url_override;
  if (!base.empty() && base.back() != '/') base += '/';
  // climbmix: the last shard is validation, so there are max_shard train shards before it.
  const int64_t available = spec.fixed_val_shard ? spec.max_shard : spec.max_shard + 1;
  const int64_t n = num_files < 0 ? available : std::min(num_files, available);
  std::vector<DownloadJob> jobs;
  for (int64_t i = 0; i < n; ++i) {
    jobs.push_back({base + shard_filename(static_cast<int>(i)), dir / shard_filename(static_cast<int>(i))});
  }
  if (spec.fixed_val_shard) {
    jobs.push_back({base + shard_filename(spec.max_shard), dir / shard_filename(spec.max_shard)});
  }
  return jobs;
}

fs::path default_data_dir() {
  const fs::path climbmix = base_dir() / "base_data_climbmix";
  const fs::path legacy = base_dir() / "base_data";
  if (!fs::exists(climbmix) && fs::exists(legacy)) {
    log_warn("{} not found; using the legacy FineWeb-Edu shards in {}", climbmix.string(), legacy.string());
    return legacy;
  }
  return climbmix;
}

ShardingReport write_shards(std::vector<std::string> docs, const fs::path& dir, const ShardingOptions& options) {
  NC_CHECK(!docs.empty(), "no documents to write into {}", dir.string());
  NC_CHECK(options.row_group_size >= 1 && options.shard_chars >= 1, "invalid sharding options");
  std::error_code ec;
  fs::create_directories(dir, ec);
  NC_CHECK(!ec, "cannot create {}: {}", dir.string(), ec.message());
  for (const auto& e : fs::directory_iterator(dir)) {
    NC_CHECK(e.path().extension() != ".parquet",
             "{} already holds shards ({}); remove them or choose another --output", dir.string(),
             e.path().filename().string());
  }
  if (options.shuffle_seed >= 0) {
    // Fisher-Yates with a fixed engine: the same corpus and seed always give the same shards.
    std::mt19937_64 rng(static_cast<uint64_t>(options.shuffle_seed));
    for (size_t i = docs.size() - 1; i > 0; --i) {
      std::swap(docs[i], docs[static_cast<size_t>(rng() % (i + 1))]);
    }
  }
  ShardingReport report;
  std::vector<int64_t> chars(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!utf8_is_valid(docs[i])) docs[i] = utf8_sanitize(docs[i]);
    chars[i] = static_cast<int64_t>(utf8_count_code_points(docs[i]));
    report.characters += chars[i];
  }
  int64_t shard_chars = options.shard_chars;
  if (report.characters < options.min_shards * shard_chars) {
    // A small corpus: aim for ~4 shards per min_shards so the validation shard is a modest slice.
    shard_chars = std::max<int64_t>(1, report.characters / (options.min_shards * 4));
  }
  report.shard_chars_used = shard_chars;
  int64_t row_group = options.row_group_size;
  const int64_t ndocs = static_cast<int64_t>(docs.size());
  if (ndocs < options.min_shards * 4 * row_group) {
    // Too few documents for full row groups in several shards: smaller row groups, so that a small
    // corpus still gets a validation shard (row groups only decide distributed sharding).
    row_group = std::max<int64_t>(1, ndocs / (options.min_shards * 4));
    log_info("small corpus ({} documents): row groups of {} documents instead of {}", ndocs, row_group,
             options.row_group_size);
  }
  report.row_group_size_used = row_group;
  std::unique_ptr<parquet::TextShardWriter> writer;
  int64_t in_shard_chars = 0;
  parquet::WriteOptions wopt;
  wopt.row_group_size = row_group;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!writer) {
      writer = std::make_unique<parquet::TextShardWriter>(dir / shard_filename(static_cast<int>(report.shards)), wopt);
      in_shard_chars = 0;
    }
    writer->add(docs[i]);
    in_shard_chars += chars[i];
    ++report.documents;
    const bool full = in_shard_chars >= shard_chars && writer->num_docs() % row_group == 0;
    if (full && i + 1 < docs.size()) {
      writer->finish();
      writer.reset();
      ++report.shards;
    }
  }
  if (writer) {
    writer->finish();
    ++report.shards;
  }
  if (report.shards < options.min_shards) {
    log_warn("only {} shard(s) written to {}: the corpus has fewer than {} row groups of {} documents, so there is "
             "no separate validation shard",
             report.shards, dir.string(), options.min_shards, row_group);
  }
  return report;
}

}  // namespace nanochat
