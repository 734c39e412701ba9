// Checkpoints: meta JSON as the original writes it, weights and optimizer state as safetensors,
// validation errors that name the tensor, discovery, and a resumed run that is bitwise the
// uninterrupted one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/optim/schedules.h"
#include "nanochat/optim/training_checkpoint.h"
#include "test_support.h"

namespace nanochat {
namespace {

namespace fs = std::filesystem;
using model::CheckpointMeta;
using model::GPT;
using model::GPTConfig;
using optim::MuonAdamW;
using test::TempDir;

GPTConfig tiny_config() {
  GPTConfig c;
  c.sequence_len = 16;
  c.vocab_size = 64;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = 1;
  c.n_embd = 32;
  c.window_pattern = "L";
  return c;
}

void randomize(GPT<float>& m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  for (const auto& e : m.layout().params())
    for (float& x : m.param(e.name)) x = dist(rng);
}

// The error message of fn(), or "" when it does not throw nanochat::Error.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_MENTIONS(stmt, text)                                        \
  do {                                                                           \
    const std::string msg_ = error_of([&] { stmt; });                            \
    EXPECT_NE(msg_, "") << #stmt " did not throw";                               \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_;        \
  } while (0)

// Copies a safetensors file, letting edit() drop (return false) or change tensors.
using Edit = std::function<bool(const std::string& name, DType& dtype, std::vector<int64_t>& shape, std::string& data)>;
void rewrite(const fs::path& src, const fs::path& dst, const Edit& edit) {
  const SafetensorsReader in(src);
  SafetensorsWriter out;
  for (const auto& [k, v] : in.metadata()) out.add_metadata(k, v);
  for (const std::string& name : in.names()) {
    const TensorInfo& ti = in.info(name);
    DType dtype = ti.dtype;
    std::vector<int64_t> shape = ti.shape;
    const auto bytes = in.raw_bytes(name);
    std::string data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (!edit(name, dtype, shape, data)) continue;
    out.add(name, dtype, shape, std::as_bytes(std::span<const char>(data.data(), data.size())));
  }
  out.write(dst);
}

CheckpointMeta sample_meta(int64_t step) {
  CheckpointMeta m;
  m.step = step;
  m.model_config = tiny_config();
  m.user_config = {{"run", "dummy"}, {"depth", 2}, {"total_batch_size", -1}, {"matrix_lr", 0.02}};
  model::TrainingProgress t;
  t.device_batch_size = 2;
  t.max_seq_len = 16;
  t.total_batch_size = 64;
  t.dataloader = {3, 17, 2, std::nullopt};
  t.loop.smooth_train_loss = 3.25;
  t.loop.total_training_time = 12.5;
  m.training = t;
  return m;
}

TEST(Checkpoint, FileNamesFollowTheOriginal) {
  EXPECT_EQ(model::model_file("/c", 123), fs::path("/c/model_000123.safetensors"));
  EXPECT_EQ(model::meta_file("/c", 21400), fs::path("/c/meta_021400.json"));
  EXPECT_EQ(model::optim_file("/c", 21400, 3), fs::path("/c/optim_021400_rank3.safetensors"));
}

TEST(Checkpoint, LoaderReplayRecordRoundTripsBesideTheOriginalFields) {
  CheckpointMeta m = sample_meta(5);
  m.training->loop.min_val_bpb = 1.5;  // finite, so that a standard JSON parser reads the text
  m.training->dataloader.replay = model::LoaderReplay{model::LoaderPosition{1, 4, 2}, 37};
  const std::string text = m.to_json();
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["dataloader_state_dict"]["pq_idx"], 3);  // the original's fields are unchanged
  EXPECT_EQ(j["dataloader_state_dict"]["nanochat_cpp_replay"]["batches"], 37);
  const CheckpointMeta r = CheckpointMeta::from_json(text);
  ASSERT_TRUE(r.training->dataloader.replay.has_value());
  EXPECT_EQ(r.training->dataloader.replay->batches, 37);
  ASSERT_TRUE(r.training->dataloader.replay->start.has_value());
  EXPECT_EQ(r.training->dataloader.replay->start->rg_idx, 4);
  // A replay without a start (the loader began at the start of the data) and a bad one.
  m.training->dataloader.replay = model::LoaderReplay{std::nullopt, 3};
  EXPECT_FALSE(CheckpointMeta::from_json(m.to_json()).training->dataloader.replay->start.has_value());
  auto bad = nlohmann::json::parse(m.to_json());
  bad["dataloader_state_dict"]["nanochat_cpp_replay"]["batches"] = 0;
  EXPECT_THROW(CheckpointMeta::from_json(bad.dump()), Error);
  // The original's files have no record: no replay.
  EXPECT_FALSE(CheckpointMeta::from_json(sample_meta(5).to_json()).training->dataloader.replay.has_value());
}

TEST(Checkpoint, MetaRoundTripKeepsOrderAndInfinity) {
  const CheckpointMeta m = sample_meta(42);
  const std::string text = m.to_json();
  // Keys in the original's order, Infinity as Python's json writes it.
  size_t last = 0;
  for (const char* key : {"\"step\"", "\"val_bpb\"", "\"model_config\"", "\"user_config\"", "\"device_batch_size\"",
                          "\"max_seq_len\"", "\"total_batch_size\": 64", "\"dataloader_state_dict\"", "\"loop_state\""}) {
    const size_t pos = text.find(key);
    ASSERT_NE(pos, std::string::npos) << key << " in\n" << text;
    EXPECT_GT(pos, last) << key;
    last = pos;
  }
  EXPECT_NE(text.find("\"min_val_bpb\": Infinity"), std::string::npos) << text;
  EXPECT_NE(text.find("\"val_bpb\": null"), std::string::npos) << text;

  const CheckpointMeta r = CheckpointMeta::from_json(text);
  EXPECT_EQ(r.step, 42);
  EXPECT_FALSE(r.val_bpb.has_value());
  EXPECT_EQ(r.model_config.to_json(), m.model_config.to_json());
  EXPECT_EQ(r.user_config, m.user_config);
  ASSERT_TRUE(r.training.has_value());
  EXPECT_EQ(r.training->total_batch_size, 64);
  EXPECT_EQ(r.training->dataloader.pq_idx, 3);
  EXPECT_EQ(r.training->dataloader.rg_idx, 17);
  EXPECT_EQ(r.training->dataloader.epoch, 2);
  EXPECT_TRUE(std::isinf(r.training->loop.min_val_bpb));
  EXPECT_EQ(r.training->loop.smooth_train_loss, 3.25);
  EXPECT_EQ(r.training->loop.total_training_time, 12.5);
  EXPECT_EQ(r.to_json(), text);
}

TEST(Checkpoint, ReadsTheOriginalsMetaFile) {
  // As json.dump(indent=2) writes it: Infinity, and an old model_config without window_pattern.
  const std::string text = R"({
  "step": 5000,
  "val_bpb": 0.8123,
  "model_config": {
    "sequence_len": 2048,
    "vocab_size": 65536,
    "n_layer": 20,
    "n_head": 10,
    "n_kv_head": 10,
    "n_embd": 1280
  },
  "user_config": {
    "run": "Infinity and NaN are words here",
    "total_batch_size": -1
  },
  "device_batch_size": 32,
  "max_seq_len": 2048,
  "total_batch_size": 1048576,
  "dataloader_state_dict": {
    "pq_idx": 12,
    "rg_idx": 40
  },
  "loop_state": {
    "min_val_bpb": Infinity,
    "smooth_train_loss": NaN,
    "total_training_time": -Infinity
  }
})";
  const CheckpointMeta m = CheckpointMeta::from_json(text, "meta_005000.json");
  EXPECT_EQ(m.step, 5000);
  EXPECT_EQ(*m.val_bpb, 0.8123);
  EXPECT_EQ(m.model_config.window_pattern, "L");
  EXPECT_EQ(m.model_config.n_embd, 1280);
  EXPECT_EQ(m.user_config.at("run"), "Infinity and NaN are words here");
  EXPECT_EQ(m.training->dataloader.epoch, 1);  // absent: the original's default
  EXPECT_TRUE(std::isinf(m.training->loop.min_val_bpb) && m.training->loop.min_val_bpb > 0);
  EXPECT_TRUE(std::isnan(m.training->loop.smooth_train_loss));
  EXPECT_TRUE(std::isinf(m.training->loop.total_training_time) && m.training->loop.total_training_time < 0);
  // An SFT-style meta has no training fields.
  const CheckpointMeta sft = CheckpointMeta::from_json(
      R"({"step": 7, "val_bpb": null, "model_config": {"sequence_len": 16, "vocab_size": 64, "n_layer": 2,
          "n_head": 2, "n_kv_head": 1, "n_embd": 32, "window_pattern": "L"}, "user_config": {}})");
  EXPECT_FALSE(sft.training.has_value());
  EXPECT_EQ(sft.to_json().find("loop_state"), std::string::npos);
}

