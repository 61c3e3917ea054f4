#include "gpu/test_attention_support.h"

#include <sstream>

#include "common/test_env.h"

namespace kvtest {

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << file << ":" << line << ": " << expr << " failed: " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err)
     << ")";
  throw std::runtime_error(os.str());
}

std::string gpu_unavailable_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
  }
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
}

DeviceMemory::DeviceMemory(size_t bytes) : bytes_(bytes) { KVT_CUDA_CHECK(cudaMalloc(&ptr_, bytes)); }

DeviceMemory::~DeviceMemory() {
  if (ptr_) cudaFree(ptr_);
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Stream::Stream() { KVT_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (s_) cudaStreamDestroy(s_);
}

DeviceCase upload_case(const AttentionCaseData& d) {
  DeviceCase dc;
  for (int i = 0; i < kNumBuffers; ++i) {
    if (d.host[i].empty()) continue;
    dc.mem[i] = DeviceMemory(d.host[i].size());
    dc.ptrs[i] = dc.mem[i].get();
    KVT_CUDA_CHECK(cudaMemcpy(dc.ptrs[i], d.host[i].data(), d.host[i].size(), cudaMemcpyHostToDevice));
  }
  return dc;
}

void copy_inputs(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream) {
  for (int i = 0; i < kNumBuffers; ++i) {
    if (d.host[i].empty() || is_output_buffer(i)) continue;
    if (dc.mem[i].bytes() != d.host[i].size())
      throw std::runtime_error(std::string("buffer ") + buffer_name(i) + " changed size between replays");
    KVT_CUDA_CHECK(cudaMemcpyAsync(dc.ptrs[i], d.host[i].data(), d.host[i].size(), cudaMemcpyHostToDevice, stream));
  }
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream));  // host buffers may go away after this call
}

void poison_outputs(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream) {
  for (int i : {kOut, kLse})
    if (!d.host[i].empty()) KVT_CUDA_CHECK(cudaMemsetAsync(dc.ptrs[i], kPoisonByte, d.host[i].size(), stream));
}

AttentionRun download_outputs(const DeviceCase& dc, const AttentionCaseData& d) {
  AttentionRun r;
  r.out.resize(d.host[kOut].size());
  KVT_CUDA_CHECK(cudaMemcpy(r.out.data(), dc.ptrs[kOut], r.out.size(), cudaMemcpyDeviceToHost));
  if (d.c.with_lse) {
    r.lse.resize(d.host[kLse].size());
    KVT_CUDA_CHECK(cudaMemcpy(r.lse.data(), dc.ptrs[kLse], r.lse.size(), cudaMemcpyDeviceToHost));
  }
  return r;
}

kvattn::VarlenAttentionArgs device_args(DeviceCase& dc, const AttentionCaseData& d, cudaStream_t stream) {
  kvattn::VarlenAttentionArgs a = bind_attention_args(d, dc.ptrs, cuda_device());
  a.backend = gpu_backend_from_env();
  a.stream = stream;
  const AttentionCase& c = d.c;
  const size_t ws = kvattn::varlen_attention_workspace_size(static_cast<int64_t>(c.seqs.size()), c.num_q_heads,
                                                            c.num_kv_heads, c.head_dim, d.l.max_seqlen_q,
                                                            d.l.max_seqlen_k, c.num_splits, cuda_device(),
                                                            c.kv_dtype);
  if (ws > 0) {
    if (dc.workspace.bytes() < ws) dc.workspace = DeviceMemory(ws);
    a.workspace = kvattn::TensorView::contiguous(dc.workspace.get(), kvattn::DType::kUInt8,
                                                 {static_cast<int64_t>(ws)}, cuda_device());
  }
  return a;
}

AttentionRun run_attention_on_device(const AttentionCaseData& d) {
  KVT_CUDA_CHECK(cudaSetDevice(0));
  DeviceCase dc = upload_case(d);
  Stream stream;
  poison_outputs(dc, d, stream.get());
  const kvattn::VarlenAttentionArgs a = device_args(dc, d, stream.get());
  kvattn::varlen_attention_forward(a);
  KVT_CUDA_CHECK(cudaGetLastError());
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  return download_outputs(dc, d);
}

void run_gpu_attention_cases(int count, const CaseMaker& make) {
  run_attention_cases(count, make, run_attention_on_device, gpu_tolerance);
}

}  // namespace kvtest
