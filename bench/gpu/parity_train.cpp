// Training parity against the original (issue: "the loss curves agree to bf16 noise"). Trains a small
// model through train::TrainingBackend (the code base-train runs) from initial weights in a
// safetensors file, on token batches from the shards, with base_train's plan, optimizer setup and
// schedules for --steps iterations, and writes what the original needs to run the same thing:
//   OUT/init.safetensors  the initial weights (written when absent, else read), state_dict names
//   OUT/batches.bin       int32 (steps, 2, B, T): inputs then targets of every step
//   OUT/hyper.json        model config, optimizer setup, schedule constants
//   OUT/losses_<device>.json  the loss of every step
// bench/anchors/parity_original.py then trains the original's PyTorch model on the same three files.
//   parity_train --tokenizer-dir DIR --data-dir SHARDS --out OUT [--device cuda] [--depth 4] [--seq 512]
//                [--batch 8] [--steps 200]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "nanochat/core/bf16.h"
#include "nanochat/model/activations.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/model/checkpoint.h"
#include "nanochat/optim/schedules.h"
#include "nanochat/tokenizer/tokenizer.h"
#include "nanochat/train/bpb.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/training_backend.h"
#include "nanochat/train/training_plan.h"

using namespace nanochat;
namespace fs = std::filesystem;

namespace {

// The fp32 CPU reference at the backend's current weights: its gradients of this batch. A separate
// model, since the backend's host model may be the live CPU model, whose gradients must survive.
std::unique_ptr<model::GPT<float>> reference_gradients(train::TrainingBackend& backend, const model::GPTConfig& config,
                                                      int64_t B, int64_t T, const std::vector<int64_t>& idx,
                                                      const std::vector<int64_t>& targets) {
  backend.sync_to_host(false);
  auto ref = std::make_unique<model::GPT<float>>(config);
  std::copy(backend.host_model().params().begin(), backend.host_model().params().end(), ref->params().begin());
  ref->zero_grads();
  model::Activations<float> acts(config, B, T);
  ref->forward(acts, idx.data(), targets.data());
  ref->backward(acts, 1.0f);
  return ref;
}

// The device's gradients of this step against the fp32 CPU model's at the same weights and batch, per
// parameter: relative L2 error and cosine. A backward that is only rounded stays near bf16's ~1e-2 all
// run long; one that is wrong in some term grows once the weights it multiplies stop being zero (the
// projections start at zero, so step 0 alone cannot show it).
void check_gradients(train::TrainingBackend& backend, const model::GPTConfig& config, int64_t B, int64_t T,
                     const std::vector<int64_t>& idx, const std::vector<int64_t>& targets, int64_t step,
                     std::ofstream& out) {
  const std::vector<float> device_grads = backend.download_grads();
  const auto ref_model = reference_gradients(backend, config, B, T, idx, targets);
  const model::GPT<float>& ref = *ref_model;
  nlohmann::ordered_json line;
  line["step"] = step;
  std::vector<std::pair<double, std::string>> worst;
  for (const auto& e : ref.layout().params()) {
    double dd = 0, rr = 0, dr = 0;
    for (size_t i = e.offset; i < e.offset + e.numel; ++i) {
      const double d = device_grads[i], r = ref.grads()[i];
      dd += d * d, rr += r * r, dr += d * r;
    }
    const double err = std::sqrt(std::max(0.0, dd - 2 * dr + rr)) / std::max(std::sqrt(rr), 1e-30);
    const double cosine = dr / std::max(std::sqrt(dd * rr), 1e-30);
    line["params"][e.name] = {{"rel_err", err}, {"cos", cosine}, {"ref_norm", std::sqrt(rr)},
                              {"dev_norm", std::sqrt(dd)}};
    worst.emplace_back(err, e.name);
  }
  std::sort(worst.rbegin(), worst.rend());
  std::string top;
  for (size_t k = 0; k < std::min<size_t>(4, worst.size()); ++k)
    top += fmt::format(" {}={:.3g}", worst[k].second, worst[k].first);
  log_info("gradcheck step {}: largest relative errors{}", step, top);
  out << line.dump() << "\n";
  out.flush();
}

// Every parameter's gradient as an f32 tensor under its state_dict name.
void write_grads(const fs::path& path, const model::ParamLayout& layout, std::span<const float> grads, int64_t step) {
  SafetensorsWriter w;
  w.add_metadata("step", std::to_string(step));
  for (const auto& e : layout.params())
    w.add_f32(e.name, e.shape, grads.subspan(e.offset, e.numel));
  w.write(path);
}

// The inputs of the gradient comparison with the original (parity_original.py --grads-at-dump): the
// weights at this step, the device's gradients and the fp32 CPU gradients at those weights and batch.
void dump_gradients(train::TrainingBackend& backend, const model::GPTConfig& config, int64_t B, int64_t T,
                    const std::vector<int64_t>& idx, const std::vector<int64_t>& targets, int64_t step,
                    const fs::path& out, const std::string& device) {
  const std::vector<float> device_grads = backend.download_grads();
  const auto ref_model = reference_gradients(backend, config, B, T, idx, targets);
  const model::GPT<float>& ref = *ref_model;
  model::save_weights(out / "dump_weights.safetensors", backend.host_model());
  write_grads(out / ("dump_grads_" + device + ".safetensors"), ref.layout(), device_grads, step);
  write_grads(out / "dump_grads_cpu_fp32.safetensors", ref.layout(), ref.grads(), step);
  log_info("step {}: weights and gradients written to {}", step, out.string());
}

}  // namespace

