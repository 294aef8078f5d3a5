// Block-tridiagonal Cholesky (see block_cholesky.hpp). Recurrence, for k = 0, 1, ...:
//   L_00 = chol(D_0);  L_(k+1),k = C_k L_kk^-T;  L_(k+1),(k+1) = chol(D_(k+1) - L_(k+1),k L_(k+1),k')
// where C_k (the sub-diagonal block) is nonzero only on the rows of variables that link a step to
// the one before (SOC, CDG output): L_(k+1),k is stored for those rows only.
#include "p2pgrid/expert/block_cholesky.hpp"

#include <cmath>
#include <string>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid {
namespace {

// In-place dense Cholesky of an n x n row-major SPD matrix (lower triangle used and written);
// rows are processed from their first nonzero so that sparse orderings cost little.
void dense_cholesky(double* a, int n, int block) {
  std::vector<int> first(n);
  for (int i = 0; i < n; ++i) {
    int f = 0;
    while (f < i && a[std::size_t(i) * n + f] == 0.0) ++f;
    first[i] = f;
  }
  for (int j = 0; j < n; ++j) {
    double* aj = a + std::size_t(j) * n;
    double d = aj[j];
    for (int k = first[j]; k < j; ++k) d -= aj[k] * aj[k];
    if (!(d > 0))
      throw Error("expert KKT matrix is not positive definite (block " + std::to_string(block) +
                  ", pivot " + std::to_string(j) + ": " + std::to_string(d) + ")");
    const double ljj = std::sqrt(d);
    aj[j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double* ai = a + std::size_t(i) * n;
      if (first[i] > j) continue;  // row i starts after column j: L(i, j) = 0 (no fill)
      double s = ai[j];
      for (int k = std::max(first[i], first[j]); k < j; ++k) s -= ai[k] * aj[k];
      ai[j] = s / ljj;
    }
  }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) a[std::size_t(i) * n + j] = 0.0;
}

}  // namespace

void BlockTridiagonalCholesky::factor(int num_blocks, int n, std::vector<double> diag,
                                      std::vector<double> sub) {
  num_blocks_ = num_blocks;
  n_ = n;
  const std::size_t nn = std::size_t(n) * n;
  std::vector<char> linked(n, 0);
  for (int k = 0; k + 1 < num_blocks; ++k)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n && !linked[i]; ++j)
        if (sub[k * nn + std::size_t(i) * n + j] != 0.0) linked[i] = 1;
  link_rows_.clear();
  for (int i = 0; i < n; ++i)
    if (linked[i]) link_rows_.push_back(i);
  const int nl = static_cast<int>(link_rows_.size());
  inv_diag_.assign(std::size_t(num_blocks) * n, 0.0);
  l_diag_.assign(num_blocks, Csr{});
  l_sub_.assign(std::max(num_blocks - 1, 0), Csr{});
  std::vector<double> w(std::size_t(nl) * n);
  for (int k = 0; k < num_blocks; ++k) {
    double* lk = diag.data() + k * nn;
    dense_cholesky(lk, n, k);
    Csr& c = l_diag_[k];
    c.row_ptr.assign(1, 0);
    for (int i = 0; i < n; ++i) {
      inv_diag_[std::size_t(k) * n + i] = 1.0 / lk[std::size_t(i) * n + i];
      for (int j = 0; j < i; ++j)
        if (lk[std::size_t(i) * n + j] != 0.0) {
          c.cols.push_back(j);
          c.vals.push_back(lk[std::size_t(i) * n + j]);
        }
      c.row_ptr.push_back(static_cast<int>(c.cols.size()));
    }
    if (k + 1 == num_blocks) break;
    // L_(k+1),k rows: w solves L_kk w = c' for each linked row c of C_k.
    for (int r = 0; r < nl; ++r) {
      const double* crow = sub.data() + k * nn + std::size_t(link_rows_[r]) * n;
      double* wr = w.data() + std::size_t(r) * n;
      for (int i = 0; i < n; ++i) {
        double s = crow[i];
        for (int p = c.row_ptr[i]; p < c.row_ptr[i + 1]; ++p) s -= c.vals[p] * wr[c.cols[p]];
        wr[i] = s * inv_diag_[std::size_t(k) * n + i];
      }
    }
    Csr& ls = l_sub_[k];
    ls.row_ptr.assign(1, 0);
    for (int r = 0; r < nl; ++r) {
      for (int j = 0; j < n; ++j)
        if (w[std::size_t(r) * n + j] != 0.0) {
          ls.cols.push_back(j);
          ls.vals.push_back(w[std::size_t(r) * n + j]);
        }
      ls.row_ptr.push_back(static_cast<int>(ls.cols.size()));
    }
    // D_(k+1) -= L_(k+1),k L_(k+1),k' on the linked rows and columns.
    double* dn = diag.data() + (k + 1) * nn;
    for (int a = 0; a < nl; ++a)
      for (int b = 0; b < nl; ++b) {
        double s = 0;
        const double* wa = w.data() + std::size_t(a) * n;
        const double* wb = w.data() + std::size_t(b) * n;
        for (int j = 0; j < n; ++j) s += wa[j] * wb[j];
        dn[std::size_t(link_rows_[a]) * n + link_rows_[b]] -= s;
      }
  }
}

