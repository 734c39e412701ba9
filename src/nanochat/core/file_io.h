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
// Writes all of `data` to fd, retrying short writes and EINTR. Returns 0, or the errno of the failure
// (EIO if write reported no progress), so callers can clean up before reporting.
int write_all(int fd, std::string_view data);
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace nanochat
