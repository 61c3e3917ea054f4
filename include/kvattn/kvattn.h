// Umbrella header for the kvattn public API.
#pragma once
#include "kvattn/attention.h"
#include "kvattn/cache.h"
#include "kvattn/error.h"
#include "kvattn/fp8.h"
#include "kvattn/merge.h"
#include "kvattn/tensor.h"
#include "kvattn/version.h"
