#include "nanochat/eval/core_bundle.h"

#include <nlohmann/json.hpp>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/engine/python_float.h"
#include "nanochat/eval/core_prompts.h"
#include "nanochat/eval/csv.h"

namespace nanochat::eval {

std::string_view task_type_name(CoreTaskType type) {
  switch (type) {
    case CoreTaskType::kMultipleChoice: return "multiple_choice";
    case CoreTaskType::kSchema: return "schema";
    case CoreTaskType::kLanguageModeling: return "language_modeling";
  }
  return "?";
}

double CoreBundle::random_baseline(const std::string& label) const {
  auto it = random_baselines.find(label);
  NC_CHECK(it != random_baselines.end(), "{}: eval_meta_data.csv has no 'Random baseline' row for task '{}'",
           root.string(), label);
  return it->second;
}

namespace {

std::string_view trim_ascii(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A YAML scalar with its trailing comment removed; quoted forms unescaped.
std::string yaml_scalar(std::string_view raw, const std::string& where) {
  raw = trim_ascii(raw);
  if (!raw.empty() && raw.front() == '"') {
    std::string out;
    size_t i = 1;
    for (; i < raw.size() && raw[i] != '"'; ++i) {
      if (raw[i] != '\\') {
        out += raw[i];
        continue;
      }
      NC_CHECK(i + 1 < raw.size(), "{}: dangling backslash in a quoted string", where);
      const char e = raw[++i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case ' ': out += ' '; break;
        default: fail("{}: unsupported escape '\\{}' in a quoted string", where, e);
      }
    }
    NC_CHECK(i < raw.size(), "{}: unterminated double-quoted string", where);
    const std::string_view rest = trim_ascii(raw.substr(i + 1));
    NC_CHECK(rest.empty() || rest.front() == '#', "{}: unexpected text after a quoted string", where);
    return out;
  }
  if (!raw.empty() && raw.front() == '\'') {
    std::string out;
    size_t i = 1;
    for (; i < raw.size(); ++i) {
      if (raw[i] == '\'') {
        if (i + 1 < raw.size() && raw[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += raw[i];
    }
    NC_CHECK(i < raw.size(), "{}: unterminated single-quoted string", where);
    const std::string_view rest = trim_ascii(raw.substr(i + 1));
    NC_CHECK(rest.empty() || rest.front() == '#', "{}: unexpected text after a quoted string", where);
    return out;
  }
  // Plain scalar: a comment starts at " #".
  for (size_t i = 0; i < raw.size(); ++i)
    if (raw[i] == '#' && (i == 0 || raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
      raw = trim_ascii(raw.substr(0, i));
      break;
    }
  return std::string(raw);
}

CoreTaskType parse_task_type(const std::string& s, const std::string& where) {
  if (s == "multiple_choice") return CoreTaskType::kMultipleChoice;
  if (s == "schema") return CoreTaskType::kSchema;
  if (s == "language_modeling") return CoreTaskType::kLanguageModeling;
  fail("{}: unsupported icl_task_type '{}' (expected multiple_choice, schema or language_modeling)", where, s);
}

struct PendingTask {
  CoreTaskConfig task;
  bool has_label = false, has_uri = false, has_shots = false, has_type = false;
  std::string where;
};

CoreTaskConfig finish_task(const PendingTask& p) {
  NC_CHECK(p.has_label, "{}: icl_tasks entry without 'label'", p.where);
  NC_CHECK(p.has_uri, "{}: task '{}' has no 'dataset_uri'", p.where, p.task.label);
  NC_CHECK(p.has_shots, "{}: task '{}' has no 'num_fewshot'", p.where, p.task.label);
  NC_CHECK(p.has_type, "{}: task '{}' has no 'icl_task_type'", p.where, p.task.label);
  return p.task;
}

void apply_key(PendingTask& p, std::string_view key, std::string_view raw_value, const std::string& where) {
  if (key == "label") {
    p.task.label = yaml_scalar(raw_value, where);
    p.has_label = true;
  } else if (key == "dataset_uri") {
    p.task.dataset_uri = yaml_scalar(raw_value, where);
    p.has_uri = true;
  } else if (key == "num_fewshot") {
    std::string v = yaml_scalar(raw_value, where);
    // A flow list "[a, b]": only the first element is used (as the original does).
    if (!v.empty() && v.front() == '[') {
      NC_CHECK(v.back() == ']', "{}: num_fewshot list is not closed", where);
      v = v.substr(1, v.size() - 2);
      v = std::string(trim_ascii(v.substr(0, v.find(','))));
    }
    NC_CHECK(!v.empty(), "{}: num_fewshot is empty", where);
    const int64_t n = parse_int(v, where + " num_fewshot");
    NC_CHECK(n >= 0 && n < 1000, "{}: num_fewshot {} out of range", where, n);
    p.task.num_fewshot = static_cast<int>(n);
    p.has_shots = true;
  } else if (key == "icl_task_type") {
    p.task.type = parse_task_type(yaml_scalar(raw_value, where), where);
    p.has_type = true;
  } else if (key == "continuation_delimiter") {
    p.task.continuation_delimiter = yaml_scalar(raw_value, where);
  }
  // Other keys (has_categories, ...) are ignored, as in the original.
}

}  // namespace

std::vector<CoreTaskConfig> parse_core_yaml(std::string_view text, const std::string& source) {
  std::vector<CoreTaskConfig> tasks;
  bool in_tasks = false, seen_tasks = false;
  PendingTask pending;
  bool has_pending = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    const std::string where = fmt::format("{}:{}", source, line_no);
    const std::string_view content = trim_ascii(line);
    if (content.empty() || content.front() == '#') continue;
    const bool indented = line.front() == ' ' || line.front() == '\t' || line.front() == '-';
    if (!indented) {
      in_tasks = content.substr(0, content.find(':')) == "icl_tasks";
      if (in_tasks) {
        NC_CHECK(trim_ascii(content.substr(content.find(':') + 1)).empty(),
                 "{}: 'icl_tasks:' must be followed by a block list", where);
        seen_tasks = true;
      }
      continue;
    }
    if (!in_tasks) continue;
    std::string_view entry = content;
    if (entry.front() == '-') {
      if (has_pending) tasks.push_back(finish_task(pending));
      pending = PendingTask{};
      pending.where = where;
      has_pending = true;
      entry = trim_ascii(entry.substr(1));
      if (entry.empty()) continue;
    }
    NC_CHECK(has_pending, "{}: key outside a list entry under icl_tasks", where);
    const size_t colon = entry.find(':');
    NC_CHECK(colon != std::string_view::npos, "{}: expected 'key: value', got '{}'", where, entry);
    apply_key(pending, trim_ascii(entry.substr(0, colon)), entry.substr(colon + 1), where);
  }
  if (has_pending) tasks.push_back(finish_task(pending));
  NC_CHECK(seen_tasks, "{}: no 'icl_tasks' key", source);
  NC_CHECK(!tasks.empty(), "{}: icl_tasks is empty", source);
  return tasks;
}

std::map<std::string, double> parse_eval_meta_csv(std::string_view text, const std::string& source) {
  const auto rows = parse_csv(text, source);
  NC_CHECK(!rows.empty(), "{}: empty CSV", source);
  int task_col = -1, baseline_col = -1;
  for (size_t c = 0; c < rows[0].size(); ++c) {
    if (rows[0][c] == "Eval Task") task_col = static_cast<int>(c);
    if (rows[0][c] == "Random baseline") baseline_col = static_cast<int>(c);
  }
  NC_CHECK(task_col >= 0, "{}: header has no 'Eval Task' column", source);
  NC_CHECK(baseline_col >= 0, "{}: header has no 'Random baseline' column", source);
  std::map<std::string, double> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    NC_CHECK(row.size() > static_cast<size_t>(std::max(task_col, baseline_col)),
             "{}: record {} has {} fields, fewer than the header", source, r + 1, row.size());
    out[row[static_cast<size_t>(task_col)]] =
        parse_double(row[static_cast<size_t>(baseline_col)], fmt::format("{} record {} 'Random baseline'", source, r + 1));
  }
  return out;
}

namespace {

// Python str() of a JSON value as json.loads produced it.
std::string python_str(const nlohmann::json& v, const std::string& where) {
  switch (v.type()) {
    case nlohmann::json::value_t::string: return v.get<std::string>();
    case nlohmann::json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case nlohmann::json::value_t::number_float: return engine::python_float_repr(v.get<double>());
    case nlohmann::json::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case nlohmann::json::value_t::null: return "None";
    default: fail("{}: expected a string or number, got {}", where, v.type_name());
  }
}

const nlohmann::json& field(const nlohmann::json& rec, const char* name, const std::string& where) {
  NC_CHECK(rec.is_object(), "{}: record is not a JSON object", where);
  auto it = rec.find(name);
  NC_CHECK(it != rec.end(), "{}: record has no '{}' field", where, name);
  return *it;
}

std::vector<std::string> string_list(const nlohmann::json& v, const char* name, const std::string& where) {
  NC_CHECK(v.is_array() && !v.empty(), "{}: '{}' must be a non-empty list", where, name);
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(python_str(e, fmt::format("{} '{}'", where, name)));
  return out;
}

int64_t gold_index(const nlohmann::json& v, size_t num_options, const std::string& where) {
  NC_CHECK(v.is_number_integer(), "{}: 'gold' must be an integer", where);
  const auto g = v.get<int64_t>();
  NC_CHECK(g >= 0 && static_cast<size_t>(g) < num_options, "{}: 'gold' {} is outside [0, {})", where, g, num_options);
  return g;
}

}  // namespace

std::vector<CoreExample> parse_task_jsonl(std::string_view text, CoreTaskType type, const std::string& source) {
  std::vector<CoreExample> out;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    const std::string line = python_strip(raw);
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", source, line_no);
    nlohmann::json rec;
    try {
      rec = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: invalid JSON: {}", where, e.what());
    }
    CoreExample ex;
    switch (type) {
      case CoreTaskType::kMultipleChoice:
        ex.query = python_str(field(rec, "query", where), where + " 'query'");
        ex.choices = string_list(field(rec, "choices", where), "choices", where);
        ex.gold = gold_index(field(rec, "gold", where), ex.choices.size(), where);
        break;
      case CoreTaskType::kSchema:
        ex.context_options = string_list(field(rec, "context_options", where), "context_options", where);
        ex.continuation = python_str(field(rec, "continuation", where), where + " 'continuation'");
        ex.gold = gold_index(field(rec, "gold", where), ex.context_options.size(), where);
        break;
      case CoreTaskType::kLanguageModeling:
        ex.context = python_str(field(rec, "context", where), where + " 'context'");
        ex.continuation = python_str(field(rec, "continuation", where), where + " 'continuation'");
        break;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

CoreBundle load_core_bundle(const std::filesystem::path& root) {
  NC_CHECK(std::filesystem::is_directory(root), "CORE eval bundle directory {} does not exist", root.string());
  CoreBundle b;
  b.root = root;
  const auto yaml = root / "core.yaml";
  const auto csv = root / "eval_meta_data.csv";
  NC_CHECK(std::filesystem::exists(yaml), "CORE eval bundle: {} is missing", yaml.string());
  NC_CHECK(std::filesystem::exists(csv), "CORE eval bundle: {} is missing", csv.string());
  b.tasks = parse_core_yaml(read_file(yaml), yaml.string());
  b.random_baselines = parse_eval_meta_csv(read_file(csv), csv.string());
  for (const auto& t : b.tasks) (void)b.random_baseline(t.label);  // fail early on a missing baseline
  return b;
}

std::vector<CoreExample> load_task_examples(const CoreBundle& bundle, const CoreTaskConfig& task) {
  const auto path = bundle.data_path(task);
  NC_CHECK(std::filesystem::exists(path), "CORE task '{}': data file {} is missing", task.label, path.string());
  return parse_task_jsonl(read_file(path), task.type, path.string());
}

}  // namespace nanochat::eval