namespace {

// The solve with the number of right-hand sides known at compile time (Cols > 0) or not (0):
// a fixed count lets the compiler unroll and vectorize the loops across envs fully.
template <int Cols>
void block_solve(const BlockTridiagonalCholesky::Parts& f, int blocks, int cols_rt, double* x) {
  const int cols = Cols > 0 ? Cols : cols_rt;
  const int n = f.n;
  const auto& link_rows_ = *f.link_rows;
  const auto& l_sub_ = *f.l_sub;
  const auto& l_diag_ = *f.l_diag;
  const auto& inv_diag_ = *f.inv_diag;
  const std::size_t bs = std::size_t(n) * cols;  // one block of right-hand sides
  // Forward: L y = b.
  for (int k = 0; k < blocks; ++k) {
    double* xk = x + k * bs;
    if (k > 0) {
      const BlockTridiagonalCholesky::Csr& ls = l_sub_[k - 1];
      const double* xp = x + (k - 1) * bs;
      for (std::size_t r = 0; r < link_rows_.size(); ++r) {
        double* dst = xk + std::size_t(link_rows_[r]) * cols;
        for (int p = ls.row_ptr[r]; p < ls.row_ptr[r + 1]; ++p) {
          const double wj = ls.vals[p];
          const double* src = xp + std::size_t(ls.cols[p]) * cols;
          for (int c = 0; c < cols; ++c) dst[c] -= wj * src[c];
        }
      }
    }
    const BlockTridiagonalCholesky::Csr& l = l_diag_[k];
    const double* inv = inv_diag_.data() + std::size_t(k) * n;
    for (int i = 0; i < n; ++i) {
      double* xi = xk + std::size_t(i) * cols;
      for (int p = l.row_ptr[i]; p < l.row_ptr[i + 1]; ++p) {
        const double lij = l.vals[p];
        const double* xj = xk + std::size_t(l.cols[p]) * cols;
        for (int c = 0; c < cols; ++c) xi[c] -= lij * xj[c];
      }
      for (int c = 0; c < cols; ++c) xi[c] *= inv[i];
    }
  }
  // Backward: L' x = y.
  for (int k = blocks - 1; k >= 0; --k) {
    double* xk = x + k * bs;
    if (k + 1 < blocks) {
      const BlockTridiagonalCholesky::Csr& ls = l_sub_[k];
      const double* xn = x + (k + 1) * bs;
      for (std::size_t r = 0; r < link_rows_.size(); ++r) {
        const double* src = xn + std::size_t(link_rows_[r]) * cols;
        for (int p = ls.row_ptr[r]; p < ls.row_ptr[r + 1]; ++p) {
          const double wj = ls.vals[p];
          double* dst = xk + std::size_t(ls.cols[p]) * cols;
          for (int c = 0; c < cols; ++c) dst[c] -= wj * src[c];
        }
      }
    }
    const BlockTridiagonalCholesky::Csr& l = l_diag_[k];
    const double* inv = inv_diag_.data() + std::size_t(k) * n;
    for (int i = n - 1; i >= 0; --i) {
      double* xi = xk + std::size_t(i) * cols;
      for (int c = 0; c < cols; ++c) xi[c] *= inv[i];
      for (int p = l.row_ptr[i]; p < l.row_ptr[i + 1]; ++p) {
        const double lij = l.vals[p];
        double* xj = xk + std::size_t(l.cols[p]) * cols;
        for (int c = 0; c < cols; ++c) xj[c] -= lij * xi[c];
      }
    }
  }
}


}  // namespace

void BlockTridiagonalCholesky::solve(int blocks, int cols, double* x) const {
  const Parts parts{n_, &link_rows_, &l_diag_, &inv_diag_, &l_sub_};
  if (cols == 8) {
    block_solve<8>(parts, blocks, cols, x);
  } else {
    block_solve<0>(parts, blocks, cols, x);
  }
}

}  // namespace p2pgrid
