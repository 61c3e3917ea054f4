// Maps kvattn::Error to Python exceptions (message kept as is):
// kInvalidArgument -> ValueError, kInvalidDType -> TypeError,
// kNotImplemented -> NotImplementedError, kCudaError -> RuntimeError.
#pragma once

namespace kvattn_py {

void register_error_translator();

}  // namespace kvattn_py
