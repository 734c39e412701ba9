// Pretraining pieces on a tiny model: init, greedy sampling through the KV cache, val bpb against a
// direct computation, and base_train end to end on the shared test shards (loss falls, checkpoints
// appear, resume is exact up to the data position, a NaN loss stops the run naming the step).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/tokenizer/bpe_trainer.h"
#include "nanochat/tokenizer/chunk_counter.h"
#include "nanochat/train/base_trainer.h"
#include "nanochat/train/training_backend.h"
#include "nanochat/train/bpb.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/sampling.h"
#include "test_support.h"

using namespace nanochat;
using namespace nanochat::train;
namespace fs = std::filesystem;

namespace {

// The models here are tiny: one thread is fastest, and on a loaded machine OpenMP workers that
// spin-wait for a busy core make a run many times slower.
const bool kSingleThreaded = [] {
  omp_set_num_threads(1);
  return true;
}();

// A small BPE tokenizer (vocab 256 + 247 merges + 9 specials = 512) learned from the first documents
// of the first train shard, saved once for the whole suite.
class TrainFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_log_level(LogLevel::warn);
    shards_ = test::shared_path("data/shards");
    if (shards_.empty()) return;
    dir_ = std::make_unique<test::TempDir>();
    DocumentStream stream(split_shards(list_parquet_shards(shards_), false), 0, 1);
    std::vector<std::string> docs;
    while (docs.size() < 1500) {
      auto slice = stream.next();
      for (auto& t : slice.texts) docs.push_back(std::move(t));
    }
    ChunkCounter counter;
    counter.add(docs, 1);
    BpeTrainOptions bo;
    bo.show_progress = false;
    bo.num_threads = 1;
    const auto merges = train_bpe(counter, 512 - 9 - 256, bo);
    std::vector<std::pair<TokenId, TokenId>> pairs;
    for (const auto& m : merges) pairs.emplace_back(m.left, m.right);
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_merges(pairs));
    tokenizer_->save(tok_dir());
  }
  static void TearDownTestSuite() {
    tokenizer_.reset();
    dir_.reset();
  }
  void SetUp() override {
    if (shards_.empty()) GTEST_SKIP() << "missing " << (test::shared_dir() / "data/shards").string();
  }
  static fs::path tok_dir() { return dir_->path() / "tokenizer"; }

  // depth 2, C = 64 (aspect 32, head_dim 32: 2 heads), T = 64, 4 rows, 2 micro-steps per step.
  static BaseTrainOptions tiny_options(const fs::path& root, int64_t iterations) {
    BaseTrainOptions o;
    o.device_type = "cpu";
    o.depth = 2;
    o.aspect_ratio = 32;
    o.head_dim = 32;
    o.max_seq_len = 64;
    o.window_pattern = "SL";
    o.device_batch_size = 4;
    o.total_batch_size = 512;
    o.num_iterations = iterations;
    o.warmup_steps = 3;
    o.eval_every = -1;
    o.eval_tokens = 4 * 256;
    o.core_metric_every = -1;
    o.sample_every = -1;
    o.data_dir = shards_.string();
    o.tokenizer_dir = tok_dir().string();
    o.checkpoint_root = root.string();
    o.loader_threads = 1;
    return o;
  }

  static fs::path shards_;
  static std::unique_ptr<test::TempDir> dir_;
  static std::unique_ptr<Tokenizer> tokenizer_;
};
fs::path TrainFixture::shards_;
std::unique_ptr<test::TempDir> TrainFixture::dir_;
std::unique_ptr<Tokenizer> TrainFixture::tokenizer_;

