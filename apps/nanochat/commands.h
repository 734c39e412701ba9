// One function per subcommand; each parses its own flags (ArgParser) and returns the exit code.
#pragma once
#include <string>
#include <vector>

namespace nanochat::app {

using Args = std::vector<std::string>;

int chat_cli(const Args& args);
int chat_web(const Args& args);
int dataset(const Args& args);
int infer_bench(const Args& args);
int launch(const Args& args);
int tok_train(const Args& args);
int tok_eval(const Args& args);
int base_train(const Args& args);
int base_eval(const Args& args);
int chat_eval(const Args& args);
int chat_sft(const Args& args);
int chat_rl(const Args& args);
int mid_train(const Args& args);

}  // namespace nanochat::app
