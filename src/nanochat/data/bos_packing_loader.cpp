#include "nanochat/data/bos_packing_loader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "nanochat/core/error.h"

namespace nanochat {

BosPacker::BosPacker(int64_t B, int64_t T, Refill refill, size_t buffer_size)
    : B_(B), T_(T), refill_(std::move(refill)), buffer_size_(buffer_size) {
  NC_CHECK(B_ >= 1 && T_ >= 1, "invalid batch shape B={} T={}", B_, T_);
  NC_CHECK(buffer_size_ >= 1, "buffer size must be positive");
}

size_t BosPacker::buffered_tokens() const {
  size_t n = 0;
  for (const auto& d : buffer_) n += d.size();
  return n;
}

PackedBatch BosPacker::next() {
  const int64_t capacity = T_ + 1;
  std::vector<int32_t> rows(static_cast<size_t>(B_ * capacity));
  for (int64_t r = 0; r < B_; ++r) {
    int32_t* row = rows.data() + r * capacity;
    int64_t pos = 0;
    while (pos < capacity) {
      while (buffer_.size() < buffer_size_) {
        TokenizedSlice slice = refill_();
        state_ = slice.state;
        for (auto& d : slice.docs) {
          NC_CHECK(!d.empty(), "the packer received an empty document (documents must start with BOS)");
          buffer_.push_back(std::move(d));
        }
      }
      const int64_t remaining = capacity - pos;
      // First document (lowest index) among the longest that fit.
      size_t best = SIZE_MAX;
      size_t best_len = 0;
      for (size_t i = 0; i < buffer_.size(); ++i) {
        const size_t len = buffer_[i].size();
        if (len <= static_cast<size_t>(remaining) && (best == SIZE_MAX || len > best_len)) {
          best = i;
          best_len = len;
        }
      }
      size_t take;
      size_t victim;
      if (best != SIZE_MAX) {
        victim = best;
        take = best_len;
        ++stats_.docs_placed;
      } else {
        // None fits: crop the first of the shortest documents to fill the row.
        victim = 0;
        for (size_t i = 1; i < buffer_.size(); ++i)
          if (buffer_[i].size() < buffer_[victim].size()) victim = i;
        take = static_cast<size_t>(remaining);
        ++stats_.docs_cropped;
        stats_.tokens_cropped += buffer_[victim].size() - take;
      }
      const auto& doc = buffer_[victim];
      for (size_t k = 0; k < take; ++k) row[pos + static_cast<int64_t>(k)] = static_cast<int32_t>(doc[k]);
      pos += static_cast<int64_t>(take);
      buffer_.erase(buffer_.begin() + static_cast<std::ptrdiff_t>(victim));
    }
  }
  PackedBatch out;
  out.B = B_;
  out.T = T_;
  out.inputs.resize(static_cast<size_t>(B_ * T_));
  out.targets.resize(static_cast<size_t>(B_ * T_));
  for (int64_t r = 0; r < B_; ++r) {
    const int32_t* row = rows.data() + r * capacity;
    std::copy(row, row + T_, out.inputs.begin() + r * T_);
    std::copy(row + 1, row + capacity, out.targets.begin() + r * T_);
  }
  out.state = state_;
  stats_.tokens_emitted += static_cast<uint64_t>(B_ * capacity);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Background tokenization: one thread reads row groups in stream order and tokenizes each whole row
// group with encode_batch (a worker pool), then hands out its 128-document slices in order.

struct BosPackingLoader::Prefetcher {
  const Tokenizer& tok;
  DocumentStream stream;
  LoaderOptions options;
  std::mutex mutex;
  std::condition_variable can_produce, can_consume;
  std::deque<TokenizedSlice> ready;
  size_t ready_docs = 0;
  bool stopping = false;
  std::exception_ptr error;
  std::thread worker;

  Prefetcher(const Tokenizer& t, DocumentStream s, LoaderOptions o) : tok(t), stream(std::move(s)), options(o) {
    worker = std::thread([this] { run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    can_produce.notify_all();
    worker.join();
  }

  void run() {
    try {
      const size_t max_docs = options.prefetch_row_groups * 1024;
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(mutex);
          can_produce.wait(lock, [&] { return stopping || ready_docs < max_docs; });
          if (stopping) return;
        }
        // Gather the slices of one row group (slices of a row group share their state), then tokenize
        // them together so the pool gets enough work per call.
        std::vector<DocumentSlice> slices;
        size_t ndocs = 0;
        do {
          slices.push_back(stream.next());
          ndocs += slices.back().texts.size();
        } while (ndocs < 1024 && slices.back().texts.size() == options.slice_size);
        std::vector<std::string> texts;
        texts.reserve(ndocs);
        for (auto& s : slices)
          for (auto& t : s.texts) texts.push_back(std::move(t));
        auto ids = tok.encode_batch(texts, options.tokenizer_threads, tok.bos_id());
        std::lock_guard<std::mutex> lock(mutex);
        size_t k = 0;
        for (auto& s : slices) {
          TokenizedSlice ts;
          ts.state = s.state;
          for (size_t i = 0; i < s.texts.size(); ++i) ts.docs.push_back(std::move(ids[k++]));
          ready_docs += ts.docs.size();
          ready.push_back(std::move(ts));
        }
        can_consume.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      error = std::current_exception();
      can_consume.notify_all();
    }
  }

  TokenizedSlice pop() {
    std::unique_lock<std::mutex> lock(mutex);
    can_consume.wait(lock, [&] { return !ready.empty() || error; });
    if (ready.empty() && error) std::rethrow_exception(error);
    TokenizedSlice s = std::move(ready.front());
    ready.pop_front();
    ready_docs -= s.docs.size();
    can_produce.notify_all();
    return s;
  }
};

BosPackingLoader::BosPackingLoader(const Tokenizer& tokenizer, std::vector<std::filesystem::path> files, int64_t B,
                                   int64_t T, int rank, int world_size, std::optional<LoaderState> resume,
                                   LoaderOptions options) {
  DocumentStream stream(std::move(files), rank, world_size, resume, options.slice_size);
  prefetcher_ = std::make_unique<Prefetcher>(tokenizer, std::move(stream), options);
  packer_ = std::make_unique<BosPacker>(B, T, [this] { return prefetcher_->pop(); }, options.buffer_size);
}

BosPackingLoader::~BosPackingLoader() = default;

PackedBatch BosPackingLoader::next() { return packer_->next(); }
const PackingStats& BosPackingLoader::stats() const { return packer_->stats(); }

}  // namespace nanochat
