#include "errors.h"

#include <nanobind/nanobind.h>

#include <exception>

#include "kvattn/error.h"

namespace kvattn_py {

namespace {

PyObject* python_exception_for(kvattn::ErrorCode code) {
  switch (code) {
    case kvattn::ErrorCode::kInvalidArgument: return PyExc_ValueError;
    case kvattn::ErrorCode::kInvalidDType: return PyExc_TypeError;
    case kvattn::ErrorCode::kNotImplemented: return PyExc_NotImplementedError;
    case kvattn::ErrorCode::kCudaError: return PyExc_RuntimeError;
  }
  return PyExc_RuntimeError;
}

void translate(const std::exception_ptr& error, void*) {
  try {
    std::rethrow_exception(error);
  } catch (const kvattn::Error& e) {
    PyErr_SetString(python_exception_for(e.code()), e.what());
  }
  // Anything else propagates to nanobind's default translators.
}

}  // namespace

void register_error_translator() { nanobind::register_exception_translator(&translate); }

}  // namespace kvattn_py
