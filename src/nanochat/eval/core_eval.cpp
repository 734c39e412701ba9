#include "nanochat/eval/core_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "nanochat/core/error.h"
#include "nanochat/core/process_group.h"
#include "nanochat/core/thread_pool.h"
#include "nanochat/eval/python_random.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::eval {

std::vector<CoreExample> prepare_task_examples(std::vector<CoreExample> records, int64_t max_per_task) {
  PythonRandom rng(1337);
  rng.shuffle(records);
  if (max_per_task > 0 && records.size() > static_cast<size_t>(max_per_task))
    records.resize(static_cast<size_t>(max_per_task));
  return records;
}

std::vector<size_t> select_fewshot(size_t n, size_t idx, int num_fewshot) {
  if (num_fewshot <= 0) return {};
  NC_CHECK(idx < n, "select_fewshot: item {} outside the {} records", idx, n);
  const auto k = static_cast<size_t>(num_fewshot);
  if (n - 1 < k)
    throw CoreTaskUnfit(fmt::format(
        "CORE few-shot: {} shots requested but only {} other examples exist (raise --max-per-task above {})", k, n - 1,
        k));
  PythonRandom rng(1234 + static_cast<int64_t>(idx));
  std::vector<size_t> picks = rng.sample_indices(n - 1, k);
  // Positions in `available` (all indices but idx, ascending) map back to record indices.
  for (auto& p : picks)
    if (p >= idx) ++p;
  return picks;
}

double centered_accuracy(double accuracy, double baseline_percent) {
  const double b = 0.01 * baseline_percent;
  NC_CHECK(b < 1.0, "centered accuracy: random baseline {}% leaves nothing to center on", baseline_percent);
  return (accuracy - b) / (1.0 - b);
}

bool item_is_correct(CoreTaskType type, const ScoredSequences& seqs, std::span<const SequenceScores> scores,
                     int64_t gold) {
  NC_CHECK(scores.size() == seqs.tokens.size(), "item_is_correct: {} scores for {} sequences", scores.size(),
           seqs.tokens.size());
  if (type == CoreTaskType::kLanguageModeling) {
    const auto& s = scores[0];
    for (int64_t t = seqs.start[0] - 1; t <= seqs.end[0] - 2; ++t)
      if (!s.correct[static_cast<size_t>(t)]) return false;
    return true;
  }
  // Python: pred = mean_losses.index(min(mean_losses)), NaN-aware as Python's min is.
  size_t pred = 0;
  double best = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    double sum = 0;
    const int64_t lo = seqs.start[i] - 1, hi = seqs.end[i] - 2;
    for (int64_t t = lo; t <= hi; ++t) sum += scores[i].loss[static_cast<size_t>(t)];
    const double mean = hi >= lo ? sum / static_cast<double>(hi - lo + 1) : std::numeric_limits<double>::quiet_NaN();
    if (i == 0 || mean < best) {
      best = mean;
      pred = i;
    }
  }
  return static_cast<int64_t>(pred) == gold;
}

