#include "nanochat/data/document_source.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/data/html_text.h"
#include "nanochat/data/parquet_reader.h"

namespace nanochat {

namespace fs = std::filesystem;

namespace {

bool has_ext(const fs::path& p, std::string_view ext) { return p.extension() == ext; }

// The logical extension: "x.rst.gz" -> ".rst", "x.html" -> ".html".
std::string inner_ext(const fs::path& p) {
  return has_ext(p, ".gz") ? p.stem().extension().string() : p.extension().string();
}

// Whole file, gunzipped when it ends in .gz.
std::string read_text_file(const fs::path& p) { return has_ext(p, ".gz") ? read_gzip_file(p) : read_file(p); }

// Binary files (index files beside texts, images) are not documents: a NUL byte early on gives them away.
bool looks_binary(const fs::path& p) {
  if (has_ext(p, ".gz") || has_ext(p, ".parquet")) return false;
  std::ifstream in(p, std::ios::binary);
  char buf[4096];
  in.read(buf, sizeof buf);
  return std::string_view(buf, static_cast<size_t>(in.gcount())).find('\0') != std::string_view::npos;
}

// Splits text into paragraphs (blank-line separated) and groups consecutive paragraphs into documents
// of about kDocumentBytes, joined by blank lines: whole pages are what the original's documents are, and
// lone headings or table cells make poor documents.
constexpr size_t kDocumentBytes = 4096;

template <class Push>
void push_paragraphs(std::string_view text, Push&& push, const bool& stop) {
  std::string doc, paragraph;
  auto close_paragraph = [&] {
    if (paragraph.empty()) return;
    if (!doc.empty()) doc += '\n';
    doc += paragraph;
    paragraph.clear();
    if (doc.size() >= kDocumentBytes) {
      push(std::move(doc));
      doc.clear();
    }
  };
  size_t pos = 0;
  while (pos < text.size() && !stop) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      close_paragraph();
      continue;
    }
    paragraph += line;
    paragraph += '\n';
  }
  close_paragraph();
  if (!stop && !doc.empty()) push(std::move(doc));
}

std::vector<fs::path> expand_directory(const fs::path& dir, const DocumentSourceOptions& options) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || name.find(".tmp") != std::string::npos || has_ext(e.path(), ".lock")) continue;
    if (looks_binary(e.path())) {
      log_debug("skipping binary file {}", e.path().string());
      continue;
    }
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  NC_CHECK(!files.empty(), "directory {} has no files", dir.string());
  // A directory holding parquet files is a shard set (READMEs beside the shards are not documents):
  // only its *.parquet, sorted, and the last one is the validation split.
  const bool has_parquet = std::any_of(files.begin(), files.end(), [](const fs::path& p) { return has_ext(p, ".parquet"); });
  if (has_parquet) {
    std::erase_if(files, [](const fs::path& p) { return !has_ext(p, ".parquet"); });
    if (options.exclude_val_shard) {
      NC_CHECK(files.size() >= 2,
               "{} has only one parquet shard; the last shard is the validation split, so training needs at least two",
               dir.string());
      files.pop_back();
    }
  }
  return files;
}

}  // namespace

std::vector<fs::path> resolve_document_files(const std::string& list, const DocumentSourceOptions& options) {
  std::vector<fs::path> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const fs::path p(item);
    NC_CHECK(fs::exists(p), "input {} does not exist", p.string());
    if (fs::is_directory(p)) {
      auto files = expand_directory(p, options);
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  NC_CHECK(!out.empty(), "no input files given");
  return out;
}

void for_each_document_batch(const std::vector<fs::path>& files, size_t batch_size,
                             const std::function<bool(std::vector<std::string>&)>& on_batch,
                             const DocumentSourceOptions& options) {
  std::vector<std::string> batch;
  batch.reserve(batch_size);
  bool stop = false;
  auto push = [&](std::string doc) {
    batch.push_back(std::move(doc));
    if (batch.size() >= batch_size) {
      stop = !on_batch(batch);
      batch.clear();
    }
  };
  for (const auto& path : files) {
    if (stop) break;
    if (has_ext(path, ".parquet")) {
      const parquet::ParquetFile file(path);
      for (int rg = 0; rg < file.num_row_groups() && !stop; ++rg) {
        for (auto& doc : file.read_text_column(rg, options.text_field)) {
          push(std::move(doc));
          if (stop) break;
        }
      }
    } else if (has_ext(path, ".jsonl")) {
      std::ifstream in(path, std::ios::binary);
      NC_CHECK(in.good(), "cannot open {}", path.string());
      std::string line;
      size_t line_no = 0;
      while (!stop && std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
          fail("{}:{}: invalid JSON: {}", path.string(), line_no, e.what());
        }
        NC_CHECK(j.is_object() && j.contains(options.text_field) && j[options.text_field].is_string(),
                 "{}:{}: missing string field '{}'", path.string(), line_no, options.text_field);
        push(j[options.text_field].get<std::string>());
      }
    } else {
      const std::string ext = inner_ext(path);
      std::string text = read_text_file(path);
      if (ext == ".html" || ext == ".htm") text = html_to_text(text);
      push_paragraphs(text, push, stop);
    }
  }
  if (!stop && !batch.empty()) on_batch(batch);
}

}  // namespace nanochat
