// A small reader for .zip archives (PKWARE APPNOTE): enough for eval_bundle.zip and other artifacts.
//
// The central directory is the source of truth for names and sizes (local headers may carry zeros when
// a data descriptor follows the data). Supported: methods 0 (stored) and 8 (deflate); every entry's
// CRC-32 and size are checked while it is read. Refused with an Error naming the archive and entry:
// zip64, multi-disk and encrypted archives, other methods, and names that could escape the extraction
// directory (absolute paths, '..' components). Entries are streamed in chunks, so a large or hostile
// size field never turns into one huge allocation.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat {

struct ZipEntry {
  std::string name;           // as stored, '/'-separated
  uint16_t method = 0;        // 0 stored, 8 deflate
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
  bool is_directory() const { return !name.empty() && name.back() == '/'; }
};

class ZipArchive {
 public:
  // Opens the archive and reads its central directory; throws Error for anything unreadable.
  explicit ZipArchive(const std::filesystem::path& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }

  // Streams the entry's decompressed bytes to sink in chunks, then checks size and CRC-32.
  void read_entry(const ZipEntry& entry, const std::function<void(std::string_view)>& sink) const;
  std::string read_entry(const ZipEntry& entry) const;

 private:
  void read_at(uint64_t offset, void* buf, size_t n, const std::string& what) const;
  void read_central_directory();

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  std::vector<ZipEntry> entries_;
};

// The relative path an entry extracts to; throws Error (naming the archive and entry) for names that
// are absolute or contain a '..' component or a NUL. '.' and empty components are dropped, so a name
// such as "./" gives an empty path (extract_zip skips such directory entries and refuses such files).
std::filesystem::path zip_entry_relative_path(const std::filesystem::path& archive, const std::string& name);

// Extracts every entry under dest_dir (created if missing): directories for directory entries and for
// the parents of files. The whole archive is validated (names) before anything is written.
void extract_zip(const std::filesystem::path& archive, const std::filesystem::path& dest_dir);

}  // namespace nanochat
