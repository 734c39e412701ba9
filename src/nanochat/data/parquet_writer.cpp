#include "nanochat/data/parquet_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/parquet_codecs.h"
#include "nanochat/data/parquet_encodings.h"
#include "nanochat/data/parquet_metadata.h"

namespace nanochat::parquet {

namespace {

constexpr const char* kCreatedBy = "nanochat.cpp";
constexpr const char* kColumnName = "text";
// Page sizes are int32 in the page header; leave room for the level bytes.
constexpr int64_t kMaxPageValueBytes = INT32_MAX - 64;

void append_le32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

}  // namespace

TextShardWriter::TextShardWriter(const std::filesystem::path& path, const WriteOptions& options)
    : path_(path), tmp_path_(path.string() + ".tmp." + std::to_string(::getpid())), options_(options) {
  NC_CHECK(options.row_group_size >= 1, "row_group_size must be positive (got {})", options.row_group_size);
  NC_CHECK(options.data_page_size >= 1, "data_page_size must be positive (got {})", options.data_page_size);
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  NC_CHECK(fd_ >= 0, "cannot create {}: {}", tmp_path_, std::strerror(errno));
  write_bytes(std::string_view(kMagic, 4));
}

TextShardWriter::~TextShardWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_path_.c_str());
}

void TextShardWriter::write_bytes(std::string_view bytes) {
  const int err = write_all(fd_, bytes);
  NC_CHECK(err == 0, "cannot write {}: {}", tmp_path_, std::strerror(err));
  offset_ += static_cast<int64_t>(bytes.size());
}

void TextShardWriter::add(std::string_view doc) {
  NC_CHECK(!finished_, "TextShardWriter::add after finish ({})", path_.string());
  NC_CHECK(utf8_is_valid(doc), "document {} for {} is not valid UTF-8", num_docs_, path_.string());
  const int64_t value_bytes = 4 + static_cast<int64_t>(doc.size());
  NC_CHECK(value_bytes <= kMaxPageValueBytes, "document {} for {} is too large ({} bytes)", num_docs_,
           path_.string(), doc.size());
  if (page_count_ > 0 && static_cast<int64_t>(page_values_.size()) + value_bytes > kMaxPageValueBytes) flush_page();
  append_le32(page_values_, static_cast<uint32_t>(doc.size()));
  page_values_.append(doc);
  ++page_count_;
  ++group_count_;
  ++num_docs_;
  if (static_cast<int64_t>(page_values_.size()) >= options_.data_page_size) flush_page();
  if (group_count_ == options_.row_group_size) flush_row_group();
}

void TextShardWriter::flush_page() {
  if (page_count_ == 0) return;
  // Definition levels: every value is present (level 1), one RLE run, behind a 4-byte length.
  std::vector<uint8_t> levels;
  encode_rle_run(1, 1, static_cast<uint64_t>(page_count_), levels);
  std::string page;
  page.reserve(4 + levels.size() + page_values_.size());
  append_le32(page, static_cast<uint32_t>(levels.size()));
  page.append(reinterpret_cast<const char*>(levels.data()), levels.size());
  page.append(page_values_);
  const std::string compressed =
      zstd_compress({reinterpret_cast<const uint8_t*>(page.data()), page.size()}, options_.zstd_level);
  NC_CHECK(compressed.size() <= static_cast<size_t>(INT32_MAX), "compressed page too large");

  PageHeader h;
  h.type = PageType::DataPage;
  h.uncompressed_page_size = static_cast<int32_t>(page.size());
  h.compressed_page_size = static_cast<int32_t>(compressed.size());
  h.data_page = DataPageHeader{static_cast<int32_t>(page_count_), Encoding::Plain, Encoding::Rle, Encoding::Rle};
  const std::string header = encode_page_header(h);
  chunk_ += header;
  chunk_ += compressed;
  chunk_uncompressed_ += static_cast<int64_t>(header.size() + page.size());
  page_values_.clear();
  page_count_ = 0;
}

void TextShardWriter::flush_row_group() {
  flush_page();
  if (group_count_ == 0) return;
  ColumnMetaData m;
  m.type = PhysicalType::ByteArray;
  m.encodings = {Encoding::Rle, Encoding::Plain};
  m.path_in_schema = {kColumnName};
  m.codec = Codec::Zstd;
  m.num_values = group_count_;
  m.total_uncompressed_size = chunk_uncompressed_;
  m.total_compressed_size = static_cast<int64_t>(chunk_.size());
  m.data_page_offset = offset_;
  write_bytes(chunk_);

  ColumnChunk c;
  c.file_offset = 0;  // deprecated field; current writers store 0
  c.meta_data = std::move(m);
  RowGroup rg;
  rg.columns.push_back(std::move(c));
  rg.total_byte_size = chunk_uncompressed_;
  rg.num_rows = group_count_;
  row_groups_.push_back(std::move(rg));

  chunk_.clear();
  chunk_uncompressed_ = 0;
  group_count_ = 0;
}

void TextShardWriter::finish() {
  NC_CHECK(!finished_, "TextShardWriter::finish called twice ({})", path_.string());
  flush_row_group();

  FileMetaData meta;
  meta.version = 2;
  SchemaElement root;
  root.name = "schema";
  root.repetition = Repetition::Required;
  root.num_children = 1;
  SchemaElement text;
  text.type = PhysicalType::ByteArray;
  text.repetition = Repetition::Optional;
  text.name = kColumnName;
  text.converted_type = kConvertedTypeUtf8;
  text.logical_type_string = true;
  meta.schema = {root, text};
  meta.num_rows = num_docs_;
  meta.row_groups = std::move(row_groups_);
  meta.created_by = kCreatedBy;

  std::string tail = encode_file_metadata(meta);
  NC_CHECK(tail.size() <= UINT32_MAX, "footer too large");
  append_le32(tail, static_cast<uint32_t>(tail.size()));
  tail.append(kMagic, 4);
  write_bytes(tail);

  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0 || ::close(fd) != 0) fail("cannot flush {}: {}", tmp_path_, std::strerror(errno));
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    fail("cannot rename {} to {}: {}", tmp_path_, path_.string(), std::strerror(errno));
  }
  finished_ = true;
  // Make the rename itself durable.
  const auto dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_text_shard(const std::filesystem::path& path, const std::vector<std::string>& docs,
                      const WriteOptions& options) {
  TextShardWriter writer(path, options);
  for (const auto& doc : docs) writer.add(doc);
  writer.finish();
}

}  // namespace nanochat::parquet
