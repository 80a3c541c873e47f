// The Python module of the CPU kernels (built by `pets.pet.kernels.cpu_kernels`).
#include <torch/extension.h>

void segment_spmm(const at::Tensor& x, at::Tensor y, const at::Tensor& ptrs,
                  const at::Tensor& starts, const at::Tensor& lens, bool col32, double sign);
void segment_gemm(const at::Tensor& x, at::Tensor y, const at::Tensor& w, const at::Tensor& b,
                  const at::Tensor& slots, const at::Tensor& x_starts, const at::Tensor& y_starts,
                  const at::Tensor& lens, const at::Tensor& scales, bool accumulate);
void segment_bias(at::Tensor y, const at::Tensor& v, const at::Tensor& starts,
                  const at::Tensor& lens);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // the kernels touch no Python object: other threads' batches run meanwhile
  m.def("segment_spmm", &segment_spmm, py::call_guard<py::gil_scoped_release>(),
        "y[rows_s] += sign * x[rows_s] @ S_s^T for every segment s; S_s sliced (SELL-16-256) "
        "from ptrs[s] = (slice int32, col int16|int32, values in x's dtype, slot uint8) data "
        "pointers");
  m.def("segment_gemm", &segment_gemm, py::call_guard<py::gil_scoped_release>(),
        "y[y rows_s] = (accumulate ? y : 0) + scale_s * x[x rows_s] @ w[slot_s]^T + b[slot_s] "
        "for every segment s");
  m.def("segment_bias", &segment_bias, py::call_guard<py::gil_scoped_release>(),
        "y[start_s + r] += v[s] for every segment s and r < len_s");
}
