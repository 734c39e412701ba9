#include "nanochat/core/bf16.h"
#include "nanochat/model/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"
#include "nanochat/core/safetensors.h"

namespace nanochat::model {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

fs::path model_file(const fs::path& dir, int64_t step) { return dir / fmt::format("model_{:06d}.safetensors", step); }
fs::path meta_file(const fs::path& dir, int64_t step) { return dir / fmt::format("meta_{:06d}.json", step); }
fs::path optim_file(const fs::path& dir, int64_t step, int rank) {
  return dir / fmt::format("optim_{:06d}_rank{:d}.safetensors", step, rank);
}

// ---------------------------------------------------------------------------------------------------
// Python's json module writes and reads Infinity, -Infinity and NaN as bare tokens; nlohmann does
// neither. Non-finite numbers travel through nlohmann as marker strings.
namespace {

constexpr const char* kMarkers[3][2] = {
    {"-Infinity", "\x01nanochat:-Infinity"}, {"Infinity", "\x01nanochat:Infinity"}, {"NaN", "\x01nanochat:NaN"}};

ojson encode_non_finite(const ojson& j) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) {
    const double v = j.get<double>();
    return std::isnan(v) ? kMarkers[2][1] : (v < 0 ? kMarkers[0][1] : kMarkers[1][1]);
  }
  if (j.is_structured()) {
    ojson out = j;
    for (auto it = out.begin(); it != out.end(); ++it) *it = encode_non_finite(*it);
    return out;
  }
  return j;
}

std::string python_json_dump(const ojson& j) {
  std::string text = encode_non_finite(j).dump(2);
  for (const auto& [token, marker] : kMarkers) {
    const std::string quoted = ojson(marker).dump();  // the marker as it appears in the text
    for (size_t pos = 0; (pos = text.find(quoted, pos)) != std::string::npos;) {
      text.replace(pos, quoted.size(), token);
      pos += std::strlen(token);
    }
  }
  return text;
}

void decode_non_finite(ojson& j) {
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == kMarkers[0][1]) j = -std::numeric_limits<double>::infinity();
    else if (s == kMarkers[1][1]) j = std::numeric_limits<double>::infinity();
    else if (s == kMarkers[2][1]) j = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  if (j.is_structured())
    for (auto it = j.begin(); it != j.end(); ++it) decode_non_finite(*it);
}

ojson python_json_parse(const std::string& text, const std::string& where) {
  // Replace the bare tokens outside strings by quoted markers.
  std::string clean;
  clean.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
    const char ch = text[i];
    if (in_string) {
      clean += ch;
      if (ch == '\\' && i + 1 < text.size()) {
        clean += text[i + 1];
        i += 2;
        continue;
      }
      if (ch == '"') in_string = false;
      ++i;
      continue;
    }
    if (ch == '"') {
      in_string = true;
      clean += ch;
      ++i;
      continue;
    }
    bool replaced = false;
    for (const auto& [token, marker] : kMarkers) {
      const size_t len = std::strlen(token);
      if (text.compare(i, len, token) == 0) {
        clean += ojson(marker).dump();
        i += len;
        replaced = true;
        break;
      }
    }
    if (!replaced) clean += text[i++];
  }
  ojson j;
  try {
    j = ojson::parse(clean);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed JSON: {}", where, e.what());
  }
  decode_non_finite(j);
  return j;
}

int64_t get_int(const ojson& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  NC_CHECK(it != obj.end(), "{}: missing field '{}'", where, key);
  NC_CHECK(it->is_number_integer(), "{}: field '{}' must be an integer, got {}", where, key, it->dump());
  return it->get<int64_t>();
}

double get_number(const ojson& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  NC_CHECK(it != obj.end(), "{}: missing field '{}'", where, key);
  NC_CHECK(it->is_number(), "{}: field '{}' must be a number, got {}", where, key, it->dump());
  return it->get<double>();
}

}  // namespace

std::string CheckpointMeta::to_json() const {
  ojson j;
  j["step"] = step;
  j["val_bpb"] = val_bpb ? ojson(*val_bpb) : ojson(nullptr);
  j["model_config"] = ojson::parse(model_config.to_json());
  j["user_config"] = user_config;
  if (training) {
    j["device_batch_size"] = training->device_batch_size;
    j["max_seq_len"] = training->max_seq_len;
    j["total_batch_size"] = training->total_batch_size;
    j["dataloader_state_dict"] = {{"pq_idx", training->dataloader.pq_idx},
                                  {"rg_idx", training->dataloader.rg_idx},
                                  {"epoch", training->dataloader.epoch}};
    if (const auto& r = training->dataloader.replay) {
      ojson start = nullptr;
      if (r->start) start = {{"pq_idx", r->start->pq_idx}, {"rg_idx", r->start->rg_idx}, {"epoch", r->start->epoch}};
      j["dataloader_state_dict"]["nanochat_cpp_replay"] = {{"start", start}, {"batches", r->batches}};
    }
    j["loop_state"] = {{"min_val_bpb", training->loop.min_val_bpb},
                       {"smooth_train_loss", training->loop.smooth_train_loss},
                       {"total_training_time", training->loop.total_training_time}};
  }
  return python_json_dump(j);
}