int main(int argc, char** argv) {
  std::string tok_dir, data_dir, out_dir, device = "cuda";
  int64_t depth = 4, T = 512, B = 8, steps = 200;
  double batch_lr_scale = 0;
  int64_t fp32_embeddings = 0, host_optimizer = 0, grad_check_every = 0, zero_step0_scalars = 0, dump_grads_at = -1;
  std::string tag;
  ArgParser p("parity_train", "Train a small model for the parity comparison with the original.");
  p.add("--tokenizer-dir", &tok_dir, "tokenizer directory").add("--data-dir", &data_dir, "parquet shards")
      .add("--out", &out_dir, "output directory").add("--device", &device, "cuda or cpu")
      .add("--depth", &depth, "depth").add("--seq", &T, "sequence length").add("--batch", &B, "batch rows")
      .add("--steps", &steps, "optimizer steps")
      .add("--batch-lr-scale", &batch_lr_scale,
           "replace base_train's sqrt(batch/524288) lr scaling by this factor (0 = keep it); small parity batches "
           "otherwise learn too slowly to show a curve")
      .add("--fp32-embeddings", &fp32_embeddings, "cuda: keep wte/value_embeds fp32 (diagnostics; the original uses bf16)")
      .add("--host-optimizer", &host_optimizer, "cuda: run the fp32 CPU optimizer on the GPU's gradients (diagnostics)")
      .add("--grad-check-every", &grad_check_every,
           "every N steps (0 = never), compare each parameter's gradient with the fp32 CPU reference's at the "
           "same weights and batch; writes gradcheck[_tag].jsonl")
      .add("--zero-step0-scalar-grads", &zero_step0_scalars,
           "zero the step-0 gradients of resid_lambdas, x0_lambdas and backout_lambda, which are exactly zero "
           "(the projections start at zero, so every layer's input is a multiple of x0 and the final norm is "
           "scale-invariant) but come out as rounding noise that AdamW turns into full-size steps")
      .add("--dump-grads-at", &dump_grads_at,
           "at this step, write the weights (dump_weights.safetensors), the device's gradients "
           "(dump_grads_<device>.safetensors) and the fp32 CPU gradients at the same weights "
           "(dump_grads_cpu_fp32.safetensors), for parity_original.py --grads-at-dump")
      .add("--tag", &tag, "suffix of the losses file name (losses_<device>[_tag].json)");
  try {
    if (!p.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
    NC_CHECK(!tok_dir.empty() && !data_dir.empty() && !out_dir.empty(), "--tokenizer-dir, --data-dir and --out are required");
    fs::create_directories(out_dir);
    const Tokenizer tok = Tokenizer::load(tok_dir);

    train::TrainingPlanArgs pa;
    pa.depth = depth;
    pa.shape = {64, 128, T, "SSSL", static_cast<int64_t>(tok.vocab_size())};
    pa.num_iterations = steps;
    pa.device_batch_size = B;
    pa.total_batch_size = B * T;  // one micro-step per step
    train::TrainingPlan plan = train::plan_training(pa);
    if (batch_lr_scale > 0) {
      const double f = batch_lr_scale / plan.batch_lr_scale;
      plan.optimizer.unembedding_lr *= f;
      plan.optimizer.embedding_lr *= f;
      plan.optimizer.matrix_lr *= f;
      plan.optimizer.scalar_lr *= f;
    }
    optim::ScheduleConfig schedule;
    schedule.num_iterations = steps;
    schedule.weight_decay = plan.weight_decay_scaled;
    schedule.validate();

    train::CudaBackendOptions cuda_options;
    cuda_options.bf16_embeddings = fp32_embeddings == 0;
    cuda_options.optimizer_on_host = host_optimizer != 0;
    auto backend = device == "cuda" ? train::make_cuda_backend(plan.config, B, T, plan.optimizer, cuda_options)
                                    : train::make_cpu_backend(plan.config, B, T, plan.optimizer);
    const fs::path init = fs::path(out_dir) / "init.safetensors";
    if (fs::exists(init)) {
      model::load_weights(init, backend->host_model());
    } else {
      train::init_weights(backend->host_model());
      model::WeightsOptions wo;
      wo.bf16_embeddings = true;  // the original keeps these tables in bf16 on CUDA
      model::save_weights(init, backend->host_model(), wo);
      model::load_weights(init, backend->host_model());
    }
    backend->sync_from_host();

    nlohmann::ordered_json hyper;
    hyper["model_config"] = nlohmann::ordered_json::parse(plan.config.to_json());
    hyper["B"] = B;
    hyper["T"] = T;
    hyper["steps"] = steps;
    hyper["unembedding_lr"] = plan.optimizer.unembedding_lr;
    hyper["embedding_lr"] = plan.optimizer.embedding_lr;
    hyper["matrix_lr"] = plan.optimizer.matrix_lr;
    hyper["scalar_lr"] = plan.optimizer.scalar_lr;
    hyper["weight_decay"] = plan.optimizer.weight_decay;
    hyper["warmup_steps"] = schedule.warmup_steps;
    hyper["warmdown_ratio"] = schedule.warmdown_ratio;
    hyper["final_lr_frac"] = schedule.final_lr_frac;
    std::ofstream(fs::path(out_dir) / "hyper.json") << hyper.dump(2) << "\n";

    const auto shards = list_parquet_shards(data_dir);
    NC_CHECK(shards.size() >= 2, "{}: need at least 2 shards", data_dir);
    BosPackingLoader loader(tok, split_shards(shards, false), B, T, 0, 1, std::nullopt, LoaderOptions{});
    std::ofstream batches(fs::path(out_dir) / "batches.bin", std::ios::binary);
    std::ofstream gradcheck;
    if (grad_check_every > 0)
      gradcheck.open(fs::path(out_dir) / ("gradcheck" + (tag.empty() ? "" : "_" + tag) + ".jsonl"));
    std::vector<int64_t> idx, targets;
    nlohmann::json losses = nlohmann::json::array();
    for (int64_t step = 0; step < steps; ++step) {
      const PackedBatch batch = loader.next();
      batches.write(reinterpret_cast<const char*>(batch.inputs.data()),
                    static_cast<std::streamsize>(batch.inputs.size() * sizeof(int32_t)));
      batches.write(reinterpret_cast<const char*>(batch.targets.data()),
                    static_cast<std::streamsize>(batch.targets.size() * sizeof(int32_t)));
      train::widen_ids(batch.inputs, idx);
      train::widen_ids(batch.targets, targets);
      backend->forward_backward(idx.data(), targets.data(), 1.0f);
      const double loss = backend->last_loss();
      if (zero_step0_scalars != 0 && step == 0) {
        std::vector<float> g = backend->download_grads();
        for (const char* name : {"resid_lambdas", "x0_lambdas", "backout_lambda"}) {
          const auto& e = backend->host_model().layout().at(name);
          std::string values;
          for (size_t i = e.offset; i < e.offset + e.numel; ++i) values += fmt::format(" {:.3g}", g[i]);
          log_info("step 0 gradient of {} (zeroed):{}", name, values);
          std::fill(g.begin() + static_cast<std::ptrdiff_t>(e.offset),
                    g.begin() + static_cast<std::ptrdiff_t>(e.offset + e.numel), 0.0f);
        }
        backend->upload_grads(g);
      }
      if (step == dump_grads_at) dump_gradients(*backend, plan.config, B, T, idx, targets, step, out_dir, device);
      if (grad_check_every > 0 && (step % grad_check_every == 0 || step + 1 == steps))
        check_gradients(*backend, plan.config, B, T, idx, targets, step, gradcheck);
      NC_CHECK(std::isfinite(loss), "step {}: loss {}", step, loss);
      backend->optimizer_step(optim::lr_multiplier(schedule, step), optim::muon_momentum(schedule, step),
                              optim::muon_weight_decay(schedule, step));
      losses.push_back(loss);
      if (step % 20 == 0 || step + 1 == steps) log_info("step {:4d} loss {:.6f}", step, loss);
    }
    // The trained weights' loss on the first few batches, through the device's forward and through the
    // fp32 CPU reference: how much of a curve's level is the forward's own rounding rather than training.
    batches.close();
    {
      std::ifstream in(fs::path(out_dir) / "batches.bin", std::ios::binary);
      std::vector<int32_t> buf(static_cast<size_t>(2 * B * T));
      backend->sync_to_host(false);
      model::Activations<float> acts(plan.config, B, T);
      std::vector<float> rows;
      double dev = 0, ref = 0;
      const int64_t n_eval = std::min<int64_t>(steps, 8);
      for (int64_t k = 0; k < n_eval; ++k) {
        in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size() * sizeof(int32_t)));
        idx.assign(buf.begin(), buf.begin() + B * T);
        targets.assign(buf.begin() + B * T, buf.end());
        backend->eval_row_losses(idx.data(), targets.data(), rows);
        double sum = 0;
        for (float r : rows) sum += r;
        dev += sum / static_cast<double>(rows.size());
        ref += backend->host_model().forward(acts, idx.data(), targets.data());
      }
      log_info("final weights, first {} batches: mean loss {:.6f} on {} vs {:.6f} fp32 CPU reference", n_eval,
               dev / static_cast<double>(n_eval), device, ref / static_cast<double>(n_eval));
    }
    std::ofstream(fs::path(out_dir) / ("losses_" + device + (tag.empty() ? "" : "_" + tag) + ".json")) << losses.dump()
                                                                                               << "\n";
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
