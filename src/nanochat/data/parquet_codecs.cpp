#include "nanochat/data/parquet_codecs.h"

#include <lz4.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>

#include "nanochat/core/error.h"

namespace nanochat::parquet {

uint8_t* ByteBuffer::reserve(size_t size) {
  if (size > capacity_ || !data_) {
    data_ = std::make_unique_for_overwrite<uint8_t[]>(size == 0 ? 1 : size);
    capacity_ = size == 0 ? 1 : size;
  }
  return data_.get();
}

bool codec_supported(Codec codec) {
  switch (codec) {
    case Codec::Uncompressed:
    case Codec::Snappy:
    case Codec::Gzip:
    case Codec::Lz4Hadoop:
    case Codec::Zstd:
    case Codec::Lz4Raw: return true;
    default: return false;
  }
}

namespace {

void decompress_snappy(std::span<const uint8_t> in, uint8_t* out, size_t out_size) {
  const char* src = reinterpret_cast<const char*>(in.data());
  size_t declared = 0;
  NC_CHECK(snappy::GetUncompressedLength(src, in.size(), &declared), "corrupt SNAPPY data: bad header");
  NC_CHECK(declared == out_size, "corrupt SNAPPY data: holds {} bytes, page header says {}", declared,
           out_size);
  NC_CHECK(snappy::RawUncompress(src, in.size(), reinterpret_cast<char*>(out)), "corrupt SNAPPY data");
}

// GZIP pages may hold several concatenated gzip members (RFC 1952 §2.2); decode them all.
// zlib streams (RFC 1950) are accepted too, as some writers emit them.
void decompress_gzip(std::span<const uint8_t> in, uint8_t* out, size_t out_size) {
  z_stream zs{};
  NC_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "zlib: inflateInit2 failed");
  struct Guard {
    z_stream* s;
    ~Guard() { inflateEnd(s); }
  } guard{&zs};
  size_t in_pos = 0, out_pos = 0;
  uint8_t probe = 0;  // once the output is full, one spare byte detects a stream that is too long
  while (true) {
    const size_t in_chunk = std::min<size_t>(in.size() - in_pos, UINT_MAX);
    const bool full = out_pos == out_size;
    const size_t out_chunk = full ? 1 : std::min<size_t>(out_size - out_pos, UINT_MAX);
    zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = full ? &probe : out + out_pos;
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t consumed = in_chunk - zs.avail_in;
    const size_t produced = out_chunk - zs.avail_out;
    in_pos += consumed;
    NC_CHECK(!(full && produced > 0), "corrupt GZIP data: more than the {} bytes the page header declares",
             out_size);
    if (!full) out_pos += produced;
    if (rc == Z_STREAM_END) {
      if (in_pos == in.size()) break;
      NC_CHECK(inflateReset(&zs) == Z_OK, "zlib: inflateReset failed");  // next member
      continue;
    }
    if (rc == Z_OK && (consumed > 0 || produced > 0)) continue;
    if ((rc == Z_OK || rc == Z_BUF_ERROR) && in_pos == in.size()) fail("corrupt GZIP data: truncated stream");
    fail("corrupt GZIP data ({})", zs.msg != nullptr ? zs.msg : "inflate error");
  }
  NC_CHECK(out_pos == out_size, "corrupt GZIP data: holds {} bytes, page header says {}", out_pos, out_size);
}

void decompress_zstd(std::span<const uint8_t> in, uint8_t* out, size_t out_size) {
  // Reject frames that declare more than the page can hold before doing any work.
  const unsigned long long frame_size = ZSTD_getFrameContentSize(in.data(), in.size());
  NC_CHECK(frame_size != ZSTD_CONTENTSIZE_ERROR, "corrupt ZSTD data: bad frame header");
  NC_CHECK(frame_size == ZSTD_CONTENTSIZE_UNKNOWN || frame_size <= out_size,
           "corrupt ZSTD data: frame holds {} bytes, page header says {}", frame_size, out_size);
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  NC_CHECK(ctx != nullptr, "ZSTD_createDCtx failed");
  const size_t n = ZSTD_decompressDCtx(ctx.get(), out, out_size, in.data(), in.size());
  NC_CHECK(!ZSTD_isError(n), "corrupt ZSTD data: {}", ZSTD_getErrorName(n));
  NC_CHECK(n == out_size, "corrupt ZSTD data: holds {} bytes, page header says {}", n, out_size);
}

void decompress_lz4_raw(std::span<const uint8_t> in, uint8_t* out, size_t out_size) {
  NC_CHECK(in.size() <= INT_MAX && out_size <= INT_MAX, "LZ4 page too large");
  const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out),
                                    static_cast<int>(in.size()), static_cast<int>(out_size));
  NC_CHECK(n >= 0, "corrupt LZ4 data");
  NC_CHECK(static_cast<size_t>(n) == out_size, "corrupt LZ4 data: holds {} bytes, page header says {}", n,
           out_size);
}

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Hadoop's LZ4 codec: a sequence of [u32 BE decompressed size][u32 BE compressed size][LZ4 block].
bool try_decompress_lz4_hadoop(std::span<const uint8_t> in, uint8_t* out, size_t out_size) {
  size_t in_pos = 0, out_pos = 0;
  while (in.size() - in_pos >= 8) {
    const uint32_t raw = load_be32(in.data() + in_pos);
    const uint32_t packed = load_be32(in.data() + in_pos + 4);
    in_pos += 8;
    if (packed > in.size() - in_pos || raw > out_size - out_pos || raw > INT_MAX || packed > INT_MAX) {
      return false;
    }
    const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + in_pos),
                                      reinterpret_cast<char*>(out + out_pos), static_cast<int>(packed),
                                      static_cast<int>(raw));
    if (n < 0 || static_cast<uint32_t>(n) != raw) return false;
    in_pos += packed;
    out_pos += raw;
  }
  return in_pos == in.size() && out_pos == out_size;
}

}  // namespace

std::span<const uint8_t> decompress(Codec codec, std::span<const uint8_t> in, size_t out_size,
                                    ByteBuffer& scratch) {
  if (codec == Codec::Uncompressed) {
    NC_CHECK(in.size() == out_size, "uncompressed page holds {} bytes, page header says {}", in.size(),
             out_size);
    return in;
  }
  // An empty body is an empty page for every codec (some writers skip compressing nothing).
  if (in.empty()) {
    NC_CHECK(out_size == 0, "empty compressed page, but page header says {} bytes", out_size);
    return {};
  }
  uint8_t* out = scratch.reserve(out_size);
  switch (codec) {
    case Codec::Snappy: decompress_snappy(in, out, out_size); break;
    case Codec::Gzip: decompress_gzip(in, out, out_size); break;
    case Codec::Zstd: decompress_zstd(in, out, out_size); break;
    case Codec::Lz4Raw: decompress_lz4_raw(in, out, out_size); break;
    case Codec::Lz4Hadoop:
      // Some old writers labelled plain LZ4 blocks as LZ4; fall back to that, as Arrow does.
      if (!try_decompress_lz4_hadoop(in, out, out_size)) decompress_lz4_raw(in, out, out_size);
      break;
    default: fail("unsupported compression codec {}", codec_name(codec));
  }
  return {out, out_size};
}

std::string zstd_compress(std::span<const uint8_t> in, int level) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  NC_CHECK(ctx != nullptr, "ZSTD_createCCtx failed");
  const size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), in.data(), in.size(), level);
  NC_CHECK(!ZSTD_isError(n), "zstd compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

}  // namespace nanochat::parquet
