// MuonAdamW state files: the original's optimizer state_dict (spec §7.5) as safetensors.
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/optim/muon_adamw.h"

namespace nanochat::optim {

using model::OptimKind;
using model::ParamEntry;
using model::ParamGroup;

namespace {

constexpr const char* kFormat = "nanochat.cpp MuonAdamW state v1";

std::string state_name(int ordinal, const char* leaf) { return "state." + std::to_string(ordinal) + "." + leaf; }

// The tensors a state file holds, with their shapes and where they live in the optimizer's slabs.
struct StateTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool is_step = false;  // an AdamW step counter (I64 scalar) rather than a float buffer
  int param = -1;        // step counters: the parameter index
  bool in_second = false;
  size_t offset = 0, numel = 0;
};

std::vector<StateTensor> state_tensors(const model::ParamLayout& layout, const std::vector<size_t>& second_offsets) {
  std::vector<StateTensor> out;
  int ordinal = 0;
  for (size_t gi = 0; gi < layout.groups().size(); ++gi) {
    const ParamGroup& g = layout.groups()[gi];
    if (g.kind == OptimKind::AdamW) {
      for (int pi : g.params) {
        const ParamEntry& e = layout.params()[static_cast<size_t>(pi)];
        out.push_back({state_name(ordinal, "step"), {}, true, pi, false, 0, 1});
        out.push_back({state_name(ordinal, "exp_avg"), e.shape, false, pi, false, e.offset, e.numel});
        out.push_back({state_name(ordinal, "exp_avg_sq"), e.shape, false, pi, true, e.offset, e.numel});
        ++ordinal;
      }
    } else {
      const auto K = static_cast<int64_t>(g.params.size());
      const std::vector<int64_t> second_shape =
          muon_stats_per_row(g.rows, g.cols) ? std::vector<int64_t>{K, g.rows, 1} : std::vector<int64_t>{K, 1, g.cols};
      out.push_back({state_name(ordinal, "momentum_buffer"), {K, g.rows, g.cols}, false, -1, false, g.offset, g.numel});
      out.push_back({state_name(ordinal, "second_momentum_buffer"), second_shape, false, -1, true, second_offsets[gi],
                     static_cast<size_t>(K * muon_second_moment_size(g.rows, g.cols))});
      ordinal += static_cast<int>(K);
    }
  }
  return out;
}

}  // namespace

void MuonAdamW::save_state(const std::filesystem::path& path) const {
  SafetensorsWriter w;
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  int ordinal = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const GroupHyper& h = groups_[gi];
    const ParamGroup& g = layout_.groups()[gi];
    nlohmann::ordered_json j;
    j["kind"] = h.kind == OptimKind::Muon ? "muon" : "adamw";
    j["lr"] = h.lr;
    j["initial_lr"] = h.initial_lr;
    if (h.kind == OptimKind::Muon) {
      j["momentum"] = h.momentum;
      j["ns_steps"] = h.ns_steps;
      j["beta2"] = h.beta2;
    } else {
      j["betas"] = {h.beta1, h.beta2};
      j["eps"] = h.eps;
    }
    j["weight_decay"] = h.weight_decay;
    nlohmann::ordered_json ordinals = nlohmann::ordered_json::array(), names = nlohmann::ordered_json::array();
    for (int pi : g.params) {
      ordinals.push_back(ordinal++);
      names.push_back(layout_.params()[static_cast<size_t>(pi)].name);
    }
    j["params"] = std::move(ordinals);
    j["param_names"] = std::move(names);
    groups.push_back(std::move(j));
  }
  w.add_metadata("format", kFormat);
  w.add_metadata("world_size", "1");
  w.add_metadata("rank", "0");
  w.add_metadata("param_groups", groups.dump());
  for (const StateTensor& t : state_tensors(layout_, second_offsets_)) {
    if (t.is_step) {
      const int64_t step = adamw_steps_[static_cast<size_t>(t.param)];
      w.add_i64(t.name, t.shape, std::span<const int64_t>(&step, 1));
    } else {
      const std::vector<float>& slab = t.in_second ? second_ : first_;
      w.add_f32(t.name, t.shape, std::span<const float>(slab.data() + t.offset, t.numel));
    }
  }
  w.write(path);
}