namespace {

struct PreparedItem {
  ScoredSequences seqs;
  int64_t gold = -1;
  int64_t max_len = 0;
};

PreparedItem prepare_item(const Tokenizer& tokenizer, const CoreTaskConfig& task, std::span<const CoreExample> examples,
                          size_t idx, const CoreEvalOptions& options) {
  const CoreExample& item = examples[idx];
  std::vector<const CoreExample*> shots;
  for (size_t j : select_fewshot(examples.size(), idx, task.num_fewshot)) shots.push_back(&examples[j]);
  const auto prompts = render_prompts(task, item, shots);
  PreparedItem p;
  p.seqs = tokenize_prompts(task.type, prompts, tokenizer);
  if (options.max_seq_len) truncate_sequences(p.seqs, *options.max_seq_len);
  p.gold = item.gold;
  for (const auto& t : p.seqs.tokens) p.max_len = std::max(p.max_len, static_cast<int64_t>(t.size()));
  return p;
}

// One forward over the rows of several items (right-padded with BOS); fills per-row scores on the
// positions the items read, computing logits only for those rows of the final hidden state.
std::vector<std::vector<SequenceScores>> score_batch(const engine::Decoder& model, TokenId bos,
                                                     std::span<const PreparedItem> items) {
  const auto& cfg = model.config();
  int64_t B = 0, T = 0;
  for (const auto& it : items) {
    B += static_cast<int64_t>(it.seqs.tokens.size());
    T = std::max(T, it.max_len);
  }
  if (T > 10 * cfg.sequence_len)
    throw CoreTaskUnfit(fmt::format("CORE: a prompt of {} tokens exceeds the model's rotary table ({} positions)", T,
                                    10 * cfg.sequence_len));
  std::vector<int64_t> idx(static_cast<size_t>(B * T), static_cast<int64_t>(bos));
  // (batch row, position) pairs whose next-token prediction is scored.
  std::vector<engine::ScorePosition> needs;
  {
    int64_t row = 0;
    for (const auto& it : items)
      for (size_t s = 0; s < it.seqs.tokens.size(); ++s, ++row) {
        const auto& tok = it.seqs.tokens[s];
        std::copy(tok.begin(), tok.end(), idx.begin() + row * T);
        for (int64_t t = std::max<int64_t>(it.seqs.start[s] - 1, 0); t <= it.seqs.end[s] - 2; ++t) needs.push_back({row, t});
      }
  }
  const int64_t V = cfg.vocab_size, M = static_cast<int64_t>(needs.size());
  std::vector<float> logits(static_cast<size_t>(M * V));  // softcapped, as the model outputs them
  if (M > 0) model.score(idx, B, T, needs, logits);

  std::vector<std::vector<SequenceScores>> out;
  for (const auto& it : items) {
    std::vector<SequenceScores> item_scores(it.seqs.tokens.size());
    for (size_t s = 0; s < it.seqs.tokens.size(); ++s) {
      item_scores[s].loss.assign(static_cast<size_t>(T), std::numeric_limits<double>::quiet_NaN());
      item_scores[s].correct.assign(static_cast<size_t>(T), 0);
    }
    out.push_back(std::move(item_scores));
  }
  // Map batch rows back to (item, sequence).
  std::vector<std::pair<size_t, size_t>> row_owner;
  for (size_t i = 0; i < items.size(); ++i)
    for (size_t s = 0; s < items[i].seqs.tokens.size(); ++s) row_owner.emplace_back(i, s);

  parallel_for(static_cast<size_t>(M), default_num_threads(), [&](size_t lo, size_t hi, int) {
    for (size_t m = lo; m < hi; ++m) {
      const engine::ScorePosition n = needs[m];
      const float* z = logits.data() + static_cast<int64_t>(m) * V;
      // Log-softmax of the softcapped logits in double; argmax takes the first maximum.
      double mx = -std::numeric_limits<double>::infinity();
      int64_t arg = 0;
      for (int64_t v = 0; v < V; ++v) {
        if (static_cast<double>(z[v]) > mx) {
          mx = z[v];
          arg = v;
        }
      }
      double sum = 0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
      const auto target = idx[static_cast<size_t>(n.row * T + n.t + 1)];
      const auto [item, seq] = row_owner[static_cast<size_t>(n.row)];
      out[item][seq].loss[static_cast<size_t>(n.t)] = mx + std::log(sum) - static_cast<double>(z[target]);
      out[item][seq].correct[static_cast<size_t>(n.t)] = arg == target ? 1 : 0;
    }
  });
  return out;
}

}  // namespace

std::vector<SequenceScores> score_sequences(const engine::Decoder& model, TokenId bos, const ScoredSequences& seqs) {
  PreparedItem item;
  item.seqs = seqs;
  for (const auto& t : seqs.tokens) item.max_len = std::max(item.max_len, static_cast<int64_t>(t.size()));
  auto out = score_batch(model, bos, std::span<const PreparedItem>(&item, 1));
  return std::move(out[0]);
}

namespace {

// CoreTaskUnfit raised by one item, so that ranks can agree on the first such item (in item order, as
// one process meets it) and all report that item's reason.
class UnfitItem : public CoreTaskUnfit {
 public:
  UnfitItem(size_t item, const std::string& why) : CoreTaskUnfit(why), item_(item) {}
  size_t item() const { return item_; }

 private:
  size_t item_;
};

// prepare_item, plus the rotary-table limit checked per item (not per batch), so the item that makes
// a task unfit does not depend on how items are batched or split across ranks.
PreparedItem prepare_checked(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                             std::span<const CoreExample> examples, size_t idx, const CoreEvalOptions& options) {
  try {
    PreparedItem p = prepare_item(tokenizer, task, examples, idx, options);
    const int64_t limit = 10 * model.config().sequence_len;
    if (p.max_len > limit)
      throw CoreTaskUnfit(fmt::format("CORE: a prompt of {} tokens exceeds the model's rotary table ({} positions)",
                                      p.max_len, limit));
    return p;
  } catch (const UnfitItem&) {
    throw;
  } catch (const CoreTaskUnfit& e) {
    throw UnfitItem(idx, e.what());
  }
}

// Items first, first + stride, ... of the task answered correctly.
int64_t count_correct(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                      std::span<const CoreExample> examples, const CoreEvalOptions& options, size_t first,
                      size_t stride) {
  int64_t correct = 0;
  size_t next = first;
  std::optional<PreparedItem> carried;  // prepared but did not fit the previous batch
  while (carried || next < examples.size()) {
    // Gather this rank's next items while rows * longest row stays within the token budget.
    std::vector<PreparedItem> batch;
    int64_t rows = 0, longest = 0;
    while (carried || next < examples.size()) {
      PreparedItem p =
          carried ? std::move(*carried) : prepare_checked(model, tokenizer, task, examples, next, options);
      if (!carried) next += stride;
      carried.reset();
      const int64_t r = rows + static_cast<int64_t>(p.seqs.tokens.size());
      const int64_t l = std::max(longest, p.max_len);
      if (!batch.empty() && r * l > options.max_batch_tokens) {
        carried = std::move(p);  // starts the next batch
        break;
      }
      rows = r;
      longest = l;
      batch.push_back(std::move(p));
    }
    const auto scores = score_batch(model, tokenizer.bos_id(), batch);
    for (size_t i = 0; i < batch.size(); ++i)
      if (item_is_correct(task.type, batch[i].seqs, scores[i], batch[i].gold)) ++correct;
  }
  return correct;
}

}  // namespace

