// nanochat infer-bench: the cost of serving a checkpoint (scripts/infer_bench.py): a static card of
// bytes and FLOPs, batch-1 prefill throughput, then a decode sweep over batch sizes with TTFT, median
// time per output token, tok/s, MBU and MFU; the last stdout line is one JSON object.
// --device-type cuda runs the engine on the GPU decoder (bf16 weights and cache, CUDA-graph decode
// steps; --no-cuda-graphs launches every kernel instead); known GPUs have peak tables, the CPU has
// none: pass --peak-bandwidth/--peak-flops to get MBU/MFU, else they print as 0 and are null in the
// JSON (as the original does for unknown GPUs). "VRAM" is the device memory in use after the run on
// the GPU, the process's peak resident memory on the CPU. Besides the original's MBU (weight bytes as
// stored + KV), "MBU rd" counts what a step must read at the least (decode_cost.h). --random-init
// benchmarks a randomly initialised model of --depth without a checkpoint or tokenizer.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/engine/decode_cost.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/engine/engine.h"
#include "nanochat/engine/load_model.h"
#include "nanochat/model/model_stats.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/peak_flops.h"

namespace nanochat::app {

namespace {

// Natural text keeps greedy decoding from collapsing into one repeated token.
constexpr const char* kPromptParagraph =
    "The history of science is the story of people learning to ask better questions. Early astronomers "
    "kept careful records of the sky for centuries before anyone could explain why the planets wander. "
    "Chemistry grew out of the workshops of metalworkers and dyers, and medicine out of long lists of "
    "remedies that were slowly tested, discarded or kept. Each generation inherited instruments, notes and "
    "arguments from the one before, and the most useful habit it passed on was doubt. ";

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

nlohmann::json or_null(double v, bool known) { return known ? nlohmann::json(v) : nlohmann::json(nullptr); }

double round_to(double v, int digits) {
  const double p = std::pow(10.0, digits);
  return std::round(v * p) / p;
}

std::vector<int64_t> parse_batch_sizes(const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const int64_t b = parse_int(text.substr(pos, comma - pos), "argument --batch-sizes");
    if (b < 1) usage_fail("argument --batch-sizes: batch sizes must be positive, got {}", b);
    out.push_back(b);
    pos = comma + 1;
  }
  return out;
}

// HBM bandwidth by device name (lower-cased substrings), bytes/s; 0 = unknown.
double peak_bandwidth(std::string name) {
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("h200")) return 4.8e12;
  if (has("h100") && has("nvl")) return 3.9e12;
  if (has("h100") && has("pcie")) return 2.0e12;
  if (has("h100")) return 3.35e12;  // SXM (HBM3)
  if (has("a100") && has("80gb")) return 2.039e12;
  if (has("a100")) return 1.555e12;
  return 0;
}

// A randomly initialised model (the original's init, seed 42) with a byte-level tokenizer: lm_head rows
// past the 256 byte tokens are zeroed so greedy decoding never emits a special token (no early stop).
engine::LoadedModel random_model(int64_t depth, int64_t vocab, int64_t seq_len) {
  engine::LoadedModel m;
  const model::GPTConfig c = model::GPTConfig::from_depth(depth, vocab, seq_len);
  m.model = std::make_unique<model::GPT<float>>(c);
  train::init_weights(*m.model, 42);
  std::span<float> lm_head = m.model->param("lm_head.weight");
  std::fill(lm_head.begin() + 256 * c.n_embd, lm_head.end(), 0.0f);
  m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_merges(std::vector<std::pair<TokenId, TokenId>>{}));
  m.model_tag = fmt::format("random-d{}", depth);
  return m;
}

}  // namespace

