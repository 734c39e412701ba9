// libFuzzer harness for the Parquet reader: any input must either read or throw
// nanochat::Error; crashes, sanitizer reports, leaks, other exceptions and runaway memory are bugs.
// Limits are lowered so a valid-looking file cannot make the reader allocate gigabytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nanochat/core/error.h"
#include "nanochat/data/parquet_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nanochat::parquet;
  ReaderOptions options;
  options.max_page_bytes = 16 << 20;
  options.max_row_group_rows = 1 << 20;
  options.max_footer_bytes = 16 << 20;
  try {
    const ParquetFile file =
        ParquetFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz", options);
    (void)file.num_rows();
    const auto columns = file.column_names();
    for (int rg = 0; rg < file.num_row_groups() && rg < 64; ++rg) {
      (void)file.row_group_num_rows(rg);
      for (const auto& column : columns) {
        try {
          (void)file.read_byte_array_column(rg, column);
        } catch (const nanochat::Error&) {
        }
        try {
          (void)file.read_int64_column(rg, column);
        } catch (const nanochat::Error&) {
        }
        try {
          (void)file.read_text_column(rg, column);
        } catch (const nanochat::Error&) {
        }
        // The nested paths: levels of every leaf, and the list readers on each top-level column name.
        try {
          (void)file.read_levels(rg, column);
        } catch (const nanochat::Error&) {
        }
        const std::string top = column.substr(0, column.find('.'));
        try {
          (void)file.read_int64_list_column(rg, top);
        } catch (const nanochat::Error&) {
        }
        try {
          const std::string_view fields[] = {"content", "role"};
          (void)file.read_list_of_struct_column(rg, top, fields);
        } catch (const nanochat::Error&) {
        }
      }
    }
  } catch (const nanochat::Error&) {
  }
  return 0;
}
