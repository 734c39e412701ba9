#include "nanochat/data/zip_archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "nanochat/core/error.h"

namespace nanochat {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kEndOfCentralDirSize = 22;
constexpr size_t kMaxCommentSize = 0xFFFF;
constexpr size_t kChunk = 1 << 16;

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// inflateEnd on every exit path, including exceptions thrown by the sink.
struct InflateStream {
  z_stream z{};
  bool live = false;
  ~InflateStream() {
    if (live) inflateEnd(&z);
  }
};

}  // namespace

ZipArchive::ZipArchive(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  NC_CHECK(fd_ >= 0, "cannot open zip archive {}: {}", path.string(), std::strerror(errno));
  try {
    std::error_code ec;
    file_size_ = fs::file_size(path, ec);
    NC_CHECK(!ec, "cannot stat zip archive {}: {}", path.string(), ec.message());
    read_central_directory();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

ZipArchive::~ZipArchive() {
  if (fd_ >= 0) ::close(fd_);
}

void ZipArchive::read_at(uint64_t offset, void* buf, size_t n, const std::string& what) const {
  NC_CHECK(offset <= file_size_ && n <= file_size_ - offset,
           "zip archive {}: {} lies past the end of the file (offset {}, {} bytes, file has {}): truncated archive?",
           path_.string(), what, offset, n, file_size_);
  auto* out = static_cast<unsigned char*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    NC_CHECK(got > 0, "zip archive {}: cannot read {}: {}", path_.string(), what,
             got < 0 ? std::strerror(errno) : "unexpected end of file");
    done += static_cast<size_t>(got);
  }
}

void ZipArchive::read_central_directory() {
  const std::string file = path_.string();
  // The end-of-central-directory record sits at the end, followed only by an archive comment.
  const size_t tail_size = static_cast<size_t>(std::min<uint64_t>(file_size_, kEndOfCentralDirSize + kMaxCommentSize));
  NC_CHECK(tail_size >= kEndOfCentralDirSize, "zip archive {}: only {} bytes, too short to be a zip file (truncated?)",
           file, file_size_);
  std::vector<unsigned char> tail(tail_size);
  read_at(file_size_ - tail_size, tail.data(), tail_size, "the end-of-central-directory record");
  size_t eocd = tail_size;  // position within tail, tail_size = not found
  for (size_t i = tail_size - kEndOfCentralDirSize + 1; i-- > 0;) {
    if (le32(&tail[i]) == kEndOfCentralDirSig && i + kEndOfCentralDirSize + le16(&tail[i + 20]) <= tail_size) {
      eocd = i;
      break;
    }
  }
  NC_CHECK(eocd != tail_size, "zip archive {}: no end-of-central-directory record (not a zip file, or truncated)",
           file);
  const unsigned char* e = &tail[eocd];
  const uint64_t eocd_offset = file_size_ - tail_size + eocd;
  if (eocd >= 20) {
    NC_CHECK(le32(&tail[eocd - 20]) != kZip64LocatorSig, "zip archive {}: zip64 archives are not supported", file);
  }
  const uint16_t disk = le16(e + 4), cd_disk = le16(e + 6), entries_here = le16(e + 8), total = le16(e + 10);
  const uint32_t cd_size = le32(e + 12), cd_offset = le32(e + 16);
  NC_CHECK(total != 0xFFFF && cd_size != 0xFFFFFFFF && cd_offset != 0xFFFFFFFF,
           "zip archive {}: zip64 archives are not supported", file);
  NC_CHECK(disk == 0 && cd_disk == 0 && entries_here == total,
           "zip archive {}: multi-disk (split) archives are not supported", file);
  NC_CHECK(static_cast<uint64_t>(cd_offset) + cd_size <= eocd_offset,
           "zip archive {}: central directory (offset {}, {} bytes) overlaps the end record at {}: corrupt or "
           "truncated archive",
           file, cd_offset, cd_size, eocd_offset);

  std::vector<unsigned char> cd(cd_size);
  read_at(cd_offset, cd.data(), cd.size(), "the central directory");
  size_t pos = 0;
  entries_.reserve(total);
  for (uint32_t i = 0; i < total; ++i) {
    NC_CHECK(pos + kCentralHeaderSize <= cd.size() && le32(&cd[pos]) == kCentralHeaderSig,
             "zip archive {}: central directory entry {} of {} is missing or corrupt", file, i + 1, total);
    const unsigned char* h = &cd[pos];
    const size_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
    NC_CHECK(pos + kCentralHeaderSize + name_len + extra_len + comment_len <= cd.size(),
             "zip archive {}: central directory entry {} of {} runs past the directory's end", file, i + 1, total);
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    entry.flags = le16(h + 8);
    entry.method = le16(h + 10);
    entry.crc32 = le32(h + 16);
    const uint32_t csize = le32(h + 20), usize = le32(h + 24), offset = le32(h + 42);
    NC_CHECK(csize != 0xFFFFFFFF && usize != 0xFFFFFFFF && offset != 0xFFFFFFFF && le16(h + 34) != 0xFFFF,
             "zip archive {}: entry '{}' uses zip64 extensions, which are not supported", file, entry.name);
    NC_CHECK((entry.flags & 0x41) == 0, "zip archive {}: entry '{}' is encrypted, which is not supported", file,
             entry.name);
    NC_CHECK(entry.method == 0 || entry.method == 8,
             "zip archive {}: entry '{}' uses compression method {}; only 0 (stored) and 8 (deflate) are supported",
             file, entry.name, entry.method);
    NC_CHECK(entry.method != 0 || csize == usize,
             "zip archive {}: stored entry '{}' has compressed size {} but uncompressed size {}", file, entry.name,
             csize, usize);
    entry.compressed_size = csize;
    entry.uncompressed_size = usize;
    entry.local_header_offset = offset;
    entries_.push_back(std::move(entry));
    pos += kCentralHeaderSize + name_len + extra_len + comment_len;
  }
}

void ZipArchive::read_entry(const ZipEntry& entry, const std::function<void(std::string_view)>& sink) const {
  const std::string file = path_.string();
  unsigned char lh[kLocalHeaderSize];
  read_at(entry.local_header_offset, lh, sizeof lh, fmt::format("the local header of entry '{}'", entry.name));
  NC_CHECK(le32(lh) == kLocalHeaderSig, "zip archive {}: entry '{}' has no local header at offset {}: corrupt archive",
           file, entry.name, entry.local_header_offset);
  const uint64_t data_start = entry.local_header_offset + kLocalHeaderSize + le16(lh + 26) + le16(lh + 28);
  NC_CHECK(data_start <= file_size_ && entry.compressed_size <= file_size_ - data_start,
           "zip archive {}: entry '{}' ({} compressed bytes at offset {}) extends past the end of the file "
           "({} bytes): truncated archive",
           file, entry.name, entry.compressed_size, data_start, file_size_);

  std::vector<unsigned char> in(kChunk);
  uint64_t in_left = entry.compressed_size, in_pos = data_start, produced = 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  auto emit = [&](const unsigned char* p, size_t n) {
    produced += n;
    NC_CHECK(produced <= entry.uncompressed_size,
             "zip archive {}: entry '{}' decompresses to more than its declared {} bytes: corrupt archive", file,
             entry.name, entry.uncompressed_size);
    crc = crc32(crc, p, static_cast<uInt>(n));
    sink(std::string_view(reinterpret_cast<const char*>(p), n));
  };
  auto next_input = [&]() -> size_t {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(in_left, kChunk));
    read_at(in_pos, in.data(), n, fmt::format("the data of entry '{}'", entry.name));
    in_pos += n;
    in_left -= n;
    return n;
  };

  if (entry.method == 0) {
    while (in_left > 0) {
      const size_t n = next_input();
      emit(in.data(), n);
    }
  } else {
    InflateStream s;
    NC_CHECK(inflateInit2(&s.z, -MAX_WBITS) == Z_OK, "zip archive {}: cannot initialise zlib for entry '{}'", file,
             entry.name);
    s.live = true;
    std::vector<unsigned char> out(kChunk);
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
      if (s.z.avail_in == 0) {
        NC_CHECK(in_left > 0, "zip archive {}: entry '{}': deflate data ends early (truncated or corrupt archive)", file,
                 entry.name);
        s.z.avail_in = static_cast<uInt>(next_input());
        s.z.next_in = in.data();
      }
      s.z.next_out = out.data();
      s.z.avail_out = static_cast<uInt>(out.size());
      ret = inflate(&s.z, Z_NO_FLUSH);
      NC_CHECK(ret == Z_OK || ret == Z_STREAM_END || ret == Z_BUF_ERROR,
               "zip archive {}: entry '{}': corrupt deflate data ({})", file, entry.name,
               s.z.msg != nullptr ? s.z.msg : zError(ret));
      emit(out.data(), out.size() - s.z.avail_out);
    }
    NC_CHECK(s.z.avail_in == 0 && in_left == 0,
             "zip archive {}: entry '{}': deflate stream ends before its {} compressed bytes do: corrupt archive", file,
             entry.name, entry.compressed_size);
  }
  NC_CHECK(produced == entry.uncompressed_size,
           "zip archive {}: entry '{}' decompressed to {} bytes but declares {}: corrupt or truncated archive", file,
           entry.name, produced, entry.uncompressed_size);
  NC_CHECK(static_cast<uint32_t>(crc) == entry.crc32,
           "zip archive {}: entry '{}': CRC-32 mismatch (stored {:08x}, computed {:08x}): corrupt archive", file,
           entry.name, entry.crc32, static_cast<uint32_t>(crc));
}

