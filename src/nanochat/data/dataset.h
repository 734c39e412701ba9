// The pretraining datasets (spec/model-and-training.md §9.1): where shards live online and locally,
// which to download, and turning local text into shards of the same format.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/data/downloader.h"

namespace nanochat {

struct DatasetSpec {
  std::string name;          // "climbmix" | "fineweb-edu"
  std::string base_url;      // shard_{i:05d}.parquet is appended
  int max_shard;             // last shard index
  std::string dir_name;      // under $NANOCHAT_BASE_DIR
  bool fixed_val_shard;      // climbmix: the last shard is always downloaded as validation
};

// Throws UsageError naming the valid choices for an unknown name.
const DatasetSpec& dataset_spec(std::string_view name);
std::string shard_filename(int index);  // "shard_00042.parquet"

// Jobs for `nanochat dataset -n N`: train shards 0..N-1 (all when N < 0), plus the validation shard for
// climbmix. base_url_override (e.g. a mirror or a test server) replaces the dataset's URL prefix.
std::vector<DownloadJob> dataset_download_jobs(const DatasetSpec& spec, int64_t num_files,
                                               const std::filesystem::path& dir,
                                               const std::string& base_url_override = {});

// The default local data directory: base_data_climbmix, else the legacy base_data if only it exists.
std::filesystem::path default_data_dir();

struct ShardingOptions {
  int64_t shard_chars = 250'000'000;  // close a shard at this many characters...
  int64_t row_group_size = 1024;      // ...and a multiple of this many documents (full row groups);
                                      // reduced for corpora too small to fill min_shards * 4 of them
  int64_t min_shards = 2;             // shrink shard_chars so small corpora still get a val shard
  int64_t shuffle_seed = 42;          // < 0 keeps the input order
};

struct ShardingReport {
  int64_t shards = 0, documents = 0, characters = 0, shard_chars_used = 0, row_group_size_used = 0;
};

// Writes documents as shard_00000.parquet, ... into dir (the last is the validation split). Refuses
// to touch a directory that already holds shards, so existing data is never overwritten.
ShardingReport write_shards(std::vector<std::string> docs, const std::filesystem::path& dir,
                            const ShardingOptions& options = {});

}  // namespace nanochat
