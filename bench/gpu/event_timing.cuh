// CUDA-event timing shared by the GPU micro-benchmarks: a loop of launches on one stream, and a
// captured step replayed as a CUDA graph. Device time only: the events are recorded on the stream.
#pragma once
#include <cuda_runtime.h>

#include "nanochat/kernels/cuda/check.h"

namespace nanochat::bench {

// Mean milliseconds per call of f() (which enqueues on `stream`) over `iters` calls, after `warmups`
// untimed calls (the first also configures shared memory and builds GEMM plans).
template <class F>
float time_ms(F&& f, int iters, cudaStream_t stream, int warmups = 1) {
  for (int i = 0; i < warmups; ++i) f();
  NC_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t start, stop;
  NC_CUDA_CHECK(cudaEventCreate(&start));
  NC_CUDA_CHECK(cudaEventCreate(&stop));
  NC_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < iters; ++i) f();
  NC_CUDA_CHECK(cudaEventRecord(stop, stream));
  NC_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  NC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  NC_CUDA_CHECK(cudaEventDestroy(start));
  NC_CUDA_CHECK(cudaEventDestroy(stop));
  return ms / static_cast<float>(iters);
}

// Mean microseconds per replay of step() captured as one CUDA graph: one untimed run outside the
// capture, one untimed replay, then `replays` timed replays.
template <class Step>
double time_graph_us(cudaStream_t stream, Step&& step, int replays) {
  step();
  NC_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  NC_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  step();
  NC_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  NC_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  NC_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  const float ms = time_ms([&] { NC_CUDA_CHECK(cudaGraphLaunch(exec, stream)); }, replays, stream, 0);
  NC_CUDA_CHECK(cudaGraphExecDestroy(exec));
  NC_CUDA_CHECK(cudaGraphDestroy(graph));
  return 1e3 * static_cast<double>(ms);
}

}  // namespace nanochat::bench
