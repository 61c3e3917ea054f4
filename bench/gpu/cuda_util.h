// Small CUDA runtime helpers for the bench: error checks that throw, and an
// owning device buffer.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

namespace kvattn_bench {

[[noreturn]] inline void throw_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": " + cudaGetErrorName(err) +
                           " (" + cudaGetErrorString(err) + ")");
}

#define BENCH_CUDA_CHECK(expr)                                                                        \
  do {                                                                                                \
    const cudaError_t bench_err_ = (expr);                                                            \
    if (bench_err_ != cudaSuccess) ::kvattn_bench::throw_cuda(bench_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// cudaMalloc'd bytes, freed on scope exit. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes) BENCH_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) cudaFree(ptr_);
      ptr_ = o.ptr_, bytes_ = o.bytes_;
      o.ptr_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Host vector -> new device buffer (synchronous; only for small metadata).
template <typename T>
DeviceBuffer upload(const T* data, size_t count) {
  DeviceBuffer buf(count * sizeof(T));
  if (count) BENCH_CUDA_CHECK(cudaMemcpy(buf.get(), data, count * sizeof(T), cudaMemcpyHostToDevice));
  return buf;
}

}  // namespace kvattn_bench