TEST(Checkpoint, MetaErrorsNameTheField) {
  EXPECT_ERROR_MENTIONS(CheckpointMeta::from_json(R"({"val_bpb": null})", "m.json"), "'step'");
  EXPECT_ERROR_MENTIONS(CheckpointMeta::from_json("{\"step\": ", "m.json"), "m.json: malformed JSON");
  std::string text = sample_meta(3).to_json();
  text.replace(text.find("\"rg_idx\""), 8, "\"rg_idy\"");
  EXPECT_ERROR_MENTIONS(CheckpointMeta::from_json(text, "m.json"), "rg_idx");
  text = sample_meta(3).to_json();
  text.replace(text.find("\"n_head\": 2"), 11, "\"n_head\": \"2\"");
  EXPECT_ERROR_MENTIONS(CheckpointMeta::from_json(text, "m.json"), "n_head");
}

TEST(Checkpoint, WeightsRoundTripBitwiseWithStateDictNames) {
  TempDir dir;
  GPT<float> a(tiny_config()), b(tiny_config());
  randomize(a, 1);
  const fs::path path = dir.path() / "model_000001.safetensors";
  model::save_weights(path, a);
  const SafetensorsReader file(path);
  EXPECT_EQ(file.names().size(), a.layout().params().size());
  EXPECT_TRUE(file.contains("transformer.h.1.attn.ve_gate.weight"));
  EXPECT_EQ(file.info("transformer.wte.weight").dtype, DType::F32);
  model::load_weights(path, b);
  EXPECT_TRUE(std::equal(a.params().begin(), a.params().end(), b.params().begin()));

  // bf16 embeddings (the original's CUDA dtype): stored as BF16, loaded widened.
  model::save_weights(path, a, {true});
  EXPECT_EQ(SafetensorsReader(path).info("transformer.wte.weight").dtype, DType::BF16);
  EXPECT_EQ(SafetensorsReader(path).info("value_embeds.1.weight").dtype, DType::BF16);
  EXPECT_EQ(SafetensorsReader(path).info("lm_head.weight").dtype, DType::F32);
  model::load_weights(path, b);
  const auto wte = b.param("transformer.wte.weight");
  const auto wte_a = a.param("transformer.wte.weight");
  for (size_t i = 0; i < wte.size(); ++i) ASSERT_EQ(wte[i], bf16::to_float(bf16::from_float(wte_a[i])));
}

