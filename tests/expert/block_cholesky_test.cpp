// BlockTridiagonalCholesky against a dense solve of the assembled matrix: random SPD
// block-tridiagonal matrices whose sub-diagonal blocks are nonzero on a few rows only (the
// expert's KKT structure), several right-hand sides at once, leading sub-horizons (the factor
// of the leading blocks is the leading part of the full factor), and the error on a matrix that
// is not positive definite.
#include "p2pgrid/expert/block_cholesky.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "p2pgrid/core/error.hpp"
#include "support/env_fixtures.hpp"
#include "support/worst.hpp"

namespace p2pgrid {
namespace {

/// A random SPD block-tridiagonal matrix: diagonal blocks with a random sparsity pattern (some
/// rows start late, as the expert's local variables do), sub-diagonal blocks (k + 1, k) nonzero
/// only on `linked` rows, diagonally dominant so that it is SPD by Gershgorin.
struct BlockMatrix {
  int blocks = 0, n = 0;
  std::vector<double> diag;  // [blocks, n, n]
  std::vector<double> sub;   // [blocks - 1, n, n]

  /// The assembled leading `h` blocks, (h n) x (h n) row-major.
  std::vector<double> dense(int h) const {
    const int N = h * n;
    std::vector<double> m(std::size_t(N) * N, 0.0);
    for (int k = 0; k < h; ++k)
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          m[std::size_t(k * n + i) * N + k * n + j] = diag[(std::size_t(k) * n + i) * n + j];
          if (k + 1 < h) {
            const double c = sub[(std::size_t(k) * n + i) * n + j];  // row i of block k+1
            m[std::size_t((k + 1) * n + i) * N + k * n + j] = c;
            m[std::size_t(k * n + j) * N + (k + 1) * n + i] = c;
          }
        }
    return m;
  }
};

BlockMatrix random_block_matrix(int blocks, int n, const std::vector<int>& linked,
                                std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> val(-1.0, 1.0), pick(0.0, 1.0);
  BlockMatrix b;
  b.blocks = blocks;
  b.n = n;
  const std::size_t nn = std::size_t(n) * n;
  b.diag.assign(blocks * nn, 0.0);
  b.sub.assign((blocks - 1) * nn, 0.0);
  for (int k = 0; k + 1 < blocks; ++k)
    for (int i : linked)
      for (int j = 0; j < n; ++j)
        if (pick(rng) < 0.6) b.sub[k * nn + std::size_t(i) * n + j] = val(rng);
  for (int k = 0; k < blocks; ++k) {
    double* d = b.diag.data() + k * nn;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < i; ++j)
        // Rows of the first third start late: zeros before the diagonal's neighbourhood.
        if (pick(rng) < 0.4 && (i >= n / 3 || i - j <= 1)) {
          const double v = val(rng);
          d[std::size_t(i) * n + j] = v;
          d[std::size_t(j) * n + i] = v;
        }
    for (int i = 0; i < n; ++i) {
      double off = 0;
      for (int j = 0; j < n; ++j)
        if (j != i) off += std::abs(d[std::size_t(i) * n + j]);
      if (k > 0)  // row i of block k, left of the diagonal: sub block k - 1, row i
        for (int j = 0; j < n; ++j) off += std::abs(b.sub[(k - 1) * nn + std::size_t(i) * n + j]);
      if (k + 1 < blocks)  // right of the diagonal: column i of sub block k
        for (int r = 0; r < n; ++r) off += std::abs(b.sub[k * nn + std::size_t(r) * n + i]);
      d[std::size_t(i) * n + i] = off + 0.05 + 2.0 * pick(rng);
    }
  }
  return b;
}

/// Solves M X = B densely (Gaussian elimination, partial pivoting); B is [N, cols] row-major.
std::vector<double> dense_solve(std::vector<double> m, int N, std::vector<double> rhs, int cols) {
  for (int c = 0; c < N; ++c) {
    int p = c;
    for (int r = c + 1; r < N; ++r)
      if (std::abs(m[std::size_t(r) * N + c]) > std::abs(m[std::size_t(p) * N + c])) p = r;
    if (p != c) {
      for (int k = 0; k < N; ++k) std::swap(m[std::size_t(c) * N + k], m[std::size_t(p) * N + k]);
      for (int k = 0; k < cols; ++k)
        std::swap(rhs[std::size_t(c) * cols + k], rhs[std::size_t(p) * cols + k]);
    }
    for (int r = c + 1; r < N; ++r) {
      const double f = m[std::size_t(r) * N + c] / m[std::size_t(c) * N + c];
      if (f == 0.0) continue;
      for (int k = c; k < N; ++k) m[std::size_t(r) * N + k] -= f * m[std::size_t(c) * N + k];
      for (int k = 0; k < cols; ++k) rhs[std::size_t(r) * cols + k] -= f * rhs[std::size_t(c) * cols + k];
    }
  }
  for (int r = N - 1; r >= 0; --r)
    for (int k = 0; k < cols; ++k) {
      double s = rhs[std::size_t(r) * cols + k];
      for (int j = r + 1; j < N; ++j) s -= m[std::size_t(r) * N + j] * rhs[std::size_t(j) * cols + k];
      rhs[std::size_t(r) * cols + k] = s / m[std::size_t(r) * N + r];
    }
  return rhs;
}

