#include "nanochat/train/sft_packing_loader.h"

#include "nanochat/core/error.h"

namespace nanochat::train {

nlohmann::json SftLoaderState::to_json() const {
  return {{"cursor", cursor}, {"consumed", consumed}, {"epoch", epoch}, {"it", it}, {"buffer", buffer}};
}

SftLoaderState SftLoaderState::from_json(const nlohmann::json& j, const std::string& where) {
  SftLoaderState s;
  try {
    s.cursor = j.at("cursor").get<int64_t>();
    s.consumed = j.at("consumed").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.it = j.at("it").get<int64_t>();
    s.buffer = j.at("buffer").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad SFT loader state: {}", where, e.what());
  }
  return s;
}

SftPackingLoader::SftPackingLoader(const Tokenizer& tokenizer, eval::tasks::TaskPtr dataset, SftLoaderOptions options)
    : tok_(tokenizer), dataset_(std::move(dataset)), o_(options), cursor_(options.rank), consumed_(options.rank) {
  NC_CHECK(dataset_ != nullptr, "SFT loader: no dataset");
  size_ = dataset_->size();
  NC_CHECK(size_ > 0, "SFT loader: the {} dataset is empty", o_.train ? "train" : "val");
  NC_CHECK(o_.device_batch_size > 0 && o_.max_seq_len > 0, "SFT loader: batch {}x{} must be positive",
           o_.device_batch_size, o_.max_seq_len);
  NC_CHECK(o_.world_size >= 1 && o_.rank >= 0 && o_.rank < o_.world_size, "SFT loader: rank {} of {}", o_.rank,
           o_.world_size);
  NC_CHECK(o_.buffer_size >= 1, "SFT loader: buffer size must be positive");
}

void SftPackingLoader::refill() {
  while (buffer_.size() < o_.buffer_size) {
    buffer_.push_back({cursor_, render_conversation(tok_, dataset_->at(cursor_))});
    cursor_ += o_.world_size;
    if (cursor_ >= size_) {
      cursor_ %= size_;
      ++epoch_;
    }
  }
}

ChatBatch SftPackingLoader::next() {
  const int64_t B = o_.device_batch_size, T = o_.max_seq_len, capacity = T + 1;
  const TokenId bos = tok_.bos_id();
  ChatBatch out;
  PackedBatch& pb = out.batch;
  pb.B = B;
  pb.T = T;
  pb.inputs.resize(static_cast<size_t>(B * T));
  pb.targets.resize(static_cast<size_t>(B * T));
  std::vector<TokenId> row;
  std::vector<uint8_t> mask;
  row.reserve(static_cast<size_t>(capacity));
  mask.reserve(static_cast<size_t>(capacity));
  for (int64_t b = 0; b < B; ++b) {
    row.clear();
    mask.clear();
    int64_t content_len = capacity;
    while (static_cast<int64_t>(row.size()) < capacity) {
      refill();
      const int64_t remaining = capacity - static_cast<int64_t>(row.size());
      // The largest conversation that fits whole; strict '>' keeps the first of equal lengths.
      int64_t best = -1, best_len = 0;
      for (size_t i = 0; i < buffer_.size(); ++i) {
        const auto len = static_cast<int64_t>(buffer_[i].conv.ids.size());
        if (len <= remaining && len > best_len) {
          best = static_cast<int64_t>(i);
          best_len = len;
        }
      }
      if (best >= 0) {
        const RenderedConversation& c = buffer_[static_cast<size_t>(best)].conv;
        row.insert(row.end(), c.ids.begin(), c.ids.end());
        mask.insert(mask.end(), c.mask.begin(), c.mask.end());
        buffer_.erase(buffer_.begin() + best);
        consumed_ += o_.world_size;
      } else {
        content_len = static_cast<int64_t>(row.size());
        // An empty row that nothing fits: every buffered conversation is longer than a row, and the
        // original would emit padding-only rows (NaN loss) forever.
        NC_CHECK(content_len > 0,
                 "SFT loader: all {} buffered conversations are longer than a row of {} tokens (e.g. dataset row {} "
                 "has {} tokens); raise --max-seq-len",
                 buffer_.size(), capacity, buffer_.front().index, buffer_.front().conv.ids.size());
        row.resize(static_cast<size_t>(capacity), bos);
        mask.resize(static_cast<size_t>(capacity), 0);
      }
    }
    int32_t* in = pb.inputs.data() + b * T;
    int32_t* tg = pb.targets.data() + b * T;
    for (int64_t j = 0; j < T; ++j) {
      in[j] = static_cast<int32_t>(row[static_cast<size_t>(j)]);
      const bool supervised = mask[static_cast<size_t>(j + 1)] != 0;
      // Padding from content_len on is masked already; the original clears targets[content_len-1:] too.
      const bool padding = content_len < capacity && j >= content_len - 1;
      tg[j] = supervised && !padding ? static_cast<int32_t>(row[static_cast<size_t>(j + 1)]) : -1;
    }
  }
  ++it_;
  if (o_.train) {
    if (o_.num_iterations > 0 && it_ >= o_.num_iterations) out.last_step = true;
    out.epoch = epoch_;
    out.approx_progress = o_.num_iterations > 0 ? static_cast<double>(it_) / static_cast<double>(o_.num_iterations)
                                                : static_cast<double>(consumed_) / static_cast<double>(size_);
    if (consumed_ >= size_) out.last_step = true;
  }
  return out;
}

SftLoaderState SftPackingLoader::state() const {
  SftLoaderState s{cursor_, consumed_, epoch_, it_, {}};
  for (const auto& b : buffer_) s.buffer.push_back(b.index);
  return s;
}

void SftPackingLoader::restore(const SftLoaderState& s) {
  NC_CHECK(s.cursor >= 0 && s.cursor < size_, "SFT loader state: cursor {} outside the dataset ({} rows)", s.cursor,
           size_);
  NC_CHECK(s.buffer.size() <= o_.buffer_size, "SFT loader state: {} buffered conversations, more than the buffer ({})",
           s.buffer.size(), o_.buffer_size);
  buffer_.clear();
  for (int64_t index : s.buffer) {
    NC_CHECK(index >= 0 && index < size_, "SFT loader state: buffered index {} outside the dataset ({} rows)", index,
             size_);
    buffer_.push_back({index, render_conversation(tok_, dataset_->at(index))});
  }
  cursor_ = s.cursor;
  consumed_ = s.consumed;
  epoch_ = s.epoch;
  it_ = s.it;
}

}  // namespace nanochat::train