double evaluate_task(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                     std::span<const CoreExample> examples, const CoreEvalOptions& options) {
  NC_CHECK(!examples.empty(), "CORE task '{}': no examples", task.label);
  NC_CHECK(tokenizer.vocab_size() <= static_cast<size_t>(model.config().vocab_size),
           "CORE: tokenizer vocabulary ({}) exceeds the model's ({})", tokenizer.vocab_size(), model.config().vocab_size);
  ProcessGroup* group = options.group != nullptr && options.group->distributed() ? options.group : nullptr;
  if (group == nullptr)
    return static_cast<double>(count_correct(model, tokenizer, task, examples, options, 0, 1)) /
           static_cast<double>(examples.size());
  const int rank = group->rank(), world = group->world_size();
  int64_t correct = 0, unfit_item = -1;
  std::string unfit;
  try {
    correct = count_correct(model, tokenizer, task, examples, options, static_cast<size_t>(rank),
                            static_cast<size_t>(world));
  } catch (const UnfitItem& e) {
    unfit = e.what();
    unfit_item = static_cast<int64_t>(e.item());
  }
  // [correct count, then per rank 1 + its first unfit item (0: none)]: every rank learns whether the
  // task is unfit anywhere, and takes the reason of the lowest unfit item, as one process would report.
  std::vector<int64_t> tally(static_cast<size_t>(world) + 1, 0);
  tally[0] = correct;
  tally[static_cast<size_t>(rank) + 1] = unfit_item + 1;
  group->all_reduce_sum(tally);
  int root = -1;
  for (int r = 0; r < world; ++r) {
    const int64_t v = tally[static_cast<size_t>(r) + 1];
    if (v != 0 && (root < 0 || v < tally[static_cast<size_t>(root) + 1])) root = r;
  }
  if (root >= 0) {
    group->broadcast(unfit, root);
    throw CoreTaskUnfit(unfit);
  }
  return static_cast<double>(tally[0]) / static_cast<double>(examples.size());
}

CoreResult evaluate_core(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreBundle& bundle,
                         const CoreEvalOptions& options) {
  CoreResult result;
  double sum = 0;
  int evaluated = 0;
  for (const auto& task : bundle.tasks) {
    CoreTaskResult r;
    r.task = task;
    if (!std::filesystem::exists(bundle.data_path(task))) {
      result.missing.push_back(task.label);
      result.tasks.push_back(r);
      if (options.on_task) options.on_task(r);
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto examples = prepare_task_examples(load_task_examples(bundle, task), options.max_per_task);
    r.num_examples = static_cast<int64_t>(examples.size());
    try {
      r.accuracy = evaluate_task(model, tokenizer, task, examples, options);
    } catch (const CoreTaskUnfit& e) {
      if (!options.skip_unfit_tasks) throw Error(fmt::format("CORE task '{}': {}", task.label, e.what()));
      r.skipped_reason = e.what();
      result.skipped.push_back(task.label);
      result.tasks.push_back(r);
      if (options.on_task) options.on_task(r);
      continue;
    }
    r.centered = centered_accuracy(r.accuracy, bundle.random_baseline(task.label));
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.evaluated = true;
    sum += r.centered;
    ++evaluated;
    result.tasks.push_back(r);
    if (options.on_task) options.on_task(r);
  }
  NC_CHECK(evaluated > 0, "CORE: none of the {} tasks could be evaluated (data files under {}: {} missing; {} skipped)",
           bundle.tasks.size(), (bundle.root / "eval_data").string(), result.missing.size(), result.skipped.size());
  result.core = sum / evaluated;
  result.evaluated = evaluated;
  return result;
}

}  // namespace nanochat::eval

namespace nanochat::eval {

std::vector<SequenceScores> score_sequences(const model::GPT<float>& model, TokenId bos, const ScoredSequences& seqs) {
  return score_sequences(*engine::make_cpu_decoder(model), bos, seqs);
}
double evaluate_task(const model::GPT<float>& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                     std::span<const CoreExample> examples, const CoreEvalOptions& options) {
  return evaluate_task(*engine::make_cpu_decoder(model), tokenizer, task, examples, options);
}
CoreResult evaluate_core(const model::GPT<float>& model, const Tokenizer& tokenizer, const CoreBundle& bundle,
                         const CoreEvalOptions& options) {
  return evaluate_core(*engine::make_cpu_decoder(model), tokenizer, bundle, options);
}

}  // namespace nanochat::eval