/// max |a - b| / max(1, max |b|).
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    test::keep_worst(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

struct Case {
  int blocks, n;
  std::vector<int> linked;
  std::uint64_t seed;
};

TEST(BlockCholesky, SolveMatchesDenseSolveOfTheAssembledMatrix) {
  const std::vector<Case> cases = {
      {6, 12, {3, 7, 11}, 1}, {10, 9, {0}, 2}, {4, 20, {5, 6, 13, 19}, 3}, {1, 8, {}, 4},
      {2, 5, {0, 1, 2, 3, 4}, 5}};
  for (const Case& c : cases) {
    SCOPED_TRACE("blocks " + std::to_string(c.blocks) + ", n " + std::to_string(c.n) +
                 ", seed " + std::to_string(c.seed));
    const BlockMatrix bm = random_block_matrix(c.blocks, c.n, c.linked, c.seed);
    BlockTridiagonalCholesky f;
    f.factor(c.blocks, c.n, bm.diag, bm.sub);
    EXPECT_EQ(f.num_blocks(), c.blocks);
    EXPECT_EQ(f.block_size(), c.n);
    const int N = c.blocks * c.n;
    for (int cols : {1, 3, 8}) {
      std::mt19937_64 rng(c.seed * 100 + cols);
      std::uniform_real_distribution<double> val(-5.0, 5.0);
      std::vector<double> rhs(std::size_t(N) * cols);
      for (double& v : rhs) v = val(rng);
      // Layout of solve(): x[(k n + i) cols + c], the same as row-major [N, cols].
      std::vector<double> x = rhs;
      f.solve(c.blocks, cols, x.data());
      const std::vector<double> ref = dense_solve(bm.dense(c.blocks), N, rhs, cols);
      EXPECT_LT(relative_error(x, ref), 1e-11) << cols << " right-hand sides";
    }
  }
}

// The key property for the shrinking horizon: elimination starts at block 0, so solving the
// leading h blocks with the full factor is solving the leading principal submatrix.
TEST(BlockCholesky, LeadingBlocksSolveTheLeadingPrincipalSubmatrix) {
  const BlockMatrix bm = random_block_matrix(8, 10, {2, 4, 9}, 42);
  BlockTridiagonalCholesky f;
  f.factor(8, 10, bm.diag, bm.sub);
  const int cols = 5;
  for (int h = 1; h <= 8; ++h) {
    SCOPED_TRACE("leading blocks " + std::to_string(h));
    const int N = h * bm.n;
    std::mt19937_64 rng(h);
    std::uniform_real_distribution<double> val(-1.0, 1.0);
    std::vector<double> rhs(std::size_t(N) * cols);
    for (double& v : rhs) v = val(rng);
    // Values past the leading blocks must be neither read nor written.
    std::vector<double> x(std::size_t(8) * bm.n * cols, 1e300);
    std::copy(rhs.begin(), rhs.end(), x.begin());
    f.solve(h, cols, x.data());
    const std::vector<double> ref = dense_solve(bm.dense(h), N, rhs, cols);
    EXPECT_LT(relative_error(std::vector<double>(x.begin(), x.begin() + rhs.size()), ref), 1e-11);
    for (std::size_t i = rhs.size(); i < x.size(); ++i) ASSERT_EQ(x[i], 1e300) << "element " << i;
    // And the full matrix's solution differs (the trailing blocks couple in): the check above
    // is not vacuous.
    if (h < 8) {
      std::vector<double> full_rhs(std::size_t(8) * bm.n * cols, 0.0);
      std::copy(rhs.begin(), rhs.end(), full_rhs.begin());
      const std::vector<double> full = dense_solve(bm.dense(8), 8 * bm.n, full_rhs, cols);
      EXPECT_GT(relative_error(std::vector<double>(full.begin(), full.begin() + rhs.size()), ref),
                1e-8);
    }
  }
}

TEST(BlockCholesky, NotPositiveDefiniteNamesBlockAndPivot) {
  // A negative pivot in a diagonal block on its own: block 2, pivot 1.
  {
    const int blocks = 4, n = 3;
    std::vector<double> diag(blocks * n * n, 0.0), sub((blocks - 1) * n * n, 0.0);
    for (int k = 0; k < blocks; ++k)
      for (int i = 0; i < n; ++i) diag[(k * n + i) * n + i] = 1.0;
    diag[(2 * n + 1) * n + 1] = -1.0;
    BlockTridiagonalCholesky f;
    const std::string msg = test::error_of([&] { f.factor(blocks, n, diag, sub); });
    EXPECT_NE(msg.find("not positive definite"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(block 2, pivot 1:"), std::string::npos) << msg;
  }
  // Diagonal blocks SPD on their own; the coupling makes the Schur complement of block 1
  // indefinite at pivot 1: [1 0; 0 1] - c c' with c = (0, 2).
  {
    const int blocks = 3, n = 2;
    std::vector<double> diag(blocks * n * n, 0.0), sub((blocks - 1) * n * n, 0.0);
    for (int k = 0; k < blocks; ++k)
      for (int i = 0; i < n; ++i) diag[(k * n + i) * n + i] = 1.0;
    sub[(0 * n + 1) * n + 0] = 2.0;  // block (1, 0): row 1, column 0
    BlockTridiagonalCholesky f;
    const std::string msg = test::error_of([&] { f.factor(blocks, n, diag, sub); });
    EXPECT_NE(msg.find("(block 1, pivot 1:"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace p2pgrid
