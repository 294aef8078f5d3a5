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

}  // namespace p2pgrid
