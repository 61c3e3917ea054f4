// The Python-facing entry points. Each takes Python objects straight from
// python/kvattn (positional, already defaulted there), builds the kvattn args
// struct, and calls the library with the GIL released. Every array argument
// may be None, an array, or (array, dtype code): see ArrayArgs.
#pragma once
#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>

namespace kvattn_py {

namespace nb = nanobind;

void varlen_attention(nb::handle q, nb::handle k, nb::handle v, nb::handle cu_seqlens_q, nb::handle cu_seqlens_k,
                      nb::handle seqused_k, nb::handle block_table, int64_t max_seqlen_q, int64_t max_seqlen_k,
                      nb::handle q_descale, nb::handle k_descale, nb::handle v_descale, float softmax_scale,
                      bool causal, int window_left, int window_right, float softcap, nb::handle sinks,
                      nb::handle out, nb::handle softmax_lse, int num_splits, nb::handle workspace, int backend,
                      std::uintptr_t stream);

// kv_dtype: a kvattn::DType code, or -1 for the split-KV bytes only.
size_t workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                      int64_t max_seqlen_k, int num_splits, int device_type, int device_index, int kv_dtype);

void reshape_and_cache_flash(nb::handle key, nb::handle value, nb::handle key_cache, nb::handle value_cache,
                             nb::handle slot_mapping, const std::string& kv_cache_dtype, nb::handle k_scale,
                             nb::handle v_scale, int backend, std::uintptr_t stream);

void merge_attn_states(nb::handle output, nb::handle prefix_output, nb::handle prefix_lse,
                       nb::handle suffix_output, nb::handle suffix_lse, nb::handle output_lse, int backend,
                       std::uintptr_t stream);

}  // namespace kvattn_py
