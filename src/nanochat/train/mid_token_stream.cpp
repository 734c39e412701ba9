#include "nanochat/train/mid_token_stream.h"

#include "nanochat/core/error.h"

namespace nanochat::train {

nlohmann::json MidStreamState::to_json() const {
  return {{"cursor", cursor}, {"it", it}, {"wrapped", wrapped}, {"pending", pending}};
}

MidStreamState MidStreamState::from_json(const nlohmann::json& j, const std::string& where) {
  MidStreamState s;
  try {
    s.cursor = j.at("cursor").get<int64_t>();
    s.it = j.at("it").get<int64_t>();
    s.wrapped = j.at("wrapped").get<bool>();
    s.pending = j.at("pending").get<std::vector<TokenId>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad mid-training loader state: {}", where, e.what());
  }
  return s;
}

MidTokenStream::MidTokenStream(const Tokenizer& tokenizer, eval::tasks::TaskPtr dataset, SftLoaderOptions options)
    : tok_(tokenizer), dataset_(std::move(dataset)), o_(options), cursor_(options.rank) {
  NC_CHECK(dataset_ != nullptr, "mid-training loader: no dataset");
  NC_CHECK(o_.world_size >= 1 && o_.rank >= 0 && o_.rank < o_.world_size, "mid-training loader: rank {} of {}",
           o_.rank, o_.world_size);
  size_ = dataset_->size();
  NC_CHECK(size_ > 0, "mid-training loader: the {} dataset is empty", o_.train ? "train" : "val");
  NC_CHECK(o_.device_batch_size > 0 && o_.max_seq_len > 0, "mid-training loader: batch {}x{} must be positive",
           o_.device_batch_size, o_.max_seq_len);
}

ChatBatch MidTokenStream::next() {
  const int64_t B = o_.device_batch_size, T = o_.max_seq_len;
  const auto needed = static_cast<size_t>(B * T + 1);
  while (fifo_.size() < needed) {
    const RenderedConversation c = render_conversation(tok_, dataset_->at(cursor_));
    fifo_.insert(fifo_.end(), c.ids.begin(), c.ids.end());
    cursor_ += o_.world_size;
    if (cursor_ >= size_) {
      cursor_ -= size_;
      if (o_.train) wrapped_ = true;
    }
  }
  ChatBatch out;
  PackedBatch& pb = out.batch;
  pb.B = B;
  pb.T = T;
  pb.inputs.resize(needed - 1);
  pb.targets.resize(needed - 1);
  TokenId prev = fifo_.front();
  fifo_.pop_front();
  for (size_t i = 0; i + 1 < needed; ++i) {
    const TokenId cur = fifo_.front();
    fifo_.pop_front();
    pb.inputs[i] = static_cast<int32_t>(prev);
    pb.targets[i] = static_cast<int32_t>(cur);
    prev = cur;
  }
  ++it_;
  if (o_.train) {
    out.last_step = wrapped_ || (o_.num_iterations > 0 && it_ >= o_.num_iterations);
    out.approx_progress = o_.num_iterations > 0 ? static_cast<double>(it_) / static_cast<double>(o_.num_iterations)
                                                : static_cast<double>(cursor_) / static_cast<double>(size_);
  }
  return out;
}

MidStreamState MidTokenStream::state() const {
  return {cursor_, it_, wrapped_, std::vector<TokenId>(fifo_.begin(), fifo_.end())};
}

void MidTokenStream::restore(const MidStreamState& s) {
  NC_CHECK(s.cursor >= 0 && s.cursor < size_, "mid-training loader state: cursor {} outside the dataset ({} rows)",
           s.cursor, size_);
  cursor_ = s.cursor;
  it_ = s.it;
  wrapped_ = s.wrapped;
  fifo_.assign(s.pending.begin(), s.pending.end());
}

}  // namespace nanochat::train