std::string ZipArchive::read_entry(const ZipEntry& entry) const {
  std::string data;
  read_entry(entry, [&](std::string_view chunk) { data.append(chunk); });
  return data;
}

fs::path zip_entry_relative_path(const fs::path& archive, const std::string& name) {
  NC_CHECK(!name.empty(), "zip archive {}: an entry has an empty name", archive.string());
  NC_CHECK(name.find('\0') == std::string::npos, "zip archive {}: entry name '{}' contains a NUL byte",
           archive.string(), name);
  NC_CHECK(name.front() != '/', "zip archive {}: entry '{}' has an absolute path; refusing to extract it",
           archive.string(), name);
  fs::path rel;
  size_t start = 0;
  while (start <= name.size()) {
    const size_t slash = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, slash - start);
    NC_CHECK(part != "..", "zip archive {}: entry '{}' has a '..' component that would escape the extraction "
             "directory; refusing to extract it", archive.string(), name);
    if (!part.empty() && part != ".") rel /= part;
    start = slash + 1;
  }
  return rel;
}

void extract_zip(const fs::path& archive, const fs::path& dest_dir) {
  const ZipArchive zip(archive);
  std::vector<fs::path> targets;
  targets.reserve(zip.entries().size());
  for (const ZipEntry& entry : zip.entries()) {
    fs::path rel = zip_entry_relative_path(archive, entry.name);
    NC_CHECK(!rel.empty() || entry.is_directory(), "zip archive {}: file entry '{}' names no file", archive.string(),
             entry.name);
    targets.push_back(rel.empty() ? fs::path() : dest_dir / rel);
  }
  auto make_dirs = [&](const fs::path& dir, const std::string& entry_name) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    NC_CHECK(!ec, "zip archive {}: cannot create directory {}{}: {}", archive.string(), dir.string(),
             entry_name.empty() ? std::string() : fmt::format(" for entry '{}'", entry_name), ec.message());
  };
  make_dirs(dest_dir, "");
  for (size_t i = 0; i < targets.size(); ++i) {
    const ZipEntry& entry = zip.entries()[i];
    if (targets[i].empty()) continue;
    if (entry.is_directory()) {
      make_dirs(targets[i], entry.name);
      continue;
    }
    make_dirs(targets[i].parent_path(), entry.name);
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(targets[i].c_str(), "wb"), &std::fclose);
    NC_CHECK(out != nullptr, "zip archive {}: cannot create {} for entry '{}': {}", archive.string(),
             targets[i].string(), entry.name, std::strerror(errno));
    zip.read_entry(entry, [&](std::string_view chunk) {
      NC_CHECK(std::fwrite(chunk.data(), 1, chunk.size(), out.get()) == chunk.size(),
               "zip archive {}: cannot write {} for entry '{}': {}", archive.string(), targets[i].string(), entry.name,
               std::strerror(errno));
    });
    NC_CHECK(std::fclose(out.release()) == 0, "zip archive {}: cannot write {} for entry '{}': {}", archive.string(),
             targets[i].string(), entry.name, std::strerror(errno));
  }
}

}  // namespace nanochat