model::GPTConfig tiny_config(int64_t vocab) { return model_config_for_depth(2, ShapeArgs{32, 32, 64, "SL", vocab}); }

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST(InitWeights, FollowsTheSpecAndIsDeterministic) {
  const auto config = tiny_config(512);
  model::GPT<float> a(config), b(config), c(config);
  init_weights(a, 42);
  init_weights(b, 42);
  init_weights(c, 43);
  EXPECT_TRUE(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
  EXPECT_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
  auto stddev = [](std::span<const float> v) {
    double s = 0, s2 = 0;
    for (float x : v) s += x, s2 += double(x) * x;
    const double m = s / double(v.size());
    return std::sqrt(s2 / double(v.size()) - m * m);
  };
  EXPECT_NEAR(stddev(a.param("transformer.wte.weight")), 0.8, 0.03);
  EXPECT_NEAR(stddev(a.param("lm_head.weight")), 0.001, 0.00005);
  const double s = std::sqrt(3.0 / 64.0);
  for (float x : a.param("transformer.h.0.attn.c_q.weight")) ASSERT_LE(std::abs(x), s);
  for (float x : a.param("transformer.h.1.mlp.c_fc.weight")) ASSERT_LE(std::abs(x), 0.4 * s);
  EXPECT_NEAR(stddev(a.param("transformer.h.0.attn.c_q.weight")), s / std::sqrt(3.0), 0.01);
  for (float x : a.param("transformer.h.0.attn.c_proj.weight")) ASSERT_EQ(x, 0.0f);
  for (float x : a.param("transformer.h.1.mlp.c_proj.weight")) ASSERT_EQ(x, 0.0f);
  for (float x : a.param("transformer.h.1.attn.ve_gate.weight")) ASSERT_TRUE(x >= 0 && x <= 0.02f);
  EXPECT_FLOAT_EQ(a.param("resid_lambdas")[0], 1.15f);
  EXPECT_FLOAT_EQ(a.param("resid_lambdas")[1], 1.05f);
  EXPECT_FLOAT_EQ(a.param("x0_lambdas")[0], 0.20f);
  EXPECT_FLOAT_EQ(a.param("x0_lambdas")[1], 0.05f);
  EXPECT_EQ(a.param("smear_lambda")[0], 0.0f);
  EXPECT_EQ(a.param("backout_lambda")[0], 0.2f);
}

TEST(GenerateGreedy, KvCacheMatchesRecomputingTheWholeSequence) {
  const auto config = tiny_config(300);
  model::GPT<float> m(config);
  init_weights(m, 7);
  // Large enough embeddings and lm_head that the argmax is not a near-tie everywhere.
  for (float& x : m.param("lm_head.weight")) x *= 300.0f;
  const std::vector<TokenId> prompt{299, 5, 17, 42};
  const auto got = generate_greedy(m, prompt, 10);
  ASSERT_EQ(got.size(), prompt.size() + 10);
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  for (int n = 0; n < 10; ++n) {
    const auto T = static_cast<int64_t>(seq.size());
    model::Activations<float> acts(config, 1, T);
    m.forward(acts, seq.data(), nullptr);
    std::vector<float> logits(static_cast<size_t>(T * 300));
    m.logits(acts, logits.data());
    const float* last = logits.data() + (T - 1) * 300;
    const int64_t next = std::max_element(last, last + 300) - last;
    ASSERT_EQ(got[seq.size()], next) << "token " << n;
    seq.push_back(next);
  }
  // A stop token ends the sample without being appended.
  const auto stopped = generate_greedy(m, prompt, 10, std::vector<TokenId>{got[prompt.size() + 2]});
  EXPECT_EQ(stopped.size(), prompt.size() + 2);
}

TEST(EvaluateBpb, MatchesADirectComputation) {
  const int64_t V = 300, B = 2, T = 64;
  const auto config = tiny_config(V);
  model::GPT<float> m(config);
  init_weights(m, 3);
  std::vector<int32_t> token_bytes(V);
  for (int64_t i = 0; i < V; ++i) token_bytes[size_t(i)] = i < 256 ? 1 : int32_t(1 + i % 4);
  token_bytes[299] = 0;  // a special token (BOS): counts neither nats nor bytes
  std::vector<PackedBatch> batches;
  uint32_t state = 12345;
  for (int s = 0; s < 3; ++s) {
    PackedBatch b;
    b.B = B;
    b.T = T;
    std::vector<int32_t> row(size_t(B * (T + 1)));
    for (auto& x : row) x = int32_t((state = state * 1664525u + 1013904223u) >> 8) % int32_t(V);
    for (int64_t i = 0; i < B * (T + 1); i += 17) row[size_t(i)] = 299;
    for (int64_t r = 0; r < B; ++r)
      for (int64_t t = 0; t < T; ++t) {
        b.inputs.push_back(row[size_t(r * (T + 1) + t)]);
        b.targets.push_back(row[size_t(r * (T + 1) + t + 1)]);
      }
    batches.push_back(b);
  }
  model::Activations<float> acts(config, B, T);
  size_t next = 0;
  const BpbResult r = evaluate_bpb(m, acts, [&] { return batches[next++]; }, 3, token_bytes);

  double nats = 0;
  int64_t bytes = 0;
  for (const auto& b : batches) {
    std::vector<int64_t> idx(b.inputs.begin(), b.inputs.end());
    m.forward(acts, idx.data(), nullptr);
    std::vector<float> logits(size_t(B * T * V));
    m.logits(acts, logits.data());
    for (int64_t i = 0; i < B * T; ++i) {
      const int32_t y = b.targets[size_t(i)];
      if (token_bytes[size_t(y)] == 0) continue;
      const float* row = logits.data() + i * V;
      double mx = row[0], sum = 0;
      for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(row[v]));
      for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
      nats += mx + std::log(sum) - double(row[y]);
      bytes += token_bytes[size_t(y)];
    }
  }
  EXPECT_EQ(r.total_bytes, bytes);
  EXPECT_EQ(r.tokens, 3 * B * T);
  EXPECT_NEAR(r.total_nats, nats, 1e-5 * nats);
  EXPECT_NEAR(r.bpb, nats / (std::log(2.0) * double(bytes)), 1e-5);
  EXPECT_GT(r.bpb, 0.5);

  // No byte counted: infinity, as the original.
  std::vector<int32_t> zeros(V, 0);
  next = 0;
  EXPECT_TRUE(std::isinf(evaluate_bpb(m, acts, [&] { return batches[next++]; }, 1, zeros).bpb));
  // token_bytes shorter than the vocabulary names the id.
  next = 0;
  EXPECT_THROW(evaluate_bpb(m, acts, [&] { return batches[next++]; }, 1, std::vector<int32_t>(10, 1)), Error);
}

