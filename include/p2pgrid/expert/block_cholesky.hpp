// Cholesky factorization of a symmetric positive definite block-tridiagonal matrix with dense
// n_b x n_b blocks, all blocks of one structure (the expert's KKT matrix P + sigma I + A' rho A,
// blocks in reverse time), and batched solves with many right-hand sides (one per env).
// Because elimination runs from block 0 (the day's last step) upward, the factor of the leading
// H blocks is the leading part of the full factor: one factorization serves every horizon.
#pragma once

#include <vector>

#include "p2pgrid/expert/admm_kernels.hpp"

namespace p2pgrid {

class BlockTridiagonalCholesky {
 public:
  /// diag: [num_blocks, n_b, n_b] row-major diagonal blocks; sub: [num_blocks - 1, n_b, n_b] the
  /// blocks (k + 1, k) below the diagonal. Throws p2pgrid::Error if the matrix is not positive
  /// definite (names the block and pivot).
  void factor(int num_blocks, int block_size, std::vector<double> diag, std::vector<double> sub);

  /// Solves M x = b in place for the leading `blocks` blocks, for `cols` right-hand sides stored
  /// as x[(k * n_b + i) * cols + c], one at a time (the ADMM calls factor_solve of
  /// admm_kernels.hpp on its lanes directly).
  void solve(int blocks, int cols, double* x) const;

  int num_blocks() const { return num_blocks_; }
  int block_size() const { return n_; }

  /// A view of the factor for the solve kernels (admm_kernels.hpp). The strictly lower L_kk and
  /// the linked rows of L_(k+1),k are stored sparse (CSR, every block's rows in one array): a
  /// fill-reducing order of the block's variables (expert_qp.cpp: minimum degree) keeps them so.
  FactorView view() const;

  /// The factor's arrays, for a copy to the GPU (same layout as view()).
  struct Arrays {
    std::vector<int> link_rows, diag_ptr, diag_cols, sub_ptr, sub_cols;
    std::vector<double> diag_vals, inv_diag, sub_vals;
  };
  const Arrays& arrays() const { return a_; }

 private:
  int num_blocks_ = 0, n_ = 0;
  Arrays a_;
};

}  // namespace p2pgrid
