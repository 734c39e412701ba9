// The pretraining document stream of spec/model-and-training.md §9.3: an endless sequence of slices of
// up to 128 documents, read row group by row group from the shards, each slice tagged with the
// (pq_idx, rg_idx, epoch) it came from. Rank r of W reads row groups r, r+W, r+2W, ... of every file,
// so ranks see disjoint row groups. Resuming from a saved state skips to the next full "round" of row
// groups after the saved one, exactly as the original does (documents between the save point and that
// round are not re-read: the original's resume is approximate by design).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nanochat::parquet {
class ParquetFile;
}

namespace nanochat {

struct LoaderState {
  int64_t pq_idx = 0;
  int64_t rg_idx = 0;
  int64_t epoch = 1;
  friend bool operator==(const LoaderState&, const LoaderState&) = default;
};

// The original's dataloader_state_dict JSON: {"pq_idx", "rg_idx", "epoch"} (epoch defaults to 1).
nlohmann::json loader_state_to_json(const LoaderState& s);
LoaderState loader_state_from_json(const nlohmann::json& j);

struct DocumentSlice {
  std::vector<std::string> texts;
  LoaderState state;
};

class DocumentStream {
 public:
  DocumentStream(std::vector<std::filesystem::path> files, int rank, int world_size,
                 std::optional<LoaderState> resume = std::nullopt, size_t slice_size = 128, std::string column = "text");
  ~DocumentStream();
  DocumentStream(DocumentStream&&) noexcept;

  DocumentSlice next();  // never ends; throws Error when this rank has no row group in any file

 private:
  void load_row_group();
  const parquet::ParquetFile& file(size_t idx);

  std::vector<std::filesystem::path> files_;
  int rank_, world_;
  size_t slice_size_;
  std::string column_;
  std::optional<LoaderState> resume_;
  bool first_pass_ = true;
  int64_t epoch_ = 1;
  size_t pq_ = 0;
  int64_t rg_ = -1;                 // current row group, -1 before the first
  std::vector<std::string> docs_;   // documents of the current row group
  size_t doc_pos_ = 0;
  bool yielded_this_pass_ = false;
  bool pass_began_at_resume_ = false;
  std::unique_ptr<parquet::ParquetFile> open_;
  size_t open_idx_ = SIZE_MAX;
};

// The *.parquet files directly in dir whose names start with `prefix`, in name order; empty when there
// are none or dir is not a readable directory.
std::vector<std::filesystem::path> find_parquet_files(const std::filesystem::path& dir, std::string_view prefix = {});
// find_parquet_files for pretraining shards: a missing directory or no shard is an Error naming dir.
// Train files = every shard but the last; val = the last only (the original's split rule).
std::vector<std::filesystem::path> list_parquet_shards(const std::filesystem::path& dir);
std::vector<std::filesystem::path> split_shards(const std::vector<std::filesystem::path>& shards, bool val);

}  // namespace nanochat
