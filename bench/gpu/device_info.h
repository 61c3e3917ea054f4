// Which GPU this run is on, for the report.
#pragma once
#include <string>

#include "results.h"

namespace kvattn_bench {

// True when a CUDA device can be used; otherwise `why` says what is missing.
bool cuda_device_available(std::string* why);
DeviceInfo query_device(int device);

}  // namespace kvattn_bench
