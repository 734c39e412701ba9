#include "nanochat/data/document_stream.h"

#include <algorithm>
#include <system_error>
#include <system_error>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/data/parquet_reader.h"

namespace nanochat {

namespace fs = std::filesystem;

nlohmann::json loader_state_to_json(const LoaderState& s) {
  return {{"pq_idx", s.pq_idx}, {"rg_idx", s.rg_idx}, {"epoch", s.epoch}};
}

LoaderState loader_state_from_json(const nlohmann::json& j) {
  NC_CHECK(j.is_object() && j.contains("pq_idx") && j.contains("rg_idx") && j["pq_idx"].is_number_integer() &&
               j["rg_idx"].is_number_integer(),
           "dataloader state must have integer 'pq_idx' and 'rg_idx', got {}", j.dump());
  LoaderState s;
  s.pq_idx = j["pq_idx"].get<int64_t>();
  s.rg_idx = j["rg_idx"].get<int64_t>();
  if (j.contains("epoch") && j["epoch"].is_number_integer()) s.epoch = j["epoch"].get<int64_t>();
  NC_CHECK(s.pq_idx >= 0 && s.rg_idx >= 0 && s.epoch >= 1, "invalid dataloader state {}", j.dump());
  return s;
}

DocumentStream::DocumentStream(std::vector<fs::path> files, int rank, int world_size, std::optional<LoaderState> resume,
                               size_t slice_size, std::string column)
    : files_(std::move(files)),
      rank_(rank),
      world_(world_size),
      slice_size_(slice_size),
      column_(std::move(column)),
      resume_(resume) {
  NC_CHECK(!files_.empty(), "the document stream has no files");
  NC_CHECK(world_ >= 1 && rank_ >= 0 && rank_ < world_, "invalid rank {} of world size {}", rank_, world_);
  NC_CHECK(slice_size_ >= 1, "slice size must be positive");
  if (resume_) {
    NC_CHECK(resume_->pq_idx < static_cast<int64_t>(files_.size()),
             "cannot resume at file index {}: only {} files", resume_->pq_idx, files_.size());
    epoch_ = resume_->epoch;
    pq_ = static_cast<size_t>(resume_->pq_idx);
    pass_began_at_resume_ = true;
  }
}

DocumentStream::~DocumentStream() = default;
DocumentStream::DocumentStream(DocumentStream&&) noexcept = default;

const parquet::ParquetFile& DocumentStream::file(size_t idx) {
  if (open_idx_ != idx) {
    open_ = std::make_unique<parquet::ParquetFile>(files_[idx]);
    open_idx_ = idx;
  }
  return *open_;
}

// Advances to the next row group this rank owns, following §9.3's loop, and reads it.
void DocumentStream::load_row_group() {
  for (;;) {
    if (pq_ >= files_.size()) {
      // End of a pass over the files: a new epoch from file 0. A full pass (not one that began at a
      // resume point) that found nothing means this rank owns no row group at all.
      if (!yielded_this_pass_ && !pass_began_at_resume_) {
        fail("rank {} of {} has no row group to read in {} file(s) (a file needs more than {} row groups)", rank_,
             world_, files_.size(), rank_);
      }
      first_pass_ = false;
      pass_began_at_resume_ = false;
      yielded_this_pass_ = false;
      ++epoch_;
      pq_ = 0;
      rg_ = -1;
    }
    const auto& f = file(pq_);
    const int64_t groups = f.num_row_groups();
    if (rg_ < 0) {
      if (first_pass_ && resume_ && static_cast<int64_t>(pq_) == resume_->pq_idx) {
        rg_ = (resume_->rg_idx / world_ + 1) * world_ + rank_;  // skip one full round past the saved one
        resume_.reset();
      } else {
        rg_ = rank_;
      }
    } else {
      rg_ += world_;
    }
    if (rg_ >= groups) {
      ++pq_;
      rg_ = -1;
      continue;
    }
    docs_ = f.read_text_column(static_cast<int>(rg_), column_);
    doc_pos_ = 0;
    yielded_this_pass_ = true;
    if (!docs_.empty()) return;
  }
}

DocumentSlice DocumentStream::next() {
  if (doc_pos_ >= docs_.size()) load_row_group();
  DocumentSlice slice;
  const size_t end = std::min(docs_.size(), doc_pos_ + slice_size_);
  slice.texts.assign(std::make_move_iterator(docs_.begin() + static_cast<std::ptrdiff_t>(doc_pos_)),
                     std::make_move_iterator(docs_.begin() + static_cast<std::ptrdiff_t>(end)));
  doc_pos_ = end;
  slice.state = {static_cast<int64_t>(pq_), rg_, epoch_};
  return slice;
}

std::vector<fs::path> find_parquet_files(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".parquet" &&
        entry.path().filename().string().starts_with(prefix))
      out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> list_parquet_shards(const fs::path& dir) {
  NC_CHECK(fs::is_directory(dir), "shard directory {} does not exist", dir.string());
  std::vector<fs::path> out = find_parquet_files(dir);
  NC_CHECK(!out.empty(), "no *.parquet shards in {}", dir.string());
  return out;
}

std::vector<fs::path> split_shards(const std::vector<fs::path>& shards, bool val) {
  NC_CHECK(shards.size() >= 2, "need at least 2 shards (the last one is the validation split), found {}", shards.size());
  if (val) return {shards.back()};
  return {shards.begin(), shards.end() - 1};
}

}  // namespace nanochat
