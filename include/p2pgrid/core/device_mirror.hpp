// Copies of host arrays on a device: the CUDA expert mirrors its tables (rows, factors, bounds
// recipes) once and points its views at the copies.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "p2pgrid/core/device.hpp"

namespace p2pgrid {

/// A device buffer holding a copy of `v` (one element if v is empty, so that the pointer is
/// never null).
template <class T>
DeviceBuffer<T> upload(const std::vector<T>& v, Backend backend = Backend::kCuda) {
  DeviceBuffer<T> d(backend, std::max<std::size_t>(v.size(), 1));
  if (!v.empty()) d.copy_from_host(v.data(), v.size());
  return d;
}

/// Device copies of arrays a view points to: mirror(field, count) copies `count` elements of
/// the host array `field` points to and points `field` at the copy, which this keeps alive.
class DeviceMirror {
 public:
  template <class T>
  void mirror(const T*& field, std::size_t count) {
    auto copy = std::make_shared<DeviceBuffer<T>>(upload(std::vector<T>(field, field + count)));
    field = copy->data();
    buffers_.push_back(std::move(copy));
  }

 private:
  std::vector<std::shared_ptr<void>> buffers_;
};

}  // namespace p2pgrid
