// CUDA-side test helpers shared by the GPU suites: error checking, skipping
// without a device, RAII device memory, and running a generated case (from
// tests/common) on device buffers.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/attention_data.h"
#include "common/case_driver.h"
#include "kvattn/attention.h"

namespace kvtest {

// Throws (GoogleTest reports the message as a failure of the running test,
// and the case driver as a failure of the running case).
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);
#define KVT_CUDA_CHECK(expr)                                                    \
  do {                                                                          \
    const cudaError_t kvt_err_ = (expr);                                        \
    if (kvt_err_ != cudaSuccess) ::kvtest::throw_cuda_error(kvt_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// Empty when a CUDA device is usable, else why not.
std::string gpu_unavailable_reason();
#define KVT_REQUIRE_GPU()                                                         \
  do {                                                                            \
    const std::string kvt_reason_ = ::kvtest::gpu_unavailable_reason();           \
    if (!kvt_reason_.empty()) GTEST_SKIP() << "no usable CUDA device: " << kvt_reason_; \
  } while (0)

inline kvattn::Device cuda_device() { return kvattn::Device{kvattn::DeviceType::kCUDA, 0}; }

class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; o.bytes_ = 0; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// One case's buffers on the device (same sizes as the host copies).
struct DeviceCase {
  std::array<DeviceMemory, kNumBuffers> mem;
  BufferPointers ptrs{};
  DeviceMemory workspace;
};

// Allocates and copies every non-empty host buffer (outputs: poisoned).
DeviceCase upload_case(const AttentionCaseData& d);
// Copies new inputs into existing buffers (sizes must match; graph replays).
void copy_inputs(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream);
// Fills out / softmax_lse with the poison pattern.
void poison_outputs(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream);
AttentionRun download_outputs(const DeviceCase& dc, const AttentionCaseData& d);

// Arguments over dc with the backend from KVATTN_TEST_BACKEND, the case's
// num_splits and, when the call may split, a workspace of
// varlen_attention_workspace_size bytes (allocated here, before any capture).
kvattn::VarlenAttentionArgs device_args(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream);

// Upload, poison, run on a fresh stream, synchronize, download.
AttentionRun run_attention_on_device(const AttentionCaseData& d);

// run_attention_cases on the device with gpu_tolerance.
void run_gpu_attention_cases(int count, const CaseMaker& make);

}  // namespace kvtest