TEST(Checkpoint, WeightsErrorsNameTheTensor) {
  TempDir dir;
  GPT<float> a(tiny_config()), b(tiny_config());
  randomize(a, 2);
  const fs::path good = dir.path() / "good.safetensors", bad = dir.path() / "bad.safetensors";
  model::save_weights(good, a);

  // Truncated: the tensors whose bytes are cut off are named.
  {
    std::string bytes = read_file(good);
    bytes.resize(bytes.size() - 100);
    write_file_atomic(bad, bytes);
    EXPECT_ERROR_MENTIONS(model::load_weights(bad, b), "tensor 'value_embeds.1.weight'");
  }
  // Wrong shape.
  rewrite(good, bad, [](const std::string& name, DType&, std::vector<int64_t>& shape, std::string& data) {
    (void)data;
    if (name == "lm_head.weight") shape = {shape[1], shape[0]};
    return true;
  });
  EXPECT_ERROR_MENTIONS(model::load_weights(bad, b), "'lm_head.weight' has shape [32, 64], expected [64, 32]");
  // Missing tensor.
  rewrite(good, bad, [](const std::string& name, DType&, std::vector<int64_t>&, std::string&) {
    return name != "transformer.h.0.mlp.c_fc.weight";
  });
  EXPECT_ERROR_MENTIONS(model::load_weights(bad, b), "missing tensor 'transformer.h.0.mlp.c_fc.weight'");
  // Unexpected tensor.
  {
    SafetensorsWriter w;
    const float x = 1;
    w.add_f32("transformer.h.9.attn.c_q.weight", {1}, std::span<const float>(&x, 1));
    const SafetensorsReader g(good);
    for (const std::string& n : g.names()) {
      const auto bytes = g.raw_bytes(n);
      w.add(n, g.info(n).dtype, g.info(n).shape, bytes);
    }
    w.write(bad);
    EXPECT_ERROR_MENTIONS(model::load_weights(bad, b), "tensor 'transformer.h.9.attn.c_q.weight' is not a parameter");
  }
  // Integer dtype.
  rewrite(good, bad, [](const std::string& name, DType& dtype, std::vector<int64_t>&, std::string&) {
    if (name == "smear_gate.weight") dtype = DType::I32;
    return true;
  });
  EXPECT_ERROR_MENTIONS(model::load_weights(bad, b), "'smear_gate.weight' has dtype I32");
}

