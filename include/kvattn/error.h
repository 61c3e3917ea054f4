// The one exception type kvattn throws. Its message names the offending
// argument and says what was expected.
#pragma once
#include <stdexcept>
#include <string>

namespace kvattn {

enum class ErrorCode : int {
  kInvalidArgument,  // wrong shape, stride, value, device (Python: ValueError)
  kInvalidDType,     // wrong element type (Python: TypeError)
  kNotImplemented,   // a legal request this build does not support (Python: NotImplementedError)
  kCudaError,        // the CUDA runtime reported a failure (Python: RuntimeError)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string argument, const std::string& message)
      : std::runtime_error("kvattn: " + argument + ": " + message),
        code_(code),
        argument_(std::move(argument)) {}
  ErrorCode code() const { return code_; }
  const std::string& argument() const { return argument_; }

 private:
  ErrorCode code_;
  std::string argument_;
};

}  // namespace kvattn
