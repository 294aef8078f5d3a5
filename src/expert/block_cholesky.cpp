// Block-tridiagonal Cholesky (see block_cholesky.hpp). Recurrence, for k = 0, 1, ...:
//   L_00 = chol(D_0);  L_(k+1),k = C_k L_kk^-T;  L_(k+1),(k+1) = chol(D_(k+1) - L_(k+1),k
//   L_(k+1),k')
// where C_k (the sub-diagonal block) is nonzero only on the rows of variables that link a step to
// the one before (SOC, CDG output): L_(k+1),k is stored for those rows only.
#include "p2pgrid/expert/block_cholesky.hpp"

#include <cmath>
#include <string>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/expert/admm_kernels.hpp"

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
  a_ = Arrays{};
  for (int i = 0; i < n; ++i)
    if (linked[i]) a_.link_rows.push_back(i);
  const int nl = static_cast<int>(a_.link_rows.size());
  a_.inv_diag.assign(std::size_t(num_blocks) * n, 0.0);
  std::vector<double> w(std::size_t(nl) * n);
  for (int k = 0; k < num_blocks; ++k) {
    double* lk = diag.data() + k * nn;
    dense_cholesky(lk, n, k);
    for (int i = 0; i < n; ++i) {
      a_.diag_ptr.push_back(static_cast<int>(a_.diag_cols.size()));
      a_.inv_diag[std::size_t(k) * n + i] = 1.0 / lk[std::size_t(i) * n + i];
      for (int j = 0; j < i; ++j)
        if (lk[std::size_t(i) * n + j] != 0.0) {
          a_.diag_cols.push_back(j);
          a_.diag_vals.push_back(lk[std::size_t(i) * n + j]);
        }
    }
    a_.diag_ptr.push_back(static_cast<int>(a_.diag_cols.size()));
    if (k + 1 == num_blocks) break;
    // L_(k+1),k rows: w solves L_kk w = c' for each linked row c of C_k.
    const int* rp = a_.diag_ptr.data() + std::size_t(k) * (n + 1);
    for (int r = 0; r < nl; ++r) {
      const double* crow = sub.data() + k * nn + std::size_t(a_.link_rows[r]) * n;
      double* wr = w.data() + std::size_t(r) * n;
      for (int i = 0; i < n; ++i) {
        double s = crow[i];
        for (int p = rp[i]; p < rp[i + 1]; ++p) s -= a_.diag_vals[p] * wr[a_.diag_cols[p]];
        wr[i] = s * a_.inv_diag[std::size_t(k) * n + i];
      }
    }
    for (int r = 0; r < nl; ++r) {
      a_.sub_ptr.push_back(static_cast<int>(a_.sub_cols.size()));
      for (int j = 0; j < n; ++j)
        if (w[std::size_t(r) * n + j] != 0.0) {
          a_.sub_cols.push_back(j);
          a_.sub_vals.push_back(w[std::size_t(r) * n + j]);
        }
    }
    a_.sub_ptr.push_back(static_cast<int>(a_.sub_cols.size()));
    // D_(k+1) -= L_(k+1),k L_(k+1),k' on the linked rows and columns.
    double* dn = diag.data() + (k + 1) * nn;
    for (int a = 0; a < nl; ++a)
      for (int b = 0; b < nl; ++b) {
        double s = 0;
        const double* wa = w.data() + std::size_t(a) * n;
        const double* wb = w.data() + std::size_t(b) * n;
        for (int j = 0; j < n; ++j) s += wa[j] * wb[j];
        dn[std::size_t(a_.link_rows[a]) * n + a_.link_rows[b]] -= s;
      }
  }
}

FactorView BlockTridiagonalCholesky::view() const {
  FactorView v;
  v.n = n_;
  v.num_links = static_cast<int>(a_.link_rows.size());
  v.link_rows = a_.link_rows.data();
  v.diag_ptr = a_.diag_ptr.data();
  v.diag_cols = a_.diag_cols.data();
  v.diag_vals = a_.diag_vals.data();
  v.inv_diag = a_.inv_diag.data();
  v.sub_ptr = a_.sub_ptr.data();
  v.sub_cols = a_.sub_cols.data();
  v.sub_vals = a_.sub_vals.data();
  return v;
}

void BlockTridiagonalCholesky::solve(int blocks, int cols, double* x) const {
  if (blocks < 0 || blocks > num_blocks_) throw Error("block Cholesky: horizon out of range");
  const FactorView f = view();
  for (int c = 0; c < cols; ++c) {
    const Strided<double> column{x + c, cols};
    factor_solve(f, blocks, column, column);
  }
}

}  // namespace p2pgrid