CheckpointMeta CheckpointMeta::from_json(const std::string& text, const std::string& where) {
  const ojson j = python_json_parse(text, where);
  NC_CHECK(j.is_object(), "{}: expected a JSON object", where);
  CheckpointMeta m;
  m.step = get_int(j, "step", where);
  NC_CHECK(m.step >= 0, "{}: field 'step' must be >= 0, got {}", where, m.step);
  const auto vb = j.find("val_bpb");
  NC_CHECK(vb != j.end(), "{}: missing field 'val_bpb'", where);
  if (!vb->is_null()) m.val_bpb = get_number(j, "val_bpb", where);

  const auto mc = j.find("model_config");
  NC_CHECK(mc != j.end() && mc->is_object(), "{}: missing object 'model_config'", where);
  ojson config = *mc;
  if (!config.contains("window_pattern")) {
    log_warn("{}: model_config has no window_pattern; using \"L\" as the original does for old checkpoints", where);
    config["window_pattern"] = "L";
  }
  try {
    m.model_config = GPTConfig::from_json(config.dump());
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  if (const auto uc = j.find("user_config"); uc != j.end()) {
    NC_CHECK(uc->is_object(), "{}: 'user_config' must be an object", where);
    m.user_config = *uc;
  }

  if (j.contains("loop_state") || j.contains("dataloader_state_dict") || j.contains("total_batch_size")) {
    TrainingProgress t;
    t.device_batch_size = get_int(j, "device_batch_size", where);
    t.max_seq_len = get_int(j, "max_seq_len", where);
    t.total_batch_size = get_int(j, "total_batch_size", where);
    const auto dl = j.find("dataloader_state_dict");
    NC_CHECK(dl != j.end(), "{}: missing field 'dataloader_state_dict'", where);
    if (!dl->is_null()) {  // the original may save None (a loader that has yielded nothing)
      NC_CHECK(dl->is_object(), "{}: 'dataloader_state_dict' must be an object", where);
      const std::string dl_where = where + ": dataloader_state_dict";
      t.dataloader.pq_idx = get_int(*dl, "pq_idx", dl_where);
      t.dataloader.rg_idx = get_int(*dl, "rg_idx", dl_where);
      t.dataloader.epoch = dl->contains("epoch") ? get_int(*dl, "epoch", dl_where) : 1;
      if (const auto rp = dl->find("nanochat_cpp_replay"); rp != dl->end()) {
        const std::string rp_where = dl_where + ": nanochat_cpp_replay";
        NC_CHECK(rp->is_object(), "{} must be an object", rp_where);
        LoaderReplay replay;
        replay.batches = get_int(*rp, "batches", rp_where);
        NC_CHECK(replay.batches >= 1, "{}: 'batches' must be at least 1, got {}", rp_where, replay.batches);
        const auto st = rp->find("start");
        NC_CHECK(st != rp->end(), "{}: missing field 'start'", rp_where);
        if (!st->is_null()) {
          NC_CHECK(st->is_object(), "{}: 'start' must be an object or null", rp_where);
          replay.start = LoaderPosition{get_int(*st, "pq_idx", rp_where), get_int(*st, "rg_idx", rp_where),
                                        get_int(*st, "epoch", rp_where)};
        }
        t.dataloader.replay = replay;
      }
    }
    const auto ls = j.find("loop_state");
    NC_CHECK(ls != j.end() && ls->is_object(), "{}: missing object 'loop_state'", where);
    const std::string ls_where = where + ": loop_state";
    t.loop.min_val_bpb = get_number(*ls, "min_val_bpb", ls_where);
    t.loop.smooth_train_loss = get_number(*ls, "smooth_train_loss", ls_where);
    t.loop.total_training_time = get_number(*ls, "total_training_time", ls_where);
    m.training = t;
  }
  return m;
}

void save_meta(const fs::path& path, const CheckpointMeta& meta) { write_file_atomic(path, meta.to_json()); }

CheckpointMeta load_meta(const fs::path& path) { return CheckpointMeta::from_json(read_file(path), path.string()); }

// ---------------------------------------------------------------------------------------------------

void save_weights(const fs::path& path, const GPT<float>& model, const WeightsOptions& options) {
  SafetensorsWriter w;
  w.add_metadata("format", "pt");
  w.add_metadata("model_config", model.config().to_json());
  const ParamLayout& layout = model.layout();
  for (const std::string& name : layout.state_dict_order()) {
    const ParamEntry& e = layout.at(name);
    const std::span<const float> values(model.params().data() + e.offset, e.numel);
    const bool embedding = name == "transformer.wte.weight" || name.rfind("value_embeds.", 0) == 0;
    if (options.bf16_embeddings && embedding) {
      std::vector<uint16_t> bits(e.numel);
      for (size_t i = 0; i < e.numel; ++i) bits[i] = bf16::from_float(values[i]);
      w.add(name, DType::BF16, e.shape, std::as_bytes(std::span<const uint16_t>(bits)));
    } else {
      w.add_f32(name, e.shape, values);
    }
  }
  w.write(path);
}

void load_weights(const fs::path& path, GPT<float>& model) {
  const SafetensorsReader file(path);
  const std::string where = path.string();
  const ParamLayout& layout = model.layout();
  static const std::string kCompiledPrefix = "_orig_mod.";
  std::map<std::string, std::string> stored;  // parameter name -> tensor name in the file
  for (const std::string& tensor : file.names()) {
    const std::string name = tensor.rfind(kCompiledPrefix, 0) == 0 ? tensor.substr(kCompiledPrefix.size()) : tensor;
    NC_CHECK(layout.index_of(name) >= 0, "{}: tensor '{}' is not a parameter of this model (config {})", where, tensor,
             model.config().to_json());
    NC_CHECK(stored.emplace(name, tensor).second, "{}: parameter '{}' is stored twice", where, name);
  }
  for (const ParamEntry& e : layout.params()) {
    const std::span<float> dst = model.param(e.name);
    const auto it = stored.find(e.name);
    if (it == stored.end()) {
      // The original patches checkpoints from before these scalars existed.
      if (e.name == "resid_lambdas" || e.name == "x0_lambdas") {
        const float fill = e.name == "resid_lambdas" ? 1.0f : 0.0f;
        log_warn("{}: no '{}'; using {} as the original does for old checkpoints", where, e.name, fill);
        std::fill(dst.begin(), dst.end(), fill);
        continue;
      }
      fail("{}: missing tensor '{}' (shape {})", where, e.name, shape_string(e.shape));
    }
    const TensorInfo& ti = file.info(it->second);
    NC_CHECK(ti.dtype == DType::F32 || ti.dtype == DType::BF16 || ti.dtype == DType::F16,
             "{}: tensor '{}' has dtype {}, expected F32 (or BF16/F16)", where, it->second, dtype_name(ti.dtype));
    file.read_f32_into(it->second, e.shape, dst);
  }
}

// ---------------------------------------------------------------------------------------------------

fs::path checkpoints_dir(const std::string& source) {
  if (source == "base") return base_dir() / "base_checkpoints";
  if (source == "sft") return base_dir() / "chatsft_checkpoints";
  if (source == "mid") return base_dir() / "mid_checkpoints";
  if (source == "rl") return base_dir() / "chatrl_checkpoints";
  fail("unknown checkpoint source '{}' (expected base, mid, sft or rl)", source);
}

std::string find_largest_model(const fs::path& dir) {
  std::error_code ec;
  NC_CHECK(fs::is_directory(dir, ec), "No checkpoints found in {} (not a directory)", dir.string());
  static const std::regex depth_tag(R"(^d(\d+))");
  std::vector<fs::path> tags;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) tags.push_back(e.path());
  NC_CHECK(!tags.empty(), "No checkpoints found in {}", dir.string());
  std::string best;
  int64_t best_depth = -1;
  for (const fs::path& p : tags) {
    const std::string name = p.filename().string();
    std::smatch m;
    if (!std::regex_search(name, m, depth_tag)) continue;
    const int64_t depth = static_cast<int64_t>(std::stoll(m[1].str().substr(0, 18)));
    if (depth > best_depth || (depth == best_depth && name < best)) {
      best_depth = depth;
      best = name;
    }
  }
  if (best_depth >= 0) return best;
  // No d<N> tag: the most recently modified directory.
  const auto newest = std::max_element(tags.begin(), tags.end(), [](const fs::path& a, const fs::path& b) {
    return fs::last_write_time(a) < fs::last_write_time(b);
  });
  return newest->filename().string();
}

