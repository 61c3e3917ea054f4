#include "ops.h"

#include <string>

#include "array_args.h"
#include "kvattn/attention.h"
#include "kvattn/cache.h"
#include "kvattn/error.h"
#include "kvattn/merge.h"

namespace kvattn_py {

namespace {

kvattn::Backend backend_from_int(int backend) {
  if (backend < static_cast<int>(kvattn::Backend::kAuto) || backend > static_cast<int>(kvattn::Backend::kCudaHopper))
    throw kvattn::Error(kvattn::ErrorCode::kInvalidArgument, "backend",
                        "must be one of auto, cpu, cuda_portable, cuda_hopper (got code " + std::to_string(backend) +
                            ")");
  return static_cast<kvattn::Backend>(backend);
}

kvattn::Device device_from_ints(int device_type, int device_index) {
  if (device_type != static_cast<int>(kvattn::DeviceType::kCPU) &&
      device_type != static_cast<int>(kvattn::DeviceType::kCUDA))
    throw kvattn::Error(kvattn::ErrorCode::kInvalidArgument, "device", "must be CPU or CUDA");
  kvattn::Device d;
  d.type = static_cast<kvattn::DeviceType>(device_type);
  d.index = device_index;
  return d;
}

// The C++ API calls the sinks "sinks"; vLLM's Python signature calls them s_aux.
[[noreturn]] void rethrow_with_python_names(const kvattn::Error& e) {
  if (e.argument() != "sinks") throw;
  const std::string prefix = "kvattn: sinks: ";
  std::string message = e.what();
  if (message.compare(0, prefix.size(), prefix) == 0) message = message.substr(prefix.size());
  throw kvattn::Error(e.code(), "s_aux", "(sinks) " + message);
}

}  // namespace

void varlen_attention(nb::handle q, nb::handle k, nb::handle v, nb::handle cu_seqlens_q, nb::handle cu_seqlens_k,
                      nb::handle seqused_k, nb::handle block_table, int64_t max_seqlen_q, int64_t max_seqlen_k,
                      nb::handle q_descale, nb::handle k_descale, nb::handle v_descale, float softmax_scale,
                      bool causal, int window_left, int window_right, float softcap, nb::handle sinks,
                      nb::handle out, nb::handle softmax_lse, int num_splits, nb::handle workspace, int backend,
                      std::uintptr_t stream) {
  ArrayArgs arrays;
  kvattn::VarlenAttentionArgs a;
  a.q = arrays.input(q, "q");
  a.k = arrays.input(k, "k");
  a.v = arrays.input(v, "v");
  a.cu_seqlens_q = arrays.input(cu_seqlens_q, "cu_seqlens_q");
  a.cu_seqlens_k = arrays.input(cu_seqlens_k, "cu_seqlens_k");
  a.seqused_k = arrays.input(seqused_k, "seqused_k");
  a.block_table = arrays.input(block_table, "block_table");
  a.max_seqlen_q = max_seqlen_q;
  a.max_seqlen_k = max_seqlen_k;
  a.q_descale = arrays.input(q_descale, "q_descale");
  a.k_descale = arrays.input(k_descale, "k_descale");
  a.v_descale = arrays.input(v_descale, "v_descale");
  a.softmax_scale = softmax_scale;
  a.causal = causal;
  a.window_left = window_left;
  a.window_right = window_right;
  a.softcap = softcap;
  a.sinks = arrays.input(sinks, "s_aux");
  a.out = arrays.output(out, "out");
  a.softmax_lse = arrays.output(softmax_lse, "softmax_lse");
  a.num_splits = num_splits;
  a.workspace = arrays.output(workspace, "workspace");
  a.backend = backend_from_int(backend);
  a.stream = stream_from_int(stream);
  nb::gil_scoped_release no_gil;
  try {
    kvattn::varlen_attention_forward(a);
  } catch (const kvattn::Error& e) {
    rethrow_with_python_names(e);
  }
}

size_t workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                      int64_t max_seqlen_k, int num_splits, int device_type, int device_index, int kv_dtype) {
  const kvattn::Device device = device_from_ints(device_type, device_index);
  if (kv_dtype < 0)  // unknown KV dtype: the split-KV bytes only
    return kvattn::varlen_attention_workspace_size(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q,
                                                   max_seqlen_k, num_splits, device);
  return kvattn::varlen_attention_workspace_size(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q,
                                                 max_seqlen_k, num_splits, device,
                                                 static_cast<kvattn::DType>(kv_dtype));
}

void reshape_and_cache_flash(nb::handle key, nb::handle value, nb::handle key_cache, nb::handle value_cache,
                             nb::handle slot_mapping, const std::string& kv_cache_dtype, nb::handle k_scale,
                             nb::handle v_scale, int backend, std::uintptr_t stream) {
  ArrayArgs arrays;
  kvattn::CacheWriteArgs a;
  a.key = arrays.input(key, "key");
  a.value = arrays.input(value, "value");
  a.key_cache = arrays.output(key_cache, "key_cache");
  a.value_cache = arrays.output(value_cache, "value_cache");
  a.slot_mapping = arrays.input(slot_mapping, "slot_mapping");
  a.kv_cache_dtype = kvattn::parse_kv_cache_dtype(kv_cache_dtype);
  a.k_scale = arrays.input(k_scale, "k_scale");
  a.v_scale = arrays.input(v_scale, "v_scale");
  a.backend = backend_from_int(backend);
  a.stream = stream_from_int(stream);
  nb::gil_scoped_release no_gil;
  kvattn::reshape_and_cache_flash(a);
}

void merge_attn_states(nb::handle output, nb::handle prefix_output, nb::handle prefix_lse,
                       nb::handle suffix_output, nb::handle suffix_lse, nb::handle output_lse, int backend,
                       std::uintptr_t stream) {
  ArrayArgs arrays;
  kvattn::MergeArgs a;
  a.output = arrays.output(output, "output");
  a.prefix_output = arrays.input(prefix_output, "prefix_output");
  a.prefix_lse = arrays.input(prefix_lse, "prefix_lse");
  a.suffix_output = arrays.input(suffix_output, "suffix_output");
  a.suffix_lse = arrays.input(suffix_lse, "suffix_lse");
  a.output_lse = arrays.output(output_lse, "output_lse");
  a.backend = backend_from_int(backend);
  a.stream = stream_from_int(stream);
  nb::gil_scoped_release no_gil;
  kvattn::merge_attn_states(a);
}

}  // namespace kvattn_py
