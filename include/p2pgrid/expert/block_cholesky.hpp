// Cholesky factorization of a symmetric positive definite block-tridiagonal matrix with dense
// n_b x n_b blocks, all blocks of one structure (the expert's KKT matrix P + sigma I + A' rho A,
// blocks in reverse time), and batched solves with many right-hand sides (one per env).
// Because elimination runs from block 0 (the day's last step) upward, the factor of the leading
// H blocks is the leading part of the full factor: one factorization serves every horizon.
#pragma once

#include <vector>

namespace p2pgrid {

class BlockTridiagonalCholesky {
 public:
  /// diag: [num_blocks, n_b, n_b] row-major diagonal blocks; sub: [num_blocks - 1, n_b, n_b] the
  /// blocks (k + 1, k) below the diagonal. Throws p2pgrid::Error if the matrix is not positive
  /// definite (names the block and pivot).
  void factor(int num_blocks, int block_size, std::vector<double> diag, std::vector<double> sub);

  /// Solves M x = b in place for the leading `blocks` blocks, for `cols` right-hand sides stored
  /// as x[(k * n_b + i) * cols + c] (variable-major, env-minor: inner loops run over envs).
  void solve(int blocks, int cols, double* x) const;

  int num_blocks() const { return num_blocks_; }
  int block_size() const { return n_; }

  /// Nonzeros of the strictly lower part of L_kk (CSR by row) and of the linked rows of
  /// L_(k+1),k, per block. Orderings that put the variables local to one prosumer first keep
  /// these sparse; the solves touch nonzeros only.
  struct Csr {
    std::vector<int> row_ptr, cols;
    std::vector<double> vals;
  };
  /// Read-only views of the factor, for the solve kernels.
  struct Parts {
    int n;
    const std::vector<int>* link_rows;
    const std::vector<Csr>* l_diag;
    const std::vector<double>* inv_diag;
    const std::vector<Csr>* l_sub;
  };

 private:
  int num_blocks_ = 0, n_ = 0;
  std::vector<Csr> l_diag_;      // [num_blocks] strictly lower L_kk
  std::vector<double> inv_diag_; // [num_blocks, n] 1 / L_kk(i, i)
  std::vector<int> link_rows_;   // local rows where the sub-diagonal blocks can be nonzero
  std::vector<Csr> l_sub_;       // [num_blocks - 1] rows of L_(k+1),k on link_rows_
};

}  // namespace p2pgrid