int64_t find_last_step(const fs::path& dir) {
  std::error_code ec;
  NC_CHECK(fs::is_directory(dir, ec), "No checkpoints found in {} (not a directory)", dir.string());
  static const std::regex model_name(R"(^model_(\d+)\.safetensors$)");
  int64_t last = -1;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (!e.is_regular_file() || !std::regex_match(name, m, model_name) || m[1].length() > 18) continue;
    last = std::max<int64_t>(last, std::stoll(m[1].str()));
  }
  NC_CHECK(last >= 0, "No checkpoints found in {} (no model_<step>.safetensors)", dir.string());
  return last;
}

CheckpointSource locate_checkpoint(const fs::path& root, const std::optional<std::string>& tag,
                                   const std::optional<int64_t>& step, const std::string& hint) {
  NC_CHECK(fs::is_directory(root), "no checkpoints in {} ({})", root.string(), hint);
  CheckpointSource s;
  s.tag = tag ? *tag : find_largest_model(root);
  s.dir = root / s.tag;
  NC_CHECK(fs::is_directory(s.dir), "no checkpoint directory {} (model tag '{}')", s.dir.string(), s.tag);
  s.step = step ? *step : find_last_step(s.dir);
  const fs::path weights = model_file(s.dir, s.step);
  NC_CHECK(fs::exists(weights), "no weights for step {} in {} (missing {})", s.step, s.dir.string(),
           weights.filename().string());
  s.meta = load_meta(meta_file(s.dir, s.step));
  return s;
}

}  // namespace nanochat::model
