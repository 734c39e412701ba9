// Building blocks of a persistent decode kernel, used by persistent_decode_bench (a feasibility study:
// no decoder kernel uses them yet; bench/RESULTS.md): a ring of shared-memory slots that one producer
// thread fills with bulk copies (the Hopper copy engine, cp.async.bulk, completing on an mbarrier) while
// the consumer warps drain it, and a grid-wide barrier among the consumer warps only. Weights never
// depend on a decode step's activations, so the producer runs ahead of the consumers, across their grid
// barriers: HBM keeps streaming while they wait.
#pragma once
#include <cstdint>

namespace nanochat::kernels::cuda::stream {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the copy engine (the async proxy).
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
// Waits until the phase of the given parity has completed (a fresh barrier counts parity 1 as done).
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  const uint32_t addr = smem_addr(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
        : "=r"(done)
        : "r"(addr), "r"(parity)
        : "memory");
  } while (done == 0);
}

// Streamed-once data: evicted from L2 first, so activations and the KV cache stay.
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// bytes (a multiple of 16, both addresses 16-byte aligned) from global src to shared dst; completes
// `bytes` transactions on bar.
__device__ __forceinline__ void bulk_load(void* dst, const void* src, uint32_t bytes, uint64_t* bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
          smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "l"(policy)
      : "memory");
}

// Named barrier among the first `threads` threads of the block (id 0 is __syncthreads').
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ uint32_t load_acquire(const unsigned* p) {
  uint32_t v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Grid-wide barrier of the consumer threads [0, threads) of every block, on a counter that starts at zero
// once and resets itself: each block adds 1 except block 0, which adds 2^31 - (blocks - 1), so every
// barrier adds exactly 2^31 and its completion flips the top bit. Writes before it (any thread of the
// consumers) are visible to reads after it in every block; read such data with ld.global.cg (__ldcg).
__device__ __forceinline__ void grid_barrier(unsigned* counter, int threads) {
  named_sync(1, threads);
  if (threadIdx.x == 0) {
    const unsigned add = blockIdx.x == 0 ? 0x80000000u - (gridDim.x - 1) : 1u;
    __threadfence();
    const unsigned old = atomicAdd(counter, add);
    while (((old ^ load_acquire(counter)) & 0x80000000u) == 0) {
    }
    __threadfence();
  }
  named_sync(1, threads);
}

// The same barrier with release/acquire atomics in place of full fences (bar.sync orders the other
// consumer threads' writes before thread 0's release, and its acquire before their later reads).
__device__ __forceinline__ void grid_barrier_acq_rel(unsigned* counter, int threads) {
  named_sync(1, threads);
  if (threadIdx.x == 0) {
    const unsigned add = blockIdx.x == 0 ? 0x80000000u - (gridDim.x - 1) : 1u;
    unsigned old;
    asm volatile("atom.release.gpu.global.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(counter), "r"(add) : "memory");
    while (((old ^ load_acquire(counter)) & 0x80000000u) == 0) {
    }
  }
  named_sync(1, threads);
}

// Flagged words (the low-latency protocol of NCCL's LL): 4 bytes of data and a 4-byte flag stored by one
// single-copy-atomic 64-bit access, so a reader that sees the flag it expects sees the data with it; no
// fence and no barrier between a producer and its consumers.
__device__ __forceinline__ void store_flagged(uint64_t* p, uint32_t data, uint32_t flag) {
  const uint64_t v = (uint64_t{flag} << 32) | data;
  asm volatile("st.relaxed.gpu.global.b64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ uint64_t load_flagged(const uint64_t* p) {
  uint64_t v;
  asm volatile("ld.relaxed.gpu.global.b64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ uint32_t flag_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

// Block `block` of `blocks` takes a contiguous share of n rows; the `rotate` shifts which blocks get the
// remainder's extra rows, so consecutive stages load different blocks with it.
struct RowShare {
  int start, count;
};
__device__ __forceinline__ RowShare row_share(int n, int block, int blocks, int rotate) {
  const int rank = (block + rotate) % blocks, base = n / blocks, rem = n % blocks;
  return {rank * base + (rank < rem ? rank : rem), base + (rank < rem ? 1 : 0)};
}

}  // namespace nanochat::kernels::cuda::stream