TEST_F(TrainFixture, TrainsEvaluatesSamplesAndSaves) {
  test::TempDir root;
  auto o = tiny_options(root.path(), 30);
  o.eval_every = 15;
  o.sample_every = 30;
  o.embedding_lr = 0.6;  // a tiny model at a 512-token batch: the d12-tuned lrs are slow
  o.unembedding_lr = 0.05;
  const BaseTrainResult r = run_base_train(o);
  ASSERT_EQ(r.steps.size(), 30u);
  EXPECT_EQ(r.plan.grad_accum_steps, 2);
  const double first = (r.steps[0].train_loss + r.steps[1].train_loss + r.steps[2].train_loss) / 3;
  const double last = (r.steps[27].train_loss + r.steps[28].train_loss + r.steps[29].train_loss) / 3;
  EXPECT_NEAR(r.steps[0].train_loss, std::log(512.0), 0.3);  // lm_head starts near zero: uniform
  EXPECT_LT(last, first - 1.0) << "first " << first << " last " << last;
  ASSERT_EQ(r.evals.size(), 3u);  // steps 0, 15, 30
  EXPECT_EQ(r.evals[2].step, 30);
  EXPECT_LT(r.evals[2].val_bpb, r.evals[0].val_bpb - 0.3);
  EXPECT_EQ(r.min_val_bpb, std::min({r.evals[0].val_bpb, r.evals[1].val_bpb, r.evals[2].val_bpb}));
  ASSERT_EQ(r.last_samples.size(), 7u);
  EXPECT_EQ(r.last_samples[0].rfind("<|bos|>The capital of France is", 0), 0u) << r.last_samples[0];

  const fs::path dir = root.path() / "d2";
  EXPECT_EQ(r.checkpoint_dir, dir);
  EXPECT_TRUE(fs::exists(dir / "model_000030.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "optim_000030_rank0.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "model_000015.safetensors"));  // --save-every -1: only the end
  const auto meta = nlohmann::json::parse(read_text(dir / "meta_000030.json"));
  EXPECT_EQ(meta["step"], 30);
  EXPECT_DOUBLE_EQ(meta["val_bpb"].get<double>(), r.evals[2].val_bpb);
  EXPECT_EQ(meta["model_config"]["n_layer"], 2);
  EXPECT_EQ(meta["model_config"]["vocab_size"], 512);
  EXPECT_EQ(meta["user_config"]["depth"], 2);
  EXPECT_EQ(meta["user_config"]["total_batch_size"], 512);
  EXPECT_EQ(meta["device_batch_size"], 4);
  EXPECT_EQ(meta["max_seq_len"], 64);
  EXPECT_EQ(meta["total_batch_size"], 512);
  EXPECT_TRUE(meta["dataloader_state_dict"].contains("pq_idx"));
  EXPECT_NEAR(meta["loop_state"]["smooth_train_loss"].get<double>() / (1 - std::pow(0.9, 30)),
              r.steps.back().smooth_loss, 1e-9);
  EXPECT_EQ(model::find_last_step(dir), 30);
}