TEST(Checkpoint, WeightsLoaderAcceptsCompiledPrefixAndPatchesOldScalars) {
  TempDir dir;
  GPT<float> a(tiny_config()), b(tiny_config());
  randomize(a, 3);
  const fs::path good = dir.path() / "good.safetensors", old = dir.path() / "old.safetensors";
  model::save_weights(good, a);
  {
    const SafetensorsReader g(good);
    SafetensorsWriter w;
    for (const std::string& n : g.names()) {
      if (n == "resid_lambdas" || n == "x0_lambdas") continue;
      w.add("_orig_mod." + n, g.info(n).dtype, g.info(n).shape, g.raw_bytes(n));
    }
    w.write(old);
  }
  randomize(b, 4);
  model::load_weights(old, b);
  for (float x : b.param("resid_lambdas")) EXPECT_EQ(x, 1.0f);
  for (float x : b.param("x0_lambdas")) EXPECT_EQ(x, 0.0f);
  const auto w = b.param("transformer.h.1.mlp.c_proj.weight");
  const auto wa = a.param("transformer.h.1.mlp.c_proj.weight");
  EXPECT_TRUE(std::equal(w.begin(), w.end(), wa.begin()));
}

// A few training steps on fixed random batches; the schedule runs from `first` to `last` (exclusive).
void train(GPT<float>& m, MuonAdamW& opt, int64_t first, int64_t last) {
  const int64_t B = 2, T = 16;
  optim::ScheduleConfig sched;
  sched.num_iterations = 6;
  sched.warmup_steps = 2;
  sched.weight_decay = 0.28;
  model::Activations<float> acts(m.config(), B, T);
  for (int64_t it = first; it < last; ++it) {
    std::mt19937 rng(static_cast<uint32_t>(1000 + it));
    std::vector<int64_t> idx(B * T), targets(B * T);
    for (auto& x : idx) x = static_cast<int64_t>(rng() % 64);
    for (auto& x : targets) x = rng() % 7 == 0 ? -1 : static_cast<int64_t>(rng() % 64);
    m.forward(acts, idx.data(), targets.data());
    m.zero_grads();
    m.backward(acts);
    opt.apply_schedule(optim::lr_multiplier(sched, it), optim::muon_momentum(sched, it),
                       optim::muon_weight_decay(sched, it));
    opt.step(m.params(), m.grads());
  }
}

