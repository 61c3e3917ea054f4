// A result row's identity and workload-derived numbers, before anything is timed.
#pragma once
#include <string>

#include "options.h"
#include "results.h"
#include "workloads.h"

namespace kvattn_bench {

inline Row row_for(const Workload& w, const KvDTypeChoice& kv, const std::string& impl) {
  Row row;
  row.workload = w.name;
  row.shape = shape_string(w);
  row.impl = impl;
  row.kv_dtype = kv.name;
  row.flops = attention_flops(w);
  row.bytes = attention_bytes(w, kv.dtype, kvattn::DType::kBFloat16);
  return row;
}

}  // namespace kvattn_bench