TEST_F(TrainFixture, ResumeReproducesTheUninterruptedRun) {
  // Our checkpoints carry a loader replay record (start + batches drawn), so a resumed run trains on
  // exactly the batches the uninterrupted run used: weights, optimizer moments and step counts,
  // schedules, the loss EMA and the data all carry over, bit for bit.
  test::TempDir a_root, b_root;
  auto a = tiny_options(a_root.path(), 12);
  a.save_every = 6;
  a.eval_every = 6;
  const BaseTrainResult full = run_base_train(a);
  ASSERT_EQ(full.steps.size(), 12u);
  fs::copy(a_root.path() / "d2", b_root.path() / "d2", fs::copy_options::recursive);
  fs::remove(b_root.path() / "d2" / "model_000012.safetensors");
  const auto meta6 = model::load_meta(b_root.path() / "d2" / "meta_000006.json");
  const auto& tp6 = *meta6.training;
  const int64_t accum = tp6.total_batch_size / (tp6.device_batch_size * tp6.max_seq_len);
  ASSERT_TRUE(tp6.dataloader.replay.has_value());
  EXPECT_EQ(tp6.dataloader.replay->batches, 6 * accum + 1);  // 6 steps of micro-batches + the next one
  EXPECT_FALSE(tp6.dataloader.replay->start.has_value());

  auto b = tiny_options(b_root.path(), 12);
  b.save_every = 6;
  b.eval_every = 6;
  b.resume_from_step = 6;
  const BaseTrainResult resumed = run_base_train(b);
  ASSERT_EQ(resumed.steps.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(resumed.steps[i].step, full.steps[6 + i].step);
    EXPECT_EQ(resumed.steps[i].train_loss, full.steps[6 + i].train_loss) << "step " << 6 + i;
    EXPECT_EQ(resumed.steps[i].smooth_loss, full.steps[6 + i].smooth_loss) << "step " << 6 + i;
    EXPECT_EQ(resumed.steps[i].lrm, full.steps[6 + i].lrm);
  }
  EXPECT_EQ(resumed.evals.front().val_bpb, full.evals[1].val_bpb);  // step 6: the same weights
  EXPECT_EQ(resumed.evals.back().val_bpb, full.evals.back().val_bpb);
  EXPECT_EQ(read_text(a_root.path() / "d2" / "model_000012.safetensors"),
            read_text(b_root.path() / "d2" / "model_000012.safetensors"));
  EXPECT_EQ(read_text(a_root.path() / "d2" / "optim_000012_rank0.safetensors"),
            read_text(b_root.path() / "d2" / "optim_000012_rank0.safetensors"));
  // No checkpoint is written at the resume step itself: the copied step-6 files are untouched.
  EXPECT_EQ(read_text(a_root.path() / "d2" / "meta_000006.json"), read_text(b_root.path() / "d2" / "meta_000006.json"));
}

