// What a decode step must move and compute (spec serving-report-pipelines.md §7), for infer-bench's
// MBU/MFU and ceilings: bytes per cached token, KV bytes read per step at a context, FLOPs per
// decoded token and per prefill. Sliding windows cap what a layer reads and attends.
#pragma once
#include <cstdint>

#include "nanochat/model/config.h"

namespace nanochat::engine {

// layers x 2 (K and V) x kv_heads x head_dim x bytes
int64_t kv_bytes_per_token(const model::GPTConfig& c, int64_t dtype_bytes);
// sum over layers of 2 x kv_heads x head_dim x bytes x min(context, window of the layer)
int64_t kv_read_bytes_per_step(const model::GPTConfig& c, int64_t context, int64_t dtype_bytes);
// 2 x matmul params + sum over layers of 4 x heads x head_dim x min(context, window)
int64_t decode_flops_per_token(const model::GPTConfig& c, int64_t context);
// 2 x matmul params x n + sum over layers of 4 x heads x head_dim x (causal pairs of n tokens, window-capped)
int64_t prefill_flops(const model::GPTConfig& c, int64_t n);
// The bytes a decode step of `batch` rows must read at the least: every matmul weight once (the
// blocks' projections, the value-embedding gates and lm_head's vocab_size rows), one row per sequence
// of each embedding table (wte and every value-embedding table), and each row's KV cache at `context`.
int64_t decode_read_bytes_per_step(const model::GPTConfig& c, int64_t batch, int64_t context, int64_t dtype_bytes);
// Causal (query, key) pairs among n tokens when a query attends at most window+1 keys (itself included).
int64_t attended_pairs(int64_t n, int64_t window);

}  // namespace nanochat::engine
