// nanochat: one binary whose subcommands mirror the original's scripts (flags keep their names).
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#ifdef NANOCHAT_HAVE_CUDA
#include "nanochat/kernels/cuda/device_info.h"
#endif

namespace {

struct Command {
  std::string_view name;
  std::string_view original;  // the original script it mirrors
  std::string_view summary;
  int (*run)(const nanochat::app::Args&);
};

constexpr Command kCommands[] = {
    {"dataset", "nanochat.dataset", "download pretraining shards, or build shards from local text",
     nanochat::app::dataset},
    {"tok-train", "scripts.tok_train", "train the BPE tokenizer on pretraining shards or local text",
     nanochat::app::tok_train},
    {"tok-eval", "scripts.tok_eval", "compare the tokenizer's compression with GPT-2 and GPT-4", nanochat::app::tok_eval},
    {"base-train", "scripts.base_train", "pretrain the base model (CPU)", nanochat::app::base_train},
    {"base-eval", "scripts.base_eval", "CORE metric, bits per byte and samples of a base model", nanochat::app::base_eval},
    {"mid-train", "scripts.mid_train", "mid-train a base model on conversations (CPU; v0.1.0)", nanochat::app::mid_train},
    {"chat-sft", "scripts.chat_sft", "supervised fine-tuning of a base model (CPU)", nanochat::app::chat_sft},
    {"chat-rl", "scripts.chat_rl", "reinforcement learning on GSM8K from an SFT model", nanochat::app::chat_rl},
    {"chat-eval", "scripts.chat_eval", "accuracy of a chat model on ARC, MMLU, GSM8K, HumanEval (ChatCORE)", nanochat::app::chat_eval},
    {"chat-cli", "scripts.chat_cli", "chat with a trained model in the terminal", nanochat::app::chat_cli},
    {"infer-bench", "scripts.infer_bench", "latency, throughput and utilisation of a checkpoint", nanochat::app::infer_bench},
    {"chat-web", "scripts.chat_web", "serve the web chat UI and an OpenAI-compatible API", nanochat::app::chat_web},
    {"launch", "torchrun", "run base-eval or chat-eval as several ranks (--nproc-per-node N -- <command> ...)", nanochat::app::launch},
};

void print_help() {
  std::string out =
      "usage: nanochat <command> [options]\n\n"
      "nanochat.cpp: train, fine-tune, evaluate and chat with a small GPT, in C++.\n"
      "Artifacts live in $NANOCHAT_BASE_DIR (default ~/.cache/nanochat).\n\ncommands:\n";
  for (const auto& c : kCommands) out += fmt::format("  {:<12} {} (original: {})\n", c.name, c.summary, c.original);
  out +=
      "\nglobal options:\n  -h, --help   show this help\n  --version    print the version\n\n"
      "Run 'nanochat <command> --help' for a command's flags.\n"
      "Environment: NANOCHAT_BASE_DIR, NANOCHAT_LOG_LEVEL (debug|info|warn|error), OMP_NUM_THREADS.\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::printf("nanochat.cpp 0.1.0\n");
#ifdef NANOCHAT_HAVE_CUDA
    std::printf("%s\n", nanochat::cuda::device_summary().c_str());
#else
    std::printf("built without CUDA\n");
#endif
    return 0;
  }
  const Command* cmd = nullptr;
  for (const auto& c : kCommands)
    if (c.name == args[0]) cmd = &c;
  if (cmd == nullptr) {
    std::fprintf(stderr, "nanochat: error: unknown command '%s' (run 'nanochat --help' for the list)\n", args[0].c_str());
    return 2;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    return cmd->run(rest);
  } catch (const nanochat::UsageError& e) {
    std::fprintf(stderr, "nanochat %s: error: %s\n(run 'nanochat %s --help' for usage)\n", args[0].c_str(), e.what(),
                 args[0].c_str());
    return 2;
  } catch (const nanochat::Error& e) {
    nanochat::log_error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    nanochat::log_error("unexpected error: {}", e.what());
    return 1;
  }
}
