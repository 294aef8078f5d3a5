// Where batched buffers live (host memory or CUDA device memory) and an owning buffer type.
// Every batched buffer is batch-first and flat; its shape is written beside it where it is held.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace p2pgrid {

enum class Backend { kCpu, kCuda };

/// "cpu" | "cuda"; anything else is an Error listing the valid names.
Backend parse_backend(const std::string& name);
const char* to_string(Backend backend);

/// True if this binary was built with the CUDA backend.
bool built_with_cuda();
/// True if built with CUDA and at least one device is present.
bool cuda_device_available();
/// "NVIDIA H200 (sm_90, 132 SMs, 141 GiB)" or an explanation of why there is none.
std::string cuda_device_description();
/// Peak DRAM bandwidth of device 0 in GB/s from its memory clock and bus width (0 without CUDA).
double cuda_peak_bandwidth_gb_per_s();

/// Raw allocation on a backend; CUDA calls throw Error when the binary has no CUDA backend.
void* backend_malloc(Backend backend, std::size_t bytes);
void backend_free(Backend backend, void* ptr) noexcept;
void backend_copy(void* dst, Backend dst_backend, const void* src, Backend src_backend,
                  std::size_t bytes);
void backend_zero(Backend backend, void* ptr, std::size_t bytes);
void backend_synchronize(Backend backend);

/// An owning, move-only array of T on one backend (cudaMalloc'd on CUDA, 64-byte aligned on CPU).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend backend, std::size_t size) : backend_(backend), size_(size) {
    if (size_ > 0) data_ = static_cast<T*>(backend_malloc(backend_, size_ * sizeof(T)));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  void reset() noexcept {
    if (data_) backend_free(backend_, data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  Backend backend() const { return backend_; }
  /// Copies `count` elements from host memory into this buffer (from offset 0).
  void copy_from_host(const T* src, std::size_t count) {
    backend_copy(data_, backend_, src, Backend::kCpu, count * sizeof(T));
  }
  /// Copies `count` elements of this buffer into host memory.
  void copy_to_host(T* dst, std::size_t count) const {
    backend_copy(dst, Backend::kCpu, data_, backend_, count * sizeof(T));
  }
  void zero() { backend_zero(backend_, data_, bytes()); }

 private:
  Backend backend_ = Backend::kCpu;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A buffer on `backend` holding a copy of `host`.
template <class T>
DeviceBuffer<T> to_device(Backend backend, const std::vector<T>& host) {
  DeviceBuffer<T> d(backend, host.size());
  if (!host.empty()) d.copy_from_host(host.data(), host.size());
  return d;
}

}  // namespace p2pgrid
