// Page compression codecs. Decompression checks that the output has exactly the size the page
// header declares and never writes past it; malformed input gives nanochat::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "nanochat/data/parquet_format.h"

namespace nanochat::parquet {

// A growable byte buffer that does not zero what it allocates (pages are overwritten anyway).
class ByteBuffer {
 public:
  uint8_t* reserve(size_t size);  // at least `size` bytes; contents undefined
  uint8_t* data() { return data_.get(); }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
};

bool codec_supported(Codec codec);

// Decompresses `in` (one page body) into exactly `out_size` bytes. The result points into
// `scratch` or, for UNCOMPRESSED, into `in` itself.
std::span<const uint8_t> decompress(Codec codec, std::span<const uint8_t> in, size_t out_size,
                                    ByteBuffer& scratch);

// zstd compression for the shard writer.
std::string zstd_compress(std::span<const uint8_t> in, int level);

}  // namespace nanochat::parquet
