// BOS-aligned best-fit packing (spec/model-and-training.md §9.4) and the pretraining data loader.
//
// BosPacker fills B rows of T+1 tokens from a buffer of >= buffer_size tokenized documents (each
// starting with BOS): at every step it places the first of the longest documents that fit; when none
// fits it crops the first of the shortest to fill the row and discards the rest of it. Rows therefore
// always start with BOS, carry no padding, and inputs/targets are the row shifted by one.
//
// BosPackingLoader feeds the packer from a DocumentStream, tokenizing whole row groups on a worker
// pool in a background thread ahead of the trainer, so the trainer never waits on tokenization.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "nanochat/data/document_stream.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat {

struct PackedBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> inputs;   // B*T, row-major
  std::vector<int32_t> targets;  // B*T
  LoaderState state;             // of the most recently pulled slice (the tokenizer frontier)
};

struct PackingStats {
  uint64_t docs_placed = 0;      // whole documents placed
  uint64_t docs_cropped = 0;     // documents cut to fill a row
  uint64_t tokens_emitted = 0;   // B*(T+1) per batch
  uint64_t tokens_cropped = 0;   // discarded tails of cropped documents
};

struct TokenizedSlice {
  std::vector<std::vector<TokenId>> docs;  // each starts with BOS
  LoaderState state;
};

class BosPacker {
 public:
  using Refill = std::function<TokenizedSlice()>;
  BosPacker(int64_t B, int64_t T, Refill refill, size_t buffer_size = 1000);

  PackedBatch next();
  const PackingStats& stats() const { return stats_; }
  size_t buffered() const { return buffer_.size(); }
  size_t buffered_tokens() const;

 private:
  int64_t B_, T_;
  Refill refill_;
  size_t buffer_size_;
  std::vector<std::vector<TokenId>> buffer_;
  LoaderState state_;
  PackingStats stats_;
};

struct LoaderOptions {
  int tokenizer_threads = 4;
  size_t prefetch_row_groups = 4;  // tokenized row groups kept ready ahead of the packer
  size_t buffer_size = 1000;
  size_t slice_size = 128;
};

class BosPackingLoader {
 public:
  BosPackingLoader(const Tokenizer& tokenizer, std::vector<std::filesystem::path> files, int64_t B, int64_t T, int rank,
                   int world_size, std::optional<LoaderState> resume = std::nullopt, LoaderOptions options = {});
  ~BosPackingLoader();
  BosPackingLoader(const BosPackingLoader&) = delete;
  BosPackingLoader& operator=(const BosPackingLoader&) = delete;

  PackedBatch next();
  const PackingStats& stats() const;

 private:
  struct Prefetcher;
  std::unique_ptr<Prefetcher> prefetcher_;
  std::unique_ptr<BosPacker> packer_;
};

}  // namespace nanochat