int infer_bench(const Args& args) {
  std::string source = "base", batch_text = "1,8,32,128", tokenizer_path;
  std::optional<std::string> tag;
  std::optional<int64_t> step;
  int64_t prompt_tokens = 2048, decode_tokens = 256;
  double temperature = 0.0, peak_bw = 0, peak_flops = 0;
  std::string device;
  bool no_graphs = false, random_init = false;
  int64_t depth = 20, vocab_size = 32768, sequence_len = 2048;
  ArgParser p("nanochat infer-bench", "Latency, throughput and bandwidth/compute utilisation of a checkpoint.");
  p.add("-i,--source", &source, "checkpoint source", {"base", "sft", "rl"})
      .add("-g,--model-tag", &tag, "model tag (default: the largest d<N>)")
      .add("-s,--step", &step, "checkpoint step (default: the last)")
      .add("--prompt-tokens", &prompt_tokens, "prompt length (clamped so prompt + decode fits the context)")
      .add("--decode-tokens", &decode_tokens, "tokens decoded per batch size")
      .add("--batch-sizes", &batch_text, "comma-separated decode batch sizes")
      .add("-t,--temperature", &temperature, "sampling temperature")
      .add("--peak-bandwidth", &peak_bw, "memory bandwidth in bytes/s for MBU (CPU: no table; 0 = unknown)")
      .add("--peak-flops", &peak_flops, "peak FLOP/s for MFU (0 = unknown)")
      .add("--tokenizer-dir", &tokenizer_path, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--device-type", &device, "cuda|cpu (empty = autodetect: cuda when a GPU is usable)", {"", "cpu", "cuda"})
      .add_switch("--no-cuda-graphs", &no_graphs, "launch every decode kernel instead of replaying a CUDA graph")
      .add_switch("--random-init", &random_init, "no checkpoint: a randomly initialised model of --depth")
      .add("--depth", &depth, "--random-init: model depth")
      .add("--vocab-size", &vocab_size, "--random-init: vocabulary size")
      .add("--sequence-len", &sequence_len, "--random-init: training context length");
  if (!p.parse(args)) return 0;
  const auto batches = parse_batch_sizes(batch_text);
  if (decode_tokens < 2) usage_fail("argument --decode-tokens: must be at least 2, got {}", decode_tokens);
  if (prompt_tokens < 1) usage_fail("argument --prompt-tokens: must be positive, got {}", prompt_tokens);

  if (random_init && (depth < 1 || vocab_size < 300 || sequence_len < 2))
    usage_fail("--random-init needs --depth >= 1, --vocab-size >= 300 and --sequence-len >= 2");
  device = engine::resolve_inference_device(device);
  engine::LoadedModel loaded =
      random_init ? random_model(depth, vocab_size, sequence_len)
                  : engine::load_model(source, tag, step,
                                       tokenizer_path.empty() ? std::nullopt
                                                              : std::optional<std::filesystem::path>(tokenizer_path));
  if (random_init) source = "random";
  const auto& c = loaded.model->config();
  const Tokenizer& tok = *loaded.tokenizer;
  engine::CudaDecoderOptions decoder_options;
  decoder_options.use_graphs = !no_graphs;
  const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(device, *loaded.model, decoder_options);
  const bool on_gpu = device == "cuda";
  const engine::Engine eng(*decoder, tok);
  if (on_gpu && peak_bw <= 0) peak_bw = peak_bandwidth(decoder->device_name());
  if (on_gpu && peak_flops <= 0) {
    const double f = train::peak_bf16_flops(decoder->device_name());
    peak_flops = std::isfinite(f) ? f : 0;
  }
  const bool bw_known = peak_bw > 0, flops_known = peak_flops > 0;
  if (!bw_known || !flops_known)
    log_warn("no peak bandwidth/FLOPs for {}: MBU/MFU print as 0 (use --peak-bandwidth/--peak-flops)",
             decoder->device_name());

  int64_t n = std::min(prompt_tokens, c.sequence_len - decode_tokens);
  NC_CHECK(n >= 1, "--decode-tokens {} leaves no room for a prompt in the context of {}", decode_tokens, c.sequence_len);
  if (n < prompt_tokens) std::printf("note: clamping prompt to %lld tokens so prompt+decode fits sequence_len=%lld\n",
                                     static_cast<long long>(n), static_cast<long long>(c.sequence_len));
  std::vector<TokenId> prompt{tok.bos_id()};
  const auto para = tok.encode(kPromptParagraph);
  while (static_cast<int64_t>(prompt.size()) < n) prompt.insert(prompt.end(), para.begin(), para.end());
  prompt.resize(static_cast<size_t>(n));

  const int64_t kDtypeBytes = on_gpu ? 2 : 4;  // bf16 weights and cache on the GPU, fp32 on the CPU
  const int64_t num_params = static_cast<int64_t>(loaded.model->layout().num_parameters());
  const int64_t weight_bytes = num_params * kDtypeBytes;
  const int64_t kv_token = engine::kv_bytes_per_token(c, kDtypeBytes);
  const int64_t context_mid = n + decode_tokens / 2;
  const int64_t kv_read = engine::kv_read_bytes_per_step(c, context_mid, kDtypeBytes);
  const int64_t decode_flops = engine::decode_flops_per_token(c, context_mid);
  const int64_t read_bs1 = engine::decode_read_bytes_per_step(c, 1, context_mid, kDtypeBytes);
  const double ceiling = bw_known ? peak_bw / static_cast<double>(weight_bytes + kv_read) : 0.0;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  const std::string rule(100, '=');
  std::printf("%s\n", rule.c_str());
  std::printf("Model: %s %s (step %lld) | depth %lld, dim %lld, heads %lld, kv heads %lld%s\n", source.c_str(),
              loaded.model_tag.c_str(), static_cast<long long>(loaded.step), static_cast<long long>(c.n_layer),
              static_cast<long long>(c.n_embd), static_cast<long long>(c.n_head), static_cast<long long>(c.n_kv_head),
              c.n_kv_head < c.n_head ? " (GQA)" : "");
  const std::string device_text =
      on_gpu ? fmt::format("GPU: {}{}", decoder->device_name(), no_graphs ? " (no CUDA graphs)" : " (CUDA graphs)")
             : fmt::format("Device: CPU, {} hardware threads", cores);
  std::printf("%s | peak bandwidth %s | peak compute %s\n", device_text.c_str(),
              bw_known ? fmt::format("{:.2f} TB/s", peak_bw / 1e12).c_str() : "unknown",
              flops_known ? fmt::format("{:.1f} TFLOPS", peak_flops / 1e12).c_str() : "unknown");
  std::printf("Parameters: %lld (%lld %s) | weight bytes as stored: %.1f MiB\n", static_cast<long long>(num_params),
              static_cast<long long>(num_params), on_gpu ? "bfloat16" : "float32",
              static_cast<double>(weight_bytes) / (1 << 20));
  std::printf("Decode reads at least %.1f MiB/step at batch 1, context %lld (matmul weights + table rows + KV)\n",
              static_cast<double>(read_bs1) / (1 << 20), static_cast<long long>(context_mid));
  std::printf("KV cache: %lld bytes/token stored | %lld bytes read/step at context %lld (window pattern %s)\n",
              static_cast<long long>(kv_token), static_cast<long long>(kv_read), static_cast<long long>(context_mid),
              c.window_pattern.c_str());
  std::printf("Theoretical decode ceiling at batch 1: %s\n",
              bw_known ? fmt::format("{:.1f} tok/s", ceiling).c_str() : "unknown (no peak bandwidth)");
  std::printf("%s\n", rule.c_str());

  auto run = [&](int64_t B, int64_t max_tokens, std::vector<double>* step_times, double* ttft) {
    engine::GenerateOptions opt;
    opt.num_samples = B;
    opt.max_tokens = max_tokens;
    opt.temperature = temperature;
    auto t0 = Clock::now();
    bool first = true;
    eng.generate(prompt, opt, [&](std::span<const TokenId>, std::span<const uint8_t>) {
      const double dt = seconds_since(t0);
      if (first) {
        if (ttft) *ttft = dt;
        first = false;
      } else if (step_times) {
        step_times->push_back(dt);
      }
      t0 = Clock::now();
      return true;
    });
  };

  // Prefill: TTFT of a batch-1 run with 2 decode tokens, after one warm-up.
  run(1, 2, nullptr, nullptr);
  double prefill_s = 0;
  run(1, 2, nullptr, &prefill_s);
  const double prefill_tps = static_cast<double>(n) / prefill_s;
  const double prefill_mfu = flops_known ? static_cast<double>(engine::prefill_flops(c, n)) / prefill_s / peak_flops * 100 : 0;
  std::printf("Prefill (batch 1, %lld tokens): %.1f tok/s | MFU %.2f%%\n", static_cast<long long>(n), prefill_tps, prefill_mfu);

  std::printf("\n%6s %10s %10s %10s %8s %9s %8s %9s %7s\n", "batch", "TTFT ms", "TPOT ms", "tok/s", "MBU %", "MBU rd %",
              "MFU %", "VRAM GiB", "steps");
  nlohmann::ordered_json sweep = nlohmann::ordered_json::array();
  for (const int64_t B : batches) {
    run(B, 8, nullptr, nullptr);  // warm-up
    std::vector<double> steps;
    double ttft = 0;
    run(B, decode_tokens, &steps, &ttft);
    if (steps.empty()) {
      std::printf("%6lld: no decode steps measured, skipped\n", static_cast<long long>(B));
      continue;
    }
    std::vector<double> sorted = steps;
    std::sort(sorted.begin(), sorted.end());
    const double tpot = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
    double total = 0;
    for (double s : steps) total += s;
    const double tps = static_cast<double>(B) * static_cast<double>(steps.size()) / total;
    const double mbu = bw_known ? static_cast<double>(weight_bytes + B * kv_read) / tpot / peak_bw * 100 : 0;
    const double mbu_read =
        bw_known ? static_cast<double>(engine::decode_read_bytes_per_step(c, B, context_mid, kDtypeBytes)) / tpot / peak_bw * 100
                 : 0;
    const double mfu = flops_known ? static_cast<double>(B * decode_flops) / tpot / peak_flops * 100 : 0;
    const int64_t rss = on_gpu ? decoder->device_memory_used() : peak_rss_bytes();
    const bool early = static_cast<int64_t>(steps.size()) != decode_tokens - 1;
    std::printf("%6lld %10.2f %10.2f %10.1f %8.2f %9.2f %8.4f %9.2f %7zu%s\n", static_cast<long long>(B), ttft * 1e3,
                tpot * 1e3, tps, mbu, mbu_read, mfu, static_cast<double>(rss) / (1 << 30), steps.size(),
                early ? fmt::format(" (early stop @ {})", steps.size()).c_str() : "");
    sweep.push_back({{"batch_size", B},
                     {"ttft_sec", round_to(ttft, 6)},
                     {"tpot_sec", round_to(tpot, 6)},
                     {"tok_per_sec", round_to(tps, 1)},
                     {"mbu_percent", or_null(round_to(mbu, 2), bw_known)},
                     {"mbu_read_percent", or_null(round_to(mbu_read, 2), bw_known)},
                     {"mfu_percent", or_null(round_to(mfu, 4), flops_known)},
                     {"peak_vram_bytes", rss},
                     {"decode_steps", steps.size()}});
  }
  nlohmann::ordered_json out = {
      {"source", source},
      {"step", loaded.step},
      {"model_config", {{"sequence_len", c.sequence_len}, {"vocab_size", c.vocab_size}, {"n_layer", c.n_layer},
                        {"n_head", c.n_head}, {"n_kv_head", c.n_kv_head}, {"n_embd", c.n_embd},
                        {"window_pattern", c.window_pattern}}},
      {"gpu", on_gpu ? decoder->device_name() : fmt::format("cpu ({} threads)", cores)},
      {"cuda_graphs", on_gpu && !no_graphs},
      {"peak_bandwidth_bytes_per_sec", or_null(peak_bw, bw_known)},
      {"peak_flops_per_sec", or_null(peak_flops, flops_known)},
      {"total_vram_bytes", on_gpu ? nlohmann::json(decoder->device_memory_total()) : nlohmann::json(nullptr)},
      {"num_params", num_params},
      {"param_dtypes", {{on_gpu ? "bfloat16" : "float32", num_params}}},
      {"weight_bytes", weight_bytes},
      {"kv_bytes_per_token", kv_token},
      {"kv_read_bytes_per_step", kv_read},
      {"context_mid", context_mid},
      {"decode_flops_per_token", decode_flops},
      {"decode_read_bytes_per_step_bs1", read_bs1},
      {"ceiling_bs1_tok_per_sec", or_null(round_to(ceiling, 1), bw_known)},
      {"max_full_context_rows", nullptr},
      {"prompt_tokens", n},
      {"decode_tokens", decode_tokens},
      {"temperature", temperature},
      {"sweep", sweep},
      {"prefill", {{"tok_per_sec", round_to(prefill_tps, 1)}, {"mfu_percent", or_null(round_to(prefill_mfu, 2), flops_known)},
                   {"time_sec", round_to(prefill_s, 6)}}}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace nanochat::app
