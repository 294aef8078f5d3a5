// The number of CPU worker threads a per-env loop uses: `requested` when positive, else all
// cores OpenMP sees (OMP_NUM_THREADS respected); 1 in builds without OpenMP.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace p2pgrid {

inline int cpu_threads(int requested = 0) {
#if defined(_OPENMP)
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

/// The cores `threads` workers can run on at once: more threads than the machine's processors
/// share them, so a per-core figure divides by this (--threads 64 on 2 cores is 2 cores' work).
inline int cores_used(int threads) {
#if defined(_OPENMP)
  const int procs = omp_get_num_procs();
  return threads < procs ? threads : procs;
#else
  (void)threads;
  return 1;
#endif
}

}  // namespace p2pgrid