TEST_F(TrainFixture, CheckpointsWithoutReplayResumeAsTheOriginal) {
  // A checkpoint written by the original has only (pq_idx, rg_idx, epoch): the loader then restarts at
  // the next round of row groups with an empty buffer. That equals an uninterrupted run that reopens
  // its loader from the same state at the same step (the test hook), not a plain one.
  test::TempDir a_root, b_root;
  auto a = tiny_options(a_root.path(), 12);
  a.save_every = 6;
  a.reopen_loader_at_step = 6;
  const BaseTrainResult reopened = run_base_train(a);
  fs::copy(a_root.path() / "d2", b_root.path() / "d2", fs::copy_options::recursive);
  fs::remove(b_root.path() / "d2" / "model_000012.safetensors");
  auto meta6 = model::load_meta(b_root.path() / "d2" / "meta_000006.json");
  ASSERT_TRUE(meta6.training->dataloader.replay.has_value());
  meta6.training->dataloader.replay.reset();  // what the original writes
  model::save_meta(b_root.path() / "d2" / "meta_000006.json", meta6);
  auto b = tiny_options(b_root.path(), 12);
  b.save_every = 6;
  b.resume_from_step = 6;
  const BaseTrainResult resumed = run_base_train(b);
  ASSERT_EQ(resumed.steps.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(resumed.steps[i].train_loss, reopened.steps[6 + i].train_loss) << i;

  test::TempDir c_root;
  const BaseTrainResult plain = run_base_train(tiny_options(c_root.path(), 12));
  EXPECT_EQ(plain.steps[5].train_loss, reopened.steps[5].train_loss);
  EXPECT_NE(plain.steps[6].train_loss, reopened.steps[6].train_loss);  // the buffered documents differ
}

TEST_F(TrainFixture, NonFiniteLossStopsNamingTheStep) {
  test::TempDir root;
  auto o = tiny_options(root.path(), 10);
  o.save_every = 2;
  o.on_step_begin = [](int64_t step, model::GPT<float>& m) {
    if (step == 3) m.param("lm_head.weight")[0] = std::numeric_limits<float>::quiet_NaN();
  };
  try {
    run_base_train(o);
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    // The loss of step 3 is NaN, or (when the softcap saturates the NaN logit) the weights are after
    // the step: either way the run stops at step 3.
    EXPECT_NE(std::string(e.what()).find("training diverged at step 3: "), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(root.path() / "d2" / "model_000002.safetensors"));  // the last good checkpoint
  EXPECT_FALSE(fs::exists(root.path() / "d2" / "model_000004.safetensors"));
}

TEST_F(TrainFixture, DeviceAndFlagErrors) {
  test::TempDir root;
  auto o = tiny_options(root.path(), 2);
  o.device_type = "cuda";
  if (!cuda_backend_available()) {  // CI: either no CUDA in the build or no GPU; the message names the flag
    EXPECT_THROW(
        {
          try {
            run_base_train(o);
          } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("--device-type cuda:"), std::string::npos) << e.what();
            throw;
          }
        },
        Error);
  }
  o.device_type = "tpu";
  EXPECT_THROW(run_base_train(o), UsageError);
  o.device_type = "cpu";
  o.fp8 = true;
  EXPECT_THROW(run_base_train(o), Error);
  o.fp8 = false;
  o.total_batch_size = 1000;  // not a multiple of 4 x 64
  EXPECT_THROW(run_base_train(o), UsageError);
  o.total_batch_size = 512;
  o.resume_from_step = 5;  // no such checkpoint
  EXPECT_THROW(run_base_train(o), Error);
}
