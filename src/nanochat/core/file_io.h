// Whole-file reads and crash-safe writes: data goes to "<path>.tmp.<pid>", is flushed to disk, then
// renamed over <path>, so a reader never sees a half-written file and a crash never destroys the old one.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace nanochat {

std::string read_file(const std::filesystem::path& path);
// The decompressed contents of a gzip file (several concatenated members are read as one stream);
// throws Error naming the file for unreadable or corrupt data.
std::string read_gzip_file(const std::filesystem::path& path);
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace nanochat
