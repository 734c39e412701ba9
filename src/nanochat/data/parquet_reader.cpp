#include "nanochat/data/parquet_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/parquet_codecs.h"
#include "nanochat/data/parquet_column_reader.h"
#include "nanochat/data/parquet_metadata.h"
#include "nanochat/data/parquet_schema.h"

namespace nanochat::parquet {

namespace {

// Where the bytes come from: an open file (read with pread, so reads need no shared cursor) or
// an in-memory image.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual int64_t size() const = 0;
  virtual void read_at(int64_t offset, size_t length, uint8_t* out) const = 0;
};

class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    NC_CHECK(fd_ >= 0, "cannot open {}: {}", path_, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      fail("cannot stat {}: {}", path_, std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail("{} is not a regular file", path_);
    }
    size_ = static_cast<int64_t>(st.st_size);
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() override { ::close(fd_); }

  int64_t size() const override { return size_; }
  void read_at(int64_t offset, size_t length, uint8_t* out) const override {
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, out + done, length - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      NC_CHECK(n >= 0, "error reading {}: {}", path_, std::strerror(errno));
      NC_CHECK(n > 0, "unexpected end of file at byte {} (was the file truncated while open?)",
               offset + static_cast<int64_t>(done));
      done += static_cast<size_t>(n);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  int64_t size() const override { return static_cast<int64_t>(bytes_.size()); }
  void read_at(int64_t offset, size_t length, uint8_t* out) const override {
    NC_CHECK(offset >= 0 && static_cast<uint64_t>(offset) + length <= bytes_.size(), "read past the end");
    if (length > 0) std::memcpy(out, bytes_.data() + offset, length);
  }

 private:
  std::string bytes_;
};

uint32_t load_le32(const uint8_t* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

struct ParquetFile::Impl {
  std::string name;
  std::unique_ptr<ByteSource> source;
  ReaderOptions options;
  FileMetaData meta;
  std::vector<LeafColumn> leaves;
  int64_t data_end = 0;  // first byte of the footer

  void open() {
    const int64_t size = source->size();
    NC_CHECK(size >= 12, "too small to be a Parquet file ({} bytes)", size);
    uint8_t head[4], tail[8];
    source->read_at(0, 4, head);
    source->read_at(size - 8, 8, tail);
    NC_CHECK(std::memcmp(tail + 4, kEncryptedMagic, 4) != 0,
             "unsupported feature: encrypted footer (Parquet modular encryption)");
    NC_CHECK(std::memcmp(head, kMagic, 4) == 0 && std::memcmp(tail + 4, kMagic, 4) == 0,
             "not a Parquet file (missing PAR1 magic at start or end)");
    const uint32_t footer_len = load_le32(tail);
    NC_CHECK(footer_len <= static_cast<uint64_t>(size - 12), "corrupt footer length {} (file has {} bytes)",
             footer_len, size);
    NC_CHECK(footer_len <= options.max_footer_bytes, "footer of {} bytes exceeds the limit of {}", footer_len,
             options.max_footer_bytes);
    data_end = size - 8 - footer_len;
    std::vector<uint8_t> footer(footer_len);
    source->read_at(data_end, footer_len, footer.data());
    meta = decode_file_metadata(footer);
    NC_CHECK(!meta.encryption_algorithm, "unsupported feature: encrypted file");
    leaves = flatten_schema(meta.schema);
    NC_CHECK(meta.num_rows >= 0, "corrupt footer: {} rows", meta.num_rows);
    for (size_t g = 0; g < meta.row_groups.size(); ++g) {
      const RowGroup& rg = meta.row_groups[g];
      NC_CHECK(rg.columns.size() == leaves.size(), "corrupt footer: row group {} has {} column chunks, schema has {} columns",
               g, rg.columns.size(), leaves.size());
      NC_CHECK(rg.num_rows >= 0 && rg.num_rows <= options.max_row_group_rows,
               "row group {} has {} rows (limit {})", g, rg.num_rows, options.max_row_group_rows);
    }
    NC_CHECK(meta.row_groups.size() <= static_cast<size_t>(INT32_MAX), "too many row groups");
  }

  const RowGroup& row_group(int index) const {
    NC_CHECK(index >= 0 && static_cast<size_t>(index) < meta.row_groups.size(),
             "row group {} out of range (file has {})", index, meta.row_groups.size());
    return meta.row_groups[static_cast<size_t>(index)];
  }

  const LeafColumn& find_column(std::string_view name_wanted) const {
    for (const auto& leaf : leaves) {
      if (leaf.path == name_wanted) return leaf;
    }
    const std::string prefix = std::string(name_wanted) + ".";
    for (const auto& leaf : leaves) {
      if (leaf.path.starts_with(prefix)) {
        fail("unsupported feature: column '{}' is a nested group (leaf '{}'); only flat columns are supported",
             name_wanted, leaf.path);
      }
    }
    no_such_column(name_wanted);
  }

  [[noreturn]] void no_such_column(std::string_view name_wanted) const {
    std::string all;
    for (const auto& leaf : leaves) all += (all.empty() ? "" : ", ") + leaf.path;
    fail("no column '{}' (columns: {})", name_wanted, all);
  }

  const LeafColumn& find_leaf(std::string_view path) const {
    for (const auto& leaf : leaves) {
      if (leaf.path == path) return leaf;
    }
    no_such_column(path);
  }

  // The leaves below top-level column `name` (for a nested one), in schema order.
  std::vector<const LeafColumn*> leaves_under(std::string_view column) const {
    std::vector<const LeafColumn*> out;
    for (const auto& leaf : leaves) {
      // Leaves too deep to have recorded nodes are matched by path (resolve_list_shape rejects them).
      const bool under = leaf.nodes.empty() ? leaf.path.starts_with(std::string(column) + ".")
                                            : leaf.nodes[0].name == column;
      if (under) out.push_back(&leaf);
    }
    if (out.empty()) no_such_column(column);
    return out;
  }

  // Checks a column chunk's metadata against the schema and reads its bytes into `bytes`.
  const ColumnMetaData& load_chunk(const RowGroup& rg, const LeafColumn& leaf, std::vector<uint8_t>& bytes) const {
    const ColumnChunk& chunk = rg.columns[leaf.chunk_index];
    NC_CHECK(!chunk.file_path.has_value(), "unsupported feature: column data in external file '{}'",
             *chunk.file_path);
    NC_CHECK(!chunk.encrypted, "unsupported feature: encrypted column");
    NC_CHECK(chunk.meta_data.has_value(), "corrupt footer: column chunk without metadata");
    const ColumnMetaData& m = *chunk.meta_data;
    NC_CHECK(m.type == leaf.type, "corrupt footer: chunk type {} differs from schema type {}",
             physical_type_name(m.type), physical_type_name(leaf.type));
    if (leaf.max_repetition_level == 0) {
      NC_CHECK(m.num_values == rg.num_rows, "corrupt footer: column chunk has {} values, row group has {} rows",
               m.num_values, rg.num_rows);
    } else {  // a repeated leaf has an entry per list element (and one per null or empty list)
      NC_CHECK(m.num_values >= rg.num_rows,
               "corrupt footer: repeated column chunk has {} entries, fewer than the row group's {} rows",
               m.num_values, rg.num_rows);
    }
    NC_CHECK(codec_supported(m.codec), "unsupported compression codec {}", codec_name(m.codec));
    int64_t start = m.data_page_offset;
    if (m.dictionary_page_offset && *m.dictionary_page_offset > 0 && *m.dictionary_page_offset < start) {
      start = *m.dictionary_page_offset;
    }
    const int64_t length = m.total_compressed_size;
    NC_CHECK(start >= 4 && start <= data_end && length >= 0 && length <= data_end - start,
             "corrupt footer: column chunk bytes [{}, +{}) lie outside the data region [4, {})", start, length,
             data_end);
    bytes.resize(static_cast<size_t>(length));
    source->read_at(start, bytes.size(), bytes.data());
    return m;
  }

  // The levels and values of one leaf in one row group (errors are not yet prefixed).
  ColumnLevels leaf_levels(int rg_index, const LeafColumn& leaf) const;

  // Reads one column chunk's bytes and decodes it into `sink`; errors name file, group, column.
  void read_column(int rg_index, std::string_view column_name, PhysicalType want_a,
                   std::optional<PhysicalType> want_b, ColumnSink& sink) const {
    try {
      const RowGroup& rg = row_group(rg_index);
      const LeafColumn& leaf = find_column(column_name);
      NC_CHECK(leaf.is_flat() && leaf.max_definition_level <= 1,
               "unsupported feature: column is nested or repeated; only flat columns are supported");
      NC_CHECK(leaf.type == want_a || leaf.type == want_b, "column has physical type {}, not {}{}",
               physical_type_name(leaf.type), physical_type_name(want_a),
               want_b ? " or " + physical_type_name(*want_b) : std::string());
      std::vector<uint8_t> bytes;
      const ColumnMetaData& m = load_chunk(rg, leaf, bytes);
      read_column_chunk(bytes, leaf, m, options, sink);
    } catch (const Error& e) {
      fail("{}: row group {}, column '{}': {}", name, rg_index, column_name, e.what());
    }
  }
};

ParquetFile::ParquetFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ParquetFile::ParquetFile(const std::filesystem::path& path, const ReaderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->name = path.string();
  impl_->options = options;
  try {
    impl_->source = std::make_unique<FileSource>(path);
    impl_->open();
  } catch (const Error& e) {
    fail("{}: {}", impl_->name, e.what());
  }
}

ParquetFile ParquetFile::from_bytes(std::string bytes, std::string name, const ReaderOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->options = options;
  impl->source = std::make_unique<MemorySource>(std::move(bytes));
  try {
    impl->open();
  } catch (const Error& e) {
    fail("{}: {}", impl->name, e.what());
  }
  return ParquetFile(std::move(impl));
}

ParquetFile::ParquetFile(ParquetFile&&) noexcept = default;
ParquetFile& ParquetFile::operator=(ParquetFile&&) noexcept = default;
ParquetFile::~ParquetFile() = default;

const std::string& ParquetFile::name() const { return impl_->name; }
int ParquetFile::num_row_groups() const { return static_cast<int>(impl_->meta.row_groups.size()); }
int64_t ParquetFile::num_rows() const { return impl_->meta.num_rows; }
const std::string& ParquetFile::created_by() const { return impl_->meta.created_by; }

int64_t ParquetFile::row_group_num_rows(int row_group) const {
  try {
    return impl_->row_group(row_group).num_rows;
  } catch (const Error& e) {
    fail("{}: {}", impl_->name, e.what());
  }
}

std::vector<std::string> ParquetFile::column_names() const {
  std::vector<std::string> names;
  names.reserve(impl_->leaves.size());
  for (const auto& leaf : impl_->leaves) names.push_back(leaf.path);
  return names;
}

namespace {

class OptionalBytesSink final : public ColumnSink {
 public:
  explicit OptionalBytesSink(std::vector<std::optional<std::string>>& out) : out_(out) {}
  void on_null() override { out_.emplace_back(std::nullopt); }
  void on_bytes(std::string_view v) override { out_.emplace_back(std::in_place, v); }
  void on_int(int64_t) override { fail("internal error: integer in a byte-array column"); }

 private:
  std::vector<std::optional<std::string>>& out_;
};

class TextSink final : public ColumnSink {
 public:
  explicit TextSink(std::vector<std::string>& out) : out_(out) {}
  void on_null() override { fail("row {} is null; a text column must not hold nulls", out_.size()); }
  void on_bytes(std::string_view v) override {
    NC_CHECK(utf8_is_valid(v), "row {} is not valid UTF-8", out_.size());
    out_.emplace_back(v);
  }
  void on_int(int64_t) override { fail("internal error: integer in a byte-array column"); }

 private:
  std::vector<std::string>& out_;
};

class IntSink final : public ColumnSink {
 public:
  explicit IntSink(std::vector<std::optional<int64_t>>& out) : out_(out) {}
  void on_null() override { out_.emplace_back(std::nullopt); }
  void on_bytes(std::string_view) override { fail("internal error: bytes in an integer column"); }
  void on_int(int64_t v) override { out_.emplace_back(v); }

 private:
  std::vector<std::optional<int64_t>>& out_;
};

// Row counts come from the (untrusted) footer, so reserve only a bounded amount up front.
size_t initial_capacity(const ParquetFile& file, int row_group) {
  if (row_group < 0 || row_group >= file.num_row_groups()) return 0;
  return static_cast<size_t>(std::min<int64_t>(file.row_group_num_rows(row_group), 1 << 16));
}

}  // namespace

std::vector<std::optional<std::string>> ParquetFile::read_byte_array_column(int row_group,
                                                                            std::string_view column) const {
  std::vector<std::optional<std::string>> out;
  out.reserve(initial_capacity(*this, row_group));
  OptionalBytesSink sink(out);
  impl_->read_column(row_group, column, PhysicalType::ByteArray, std::nullopt, sink);
  return out;
}

std::vector<std::string> ParquetFile::read_text_column(int row_group, std::string_view column) const {
  std::vector<std::string> out;
  out.reserve(initial_capacity(*this, row_group));
  TextSink sink(out);
  impl_->read_column(row_group, column, PhysicalType::ByteArray, std::nullopt, sink);
  return out;
}

std::vector<std::optional<int64_t>> ParquetFile::read_int64_column(int row_group, std::string_view column) const {
  std::vector<std::optional<int64_t>> out;
  out.reserve(initial_capacity(*this, row_group));
  IntSink sink(out);
  impl_->read_column(row_group, column, PhysicalType::Int64, PhysicalType::Int32, sink);
  return out;
}

namespace {

class LevelCollector final : public LevelSink {
 public:
  explicit LevelCollector(ColumnLevels& out) : out_(out) {}
  void on_levels(uint32_t repetition, uint32_t definition) override {
    // The leveled decoder bounds both by the column's maxima, which it limits to 255.
    out_.repetition.push_back(static_cast<uint8_t>(repetition));
    out_.definition.push_back(static_cast<uint8_t>(definition));
  }
  void on_null() override {}
  void on_bytes(std::string_view v) override { out_.byte_values.emplace_back(v); }
  void on_int(int64_t v) override { out_.int_values.push_back(v); }

 private:
  ColumnLevels& out_;
};

}  // namespace

ColumnLevels ParquetFile::Impl::leaf_levels(int rg_index, const LeafColumn& leaf) const {
  const RowGroup& rg = row_group(rg_index);
  std::vector<uint8_t> bytes;
  const ColumnMetaData& m = load_chunk(rg, leaf, bytes);
  ColumnLevels out;
  out.max_definition_level = leaf.max_definition_level;
  out.max_repetition_level = leaf.max_repetition_level;
  // num_values comes from the footer: reserve only what the chunk's bytes could plausibly hold.
  const auto expected = static_cast<size_t>(std::min<int64_t>(m.num_values, int64_t{1} << 20));
  out.repetition.reserve(expected);
  out.definition.reserve(expected);
  LevelCollector sink(out);
  read_leveled_column_chunk(bytes, leaf, m, options, sink);
  return out;
}

ColumnLevels ParquetFile::read_levels(int row_group, std::string_view leaf_column) const {
  try {
    return impl_->leaf_levels(row_group, impl_->find_leaf(leaf_column));
  } catch (const Error& e) {
    fail("{}: row group {}, column '{}': {}", impl_->name, row_group, leaf_column, e.what());
  }
}

std::vector<StructList> ParquetFile::read_list_of_struct_column(int row_group, std::string_view list_column,
                                                                std::span<const std::string_view> fields) const {
  try {
    NC_CHECK(!fields.empty(), "no fields of the list elements requested");
    const int64_t num_rows = impl_->row_group(row_group).num_rows;
    const std::vector<const LeafColumn*> under = impl_->leaves_under(list_column);
    std::vector<const LeafColumn*> field_leaves;
    for (std::string_view field : fields) {
      const LeafColumn* found = nullptr;
      for (const LeafColumn* leaf : under) {
        if (leaf->nodes.size() == 4 && leaf->nodes[3].name == field) found = leaf;
      }
      if (found == nullptr) {
        // Report an unsupported layout (map, list of lists, ...) before a missing field.
        resolve_list_shape(*under.front(), list_column, true);
        std::string names;
        for (const LeafColumn* leaf : under) names += (names.empty() ? "" : ", ") + (leaf->nodes.empty() ? leaf->path : leaf->nodes.back().name);
        fail("list elements have no field '{}' (fields: {})", field, names);
      }
      NC_CHECK(found->type == PhysicalType::ByteArray, "field '{}' has physical type {}, not BYTE_ARRAY",
               found->path, physical_type_name(found->type));
      field_leaves.push_back(found);
    }
    const ListShape shape = resolve_list_shape(*field_leaves.front(), list_column, true);
    for (const LeafColumn* leaf : field_leaves) resolve_list_shape(*leaf, list_column, true);
    std::vector<ColumnLevels> levels;
    levels.reserve(field_leaves.size());
    for (const LeafColumn* leaf : field_leaves) levels.push_back(impl_->leaf_levels(row_group, *leaf));
    return assemble_list_of_structs(shape, field_leaves, levels, num_rows);
  } catch (const Error& e) {
    fail("{}: row group {}, column '{}': {}", impl_->name, row_group, list_column, e.what());
  }
}

std::vector<Int64List> ParquetFile::read_int64_list_column(int row_group, std::string_view list_column) const {
  try {
    const int64_t num_rows = impl_->row_group(row_group).num_rows;
    const LeafColumn& leaf = *impl_->leaves_under(list_column).front();
    const ListShape shape = resolve_list_shape(leaf, list_column, false);
    NC_CHECK(leaf.type == PhysicalType::Int32 || leaf.type == PhysicalType::Int64,
             "list elements have physical type {}, not INT32 or INT64", physical_type_name(leaf.type));
    return assemble_int64_list(shape, leaf, impl_->leaf_levels(row_group, leaf), num_rows);
  } catch (const Error& e) {
    fail("{}: row group {}, column '{}': {}", impl_->name, row_group, list_column, e.what());
  }
}

}  // namespace nanochat::parquet
