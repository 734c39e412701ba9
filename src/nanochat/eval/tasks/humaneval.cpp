#include "nanochat/eval/tasks/humaneval.h"

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace {

bool is_regex_space(char c) { return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f); }

}  // namespace

std::string humaneval_imports(std::string_view prompt) {
  std::string out;
  bool first = true;
  size_t pos = 0;
  while (pos <= prompt.size()) {
    size_t nl = prompt.find('\n', pos);
    if (nl == std::string_view::npos) nl = prompt.size();
    const std::string line = python_strip(prompt.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.starts_with("import ") || line.starts_with("from ")) {
      if (!first) out += "\n";
      out += line;
      first = false;
    } else if (!line.empty() && !line.starts_with("#")) {
      break;
    }
    if (nl == prompt.size()) break;
  }
  return out;
}

std::string extract_program_code(std::string_view s) {
  // ```(?:python)?\s*\n(.*?)\n``` with DOTALL, first match: for each opening fence, try with and then
  // without "python", and let \s* give back newlines from the longest run to the shortest.
  for (size_t open = s.find("```"); open != std::string_view::npos; open = s.find("```", open + 1)) {
    std::vector<size_t> starts;
    if (s.substr(open + 3).starts_with("python")) starts.push_back(open + 9);
    starts.push_back(open + 3);
    for (size_t p : starts) {
      size_t e = p;
      while (e < s.size() && is_regex_space(s[e])) ++e;
      for (size_t q = e; q-- > p;) {
        if (s[q] != '\n') continue;
        const size_t body = q + 1;
        const size_t close = s.find("\n```", body);
        if (close != std::string_view::npos) return python_strip(s.substr(body, close - body));
        // No closing fence from here: backtrack to an earlier newline of the run (its "\n```" may be
        // the very newline tried last, as in "```\n\n```").
      }
    }
  }
  return python_strip(s);
}

std::string humaneval_program(const nlohmann::json& conversation, std::string_view completion) {
  const std::string prompt = conversation.at("messages").at(0).at("content").get<std::string>();
  return humaneval_imports(prompt) + "\n\n" + extract_program_code(completion) + "\n\n" +
         conversation.at("test").get<std::string>() + "\n" + "check(" +
         conversation.at("entry_point").get<std::string>() + ")";
}

HumanEval::HumanEval(const std::filesystem::path& jsonl_gz, TaskView view, SandboxLimits limits)
    : Task(view), limits_(std::move(limits)) {
  NC_CHECK(std::filesystem::exists(jsonl_gz), "HumanEval: data file {} not found", jsonl_gz.string());
  const auto records = read_jsonl(jsonl_gz, read_gzip_file(jsonl_gz));
  for (size_t k = 0; k < records.size(); ++k) {
    const std::string where = fmt::format("{} row {}", jsonl_gz.string(), k);
    rows_.push_back({string_field(records[k], "task_id", where), string_field(records[k], "prompt", where),
                     string_field(records[k], "entry_point", where),
                     string_field(records[k], "canonical_solution", where), string_field(records[k], "test", where)});
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

const HumanEval::Row& HumanEval::row(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "HumanEval: index {} out of range", physical_index);
  return rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
}

nlohmann::json HumanEval::get_example(int64_t physical_index) const {
  const Row& r = row(physical_index);
  auto conv = user_assistant(r.prompt, r.prompt + "\n" + r.canonical_solution);
  conv["entry_point"] = r.entry_point;
  conv["test"] = r.test;
  return conv;
}

bool HumanEval::evaluate(const nlohmann::json& conversation, std::string_view completion) const {
  return execute_code(humaneval_program(conversation, completion), limits_).success;
}

}  // namespace nanochat::eval::tasks