void MuonAdamW::load_state(const std::filesystem::path& path) {
  const SafetensorsReader file(path);
  const std::string where = path.string();
  const auto& meta = file.metadata();
  const auto fmt_it = meta.find("format");
  NC_CHECK(fmt_it != meta.end() && fmt_it->second == kFormat, "{}: not a MuonAdamW state file (format '{}', expected '{}')",
           where, fmt_it == meta.end() ? "" : fmt_it->second, kFormat);
  NC_CHECK(file.metadata_value("world_size") == "1",
           "{}: optimizer state was saved with world size {}; resuming needs the same world size (this run: 1)", where,
           file.metadata_value("world_size"));

  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(file.metadata_value("param_groups"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed param_groups metadata: {}", where, e.what());
  }
  NC_CHECK(saved.is_array() && saved.size() == layout_.groups().size(),
           "{}: param_groups has {} groups, this model has {}", where, saved.is_array() ? saved.size() : 0,
           layout_.groups().size());
  std::vector<GroupHyper> groups = groups_;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const ParamGroup& g = layout_.groups()[gi];
    const nlohmann::json& j = saved[gi];
    GroupHyper& h = groups[gi];
    try {
      const std::string kind = j.at("kind").get<std::string>();
      NC_CHECK(kind == (g.kind == OptimKind::Muon ? "muon" : "adamw"), "{}: param group {} is '{}', this model's is {} ('{}')",
               where, gi, kind, g.kind == OptimKind::Muon ? "muon" : "adamw", g.label);
      const auto& names = j.at("param_names");
      NC_CHECK(names.is_array() && names.size() == g.params.size(), "{}: param group {} ('{}') has {} parameters, expected {}",
               where, gi, g.label, names.is_array() ? names.size() : 0, g.params.size());
      for (size_t k = 0; k < g.params.size(); ++k) {
        const std::string& want = layout_.params()[static_cast<size_t>(g.params[k])].name;
        NC_CHECK(names[k].get<std::string>() == want, "{}: param group {} ('{}') entry {} is '{}', expected '{}'", where, gi,
                 g.label, k, names[k].get<std::string>(), want);
      }
      h.lr = j.at("lr").get<double>();
      h.initial_lr = j.at("initial_lr").get<double>();
      h.weight_decay = j.at("weight_decay").get<double>();
      if (g.kind == OptimKind::Muon) {
        h.momentum = j.at("momentum").get<double>();
        h.ns_steps = j.at("ns_steps").get<int>();
        h.beta2 = j.at("beta2").get<double>();
      } else {
        const auto& betas = j.at("betas");
        NC_CHECK(betas.is_array() && betas.size() == 2, "{}: param group {} ('{}'): betas must be [beta1, beta2]", where, gi,
                 g.label);
        h.beta1 = betas[0].get<double>();
        h.beta2 = betas[1].get<double>();
        h.eps = j.at("eps").get<double>();
      }
    } catch (const nlohmann::json::exception& e) {
      fail("{}: param group {} ('{}'): {}", where, gi, g.label, e.what());
    }
  }

  // Read into fresh buffers so that a failed load leaves this optimizer untouched.
  std::vector<float> first(first_.size(), 0.0f), second(second_.size(), 0.0f);
  std::vector<int64_t> steps(adamw_steps_.size(), 0);
  const std::vector<StateTensor> expected = state_tensors(layout_, second_offsets_);
  for (const StateTensor& t : expected) {
    NC_CHECK(file.contains(t.name), "{}: missing optimizer tensor '{}'", where, t.name);
    const TensorInfo& ti = file.info(t.name);
    NC_CHECK(ti.shape == t.shape, "{}: optimizer tensor '{}' has shape {}, expected {}", where, t.name,
             shape_string(ti.shape), shape_string(t.shape));
    if (t.is_step) {
      NC_CHECK(ti.dtype == DType::I64 || ti.dtype == DType::I32, "{}: optimizer tensor '{}' has dtype {}, expected I64",
               where, t.name, dtype_name(ti.dtype));
      const int64_t step = file.read_i64(t.name).at(0);
      NC_CHECK(step >= 0, "{}: optimizer tensor '{}' holds a negative step count {}", where, t.name, step);
      steps[static_cast<size_t>(t.param)] = step;
    } else {
      NC_CHECK(ti.dtype == DType::F32 || ti.dtype == DType::BF16, "{}: optimizer tensor '{}' has dtype {}, expected F32",
               where, t.name, dtype_name(ti.dtype));
      std::vector<float>& slab = t.in_second ? second : first;
      file.read_f32_into(t.name, t.shape, std::span<float>(slab.data() + t.offset, t.numel));
    }
  }
  NC_CHECK(file.names().size() == expected.size(), "{}: holds {} tensors, expected {}{}", where, file.names().size(),
           expected.size(), [&] {
             for (const std::string& n : file.names()) {
               bool known = false;
               for (const StateTensor& t : expected) known = known || t.name == n;
               if (!known) return " (unexpected tensor '" + n + "')";
             }
             return std::string();
           }());
  check_param_groups(layout_, groups);
  groups_ = std::move(groups);
  first_ = std::move(first);
  second_ = std::move(second);
  adamw_steps_ = std::move(steps);
}

}  // namespace nanochat::optim