TEST(Checkpoint, ResumedTrainingIsBitwiseTheUninterruptedRun) {
  TempDir dir;
  const optim::OptimizerSetup setup{0.008, 0.3, 0.02, 0.28, 0.5};
  GPT<float> straight(tiny_config());
  randomize(straight, 5);
  MuonAdamW opt_straight(straight.layout(), setup);
  train(straight, opt_straight, 0, 4);

  GPT<float> first(tiny_config());
  randomize(first, 5);
  MuonAdamW opt_first(first.layout(), setup);
  train(first, opt_first, 0, 2);
  CheckpointMeta meta = sample_meta(2);
  meta.val_bpb = 1.5;
  optim::save_training_checkpoint(dir.path(), meta, first, &opt_first);
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "leftover temporary " << e.path();
  EXPECT_TRUE(fs::exists(model::optim_file(dir.path(), 2, 0)));
  EXPECT_EQ(model::find_last_step(dir.path()), 2);

  // A fresh process: other initial weights and other lrs, all replaced by the checkpoint.
  GPT<float> resumed(tiny_config());
  randomize(resumed, 6);
  MuonAdamW opt_resumed(resumed.layout(), optim::OptimizerSetup{1, 1, 1, 1, 1});
  const CheckpointMeta loaded = optim::load_training_checkpoint(dir.path(), 2, resumed, &opt_resumed);
  EXPECT_EQ(loaded.step, 2);
  EXPECT_EQ(*loaded.val_bpb, 1.5);
  EXPECT_EQ(loaded.training->dataloader.rg_idx, 17);
  for (size_t g = 0; g < opt_first.groups().size(); ++g) {
    EXPECT_EQ(opt_resumed.groups()[g].lr, opt_first.groups()[g].lr);
    EXPECT_EQ(opt_resumed.groups()[g].initial_lr, opt_first.groups()[g].initial_lr);
    EXPECT_EQ(opt_resumed.groups()[g].momentum, opt_first.groups()[g].momentum);
  }
  train(resumed, opt_resumed, 2, 4);

  EXPECT_TRUE(std::equal(straight.params().begin(), straight.params().end(), resumed.params().begin()));
  EXPECT_TRUE(std::equal(opt_straight.first_moment().begin(), opt_straight.first_moment().end(),
                         opt_resumed.first_moment().begin()));
  EXPECT_TRUE(std::equal(opt_straight.second_moment().begin(), opt_straight.second_moment().end(),
                         opt_resumed.second_moment().begin()));
  EXPECT_EQ(opt_resumed.adamw_step_count(0), 4);
}

