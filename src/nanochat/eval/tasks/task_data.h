// Helpers the task loaders share: the original's dataset order (NumPy default_rng(42).permutation,
// spec §8.1), Python str.strip(), JSONL reading, the multiple-choice prompt (§8.2 render_mc) and the
// two-message conversation every task builds.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nanochat/eval/python_str.h"

namespace nanochat::eval::tasks {

// Logical row i of a dataset of n rows is physical row order[i] (HF .shuffle(seed=42)).
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed = 42);


// Objects of a JSONL file (blank lines skipped); errors name the file and line.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path, std::string_view text);

// "Multiple Choice question: Q\n- choice=L\n...\nRespond only with the letter of the correct answer."
std::string render_mc(std::string_view question, const std::vector<std::string>& letters,
                      const std::vector<std::string>& choices);

// {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}
nlohmann::json user_assistant(std::string user, nlohmann::json assistant);

// A required string field of a record, with an error naming the source and the field.
std::string string_field(const nlohmann::json& record, const char* field, std::string_view where);

}  // namespace nanochat::eval::tasks
