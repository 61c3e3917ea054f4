// kvattn._kvattn_ext: the thin native layer under python/kvattn. Argument
// defaults, vLLM conventions and array-library specifics live in Python; this
// module only converts arrays and calls the C++ library.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>

#include "errors.h"
#include "kvattn/attention.h"
#include "kvattn/tensor.h"
#include "kvattn/version.h"
#include "ops.h"

namespace nb = nanobind;

namespace {

nb::dict dtype_codes() {
  using kvattn::DType;
  nb::dict d;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat8E4M3, DType::kFloat8E5M2,
                  DType::kInt32, DType::kInt64, DType::kUInt8})
    d[kvattn::dtype_name(t)] = static_cast<int>(t);
  return d;
}

nb::dict backend_codes() {
  using kvattn::Backend;
  nb::dict d;
  d["auto"] = static_cast<int>(Backend::kAuto);
  d["cpu"] = static_cast<int>(Backend::kCpu);
  d["cuda_portable"] = static_cast<int>(Backend::kCudaPortable);
  d["cuda_hopper"] = static_cast<int>(Backend::kCudaHopper);
  return d;
}

std::string version_string() {
  return std::to_string(KVATTN_VERSION_MAJOR) + "." + std::to_string(KVATTN_VERSION_MINOR) + "." +
         std::to_string(KVATTN_VERSION_PATCH);
}

}  // namespace

NB_MODULE(_kvattn_ext, m) {
  m.doc() = "kvattn native extension (use the kvattn package, not this module)";
  kvattn_py::register_error_translator();

  m.attr("DTYPE_CODES") = dtype_codes();
  m.attr("BACKEND_CODES") = backend_codes();
  m.attr("DEVICE_CPU") = static_cast<int>(kvattn::DeviceType::kCPU);
  m.attr("DEVICE_CUDA") = static_cast<int>(kvattn::DeviceType::kCUDA);
  m.attr("MAX_SPLITS") = kvattn::kMaxSplits;

  m.def("version", &version_string);
  m.def("built_with_cuda", &kvattn::built_with_cuda);
  m.def("built_with_hopper_kernels", &kvattn::built_with_hopper_kernels);

  m.def("varlen_attention", &kvattn_py::varlen_attention, nb::arg("q"), nb::arg("k").none(), nb::arg("v").none(),
        nb::arg("cu_seqlens_q").none(), nb::arg("cu_seqlens_k").none(), nb::arg("seqused_k").none(),
        nb::arg("block_table").none(), nb::arg("max_seqlen_q"), nb::arg("max_seqlen_k"),
        nb::arg("q_descale").none(), nb::arg("k_descale").none(), nb::arg("v_descale").none(),
        nb::arg("softmax_scale"), nb::arg("causal"), nb::arg("window_left"), nb::arg("window_right"),
        nb::arg("softcap"), nb::arg("sinks").none(), nb::arg("out").none(), nb::arg("softmax_lse").none(),
        nb::arg("num_splits"), nb::arg("workspace").none(), nb::arg("backend"), nb::arg("stream"),
        "Varlen attention forward (kvattn::varlen_attention_forward); writes out and softmax_lse.");

  m.def("workspace_size", &kvattn_py::workspace_size, nb::arg("batch"), nb::arg("num_q_heads"),
        nb::arg("num_kv_heads"), nb::arg("head_dim"), nb::arg("max_seqlen_q"), nb::arg("max_seqlen_k"),
        nb::arg("num_splits"), nb::arg("device_type"), nb::arg("device_index"), nb::arg("kv_dtype") = -1,
        "Workspace bytes for a call with these host-side sizes: split-KV partials, and with a KV "
        "dtype code (-1: unknown) the FP8 prewiden scratch where such a call uses one.");

  m.def("reshape_and_cache_flash", &kvattn_py::reshape_and_cache_flash, nb::arg("key"), nb::arg("value"),
        nb::arg("key_cache"), nb::arg("value_cache"), nb::arg("slot_mapping"), nb::arg("kv_cache_dtype"),
        nb::arg("k_scale").none(), nb::arg("v_scale").none(), nb::arg("backend"), nb::arg("stream"),
        "Writes key/value into the paged caches (in place).");

  m.def("merge_attn_states", &kvattn_py::merge_attn_states, nb::arg("output"), nb::arg("prefix_output"),
        nb::arg("prefix_lse"), nb::arg("suffix_output"), nb::arg("suffix_lse"), nb::arg("output_lse").none(),
        nb::arg("backend"), nb::arg("stream"),
        "Merges two partial attention states into output (in place).");
}