TEST(Checkpoint, OptimizerStateErrorsNameTheTensorOrGroup) {
  TempDir dir;
  GPT<float> m(tiny_config());
  randomize(m, 7);
  MuonAdamW opt(m.layout(), optim::OptimizerSetup{});
  train(m, opt, 0, 1);
  const fs::path good = dir.path() / "optim.safetensors", bad = dir.path() / "bad.safetensors";
  opt.save_state(good);
  MuonAdamW other(m.layout(), optim::OptimizerSetup{});
  other.load_state(good);
  EXPECT_TRUE(std::equal(opt.first_moment().begin(), opt.first_moment().end(), other.first_moment().begin()));

  // The ordinals follow the groups: 0 lm_head, 1 wte, 2 value_embeds.1, 3 resid, 4 x0, 5-7 smear,
  // then the Muon groups (first one: the (1, 12) ve_gate, ordinal 8).
  const SafetensorsReader f(good);
  EXPECT_EQ(f.info("state.0.exp_avg").shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(f.info("state.0.step").shape, std::vector<int64_t>{});
  EXPECT_EQ(f.info("state.8.second_momentum_buffer").shape, (std::vector<int64_t>{1, 1, 12}));
  EXPECT_TRUE(f.contains("state.9.momentum_buffer"));  // (16, 32): c_k and c_v of both layers

  rewrite(good, bad, [](const std::string& n, DType&, std::vector<int64_t>&, std::string&) {
    return n != "state.9.second_momentum_buffer";
  });
  EXPECT_ERROR_MENTIONS(other.load_state(bad), "missing optimizer tensor 'state.9.second_momentum_buffer'");
  rewrite(good, bad, [](const std::string& n, DType&, std::vector<int64_t>& shape, std::string&) {
    if (n == "state.1.exp_avg_sq") std::swap(shape[0], shape[1]);
    return true;
  });
  EXPECT_ERROR_MENTIONS(other.load_state(bad), "'state.1.exp_avg_sq' has shape [32, 64], expected [64, 32]");
  rewrite(good, bad, [](const std::string& n, DType& dtype, std::vector<int64_t>&, std::string&) {
    if (n == "state.3.step") dtype = DType::F64;
    return true;
  });
  EXPECT_ERROR_MENTIONS(other.load_state(bad), "'state.3.step' has dtype F64");

  // A different model: the group structure is named.
  GPTConfig bigger = tiny_config();
  bigger.n_layer = 3;
  GPT<float> m3(bigger);
  MuonAdamW opt3(m3.layout(), optim::OptimizerSetup{});
  EXPECT_ERROR_MENTIONS(opt3.load_state(good), "param group");
  // A failed load leaves the optimizer as it was.
  EXPECT_TRUE(std::equal(opt.first_moment().begin(), opt.first_moment().end(), other.first_moment().begin()));
}

TEST(Checkpoint, DiscoveryPicksLargestDepthAndLastStep) {
  TempDir dir;
  const fs::path root = dir.path();
  for (const char* tag : {"d12", "d24", "d3_test", "foo", "d9"}) fs::create_directories(root / tag);
  EXPECT_EQ(model::find_largest_model(root), "d24");
  {
    TempDir other;
    fs::create_directories(other.path() / "alpha");
    fs::create_directories(other.path() / "beta");
    fs::last_write_time(other.path() / "alpha", fs::file_time_type::clock::now() + std::chrono::hours(1));
    EXPECT_EQ(model::find_largest_model(other.path()), "alpha");
  }
  {
    TempDir empty;
    EXPECT_ERROR_MENTIONS(model::find_largest_model(empty.path()), "No checkpoints found");
  }
  const fs::path d = root / "d24";
  for (const char* f : {"model_000010.safetensors", "model_000200.safetensors", "model_000300.pt", "meta_000400.json",
                        "xmodel_000500.safetensors", "model_000600.safetensors.tmp.123"})
    write_file_atomic(d / f, "x");
  EXPECT_EQ(model::find_last_step(d), 200);
  EXPECT_ERROR_MENTIONS(model::find_last_step(root / "d12"), "No checkpoints found");
}

TEST(Checkpoint, CheckpointsDirFollowsTheSource) {
  TempDir base;
  ::setenv("NANOCHAT_BASE_DIR", base.path().c_str(), 1);
  EXPECT_EQ(model::checkpoints_dir("base"), base.path() / "base_checkpoints");
  EXPECT_EQ(model::checkpoints_dir("sft"), base.path() / "chatsft_checkpoints");
  EXPECT_EQ(model::checkpoints_dir("rl"), base.path() / "chatrl_checkpoints");
  EXPECT_EQ(model::checkpoints_dir("mid"), base.path() / "mid_checkpoints");  // v0.1.0's mid-training stage
  EXPECT_ERROR_MENTIONS(model::checkpoints_dir("pre"), "unknown checkpoint source 'pre'");
  ::unsetenv("NANOCHAT_BASE_DIR");
}

}  // namespace
}  // namespace nanochat
