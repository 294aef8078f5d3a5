#!/usr/bin/env bash
# The GPU session in one call: the CUDA build, the GPU tests and the CUDA benchmarks that
# docs/performance.md asks for ("To run on the H200"), for a machine that reaches no package
# registry (the lent H200: see the device tool's README).
#
#   tools/gpu_session.sh prepare   here: copies GoogleTest's sources and nlohmann/json's headers
#                                  into .carry/ (git-ignored) for the call below to carry
#   tools/gpu_session.sh run       there, e.g. the device tool's `run` with carry [".carry"]:
#                                  configure and build build-gpu/ with P2P_CUDA=ON, run every
#                                  test with P2P_REQUIRE_GPU=1 (a GPU test that cannot run
#                                  fails) and P2P_CUDA_SYNC=1 (a kernel fault names its
#                                  kernel), then the benchmarks and an expert rollout (the env on
#                                  the GPU, re-planned every 24 steps); logs and one JSON each
#                                  under $OUT (default out/gpu), a summary table printed last.
# Environment: OUT, JOBS (default: all cores), BENCH_TIMEOUT (s per benchmark, default 150: the device tool allows 600 s a call),
# P2P_GPU_SESSION_NO_GPU=1 (check the script on a machine without a GPU: tests run without
# P2P_REQUIRE_GPU and the CUDA benchmarks are skipped).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
action="${1:-}"

case "$action" in
  prepare)
    gtest_src=/usr/src/googletest
    json_inc=/usr/include/nlohmann
    [ -f "$gtest_src/CMakeLists.txt" ] || { echo "gpu_session: no $gtest_src (apt-get install libgtest-dev)" >&2; exit 1; }
    [ -f "$json_inc/json.hpp" ] || { echo "gpu_session: no $json_inc (apt-get install nlohmann-json3-dev)" >&2; exit 1; }
    rm -rf .carry/googletest .carry/include
    mkdir -p .carry/include
    cp -r "$gtest_src" .carry/googletest
    cp -r "$json_inc" .carry/include/nlohmann
    echo "gpu_session: .carry/ ready ($(du -sh .carry | cut -f1)); carry it with the run call"
    ;;
  run)
    out="${OUT:-out/gpu}"
    jobs="${JOBS:-$(nproc)}"
    limit="${BENCH_TIMEOUT:-150}"
    mkdir -p "$out"
    [ -d .carry/googletest ] || { echo "gpu_session: no .carry/ (run 'prepare' first and carry it)" >&2; exit 1; }
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$out/nvidia-smi.txt"
    if ! { cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DP2P_CUDA=ON \
             -DP2P_GTEST_SOURCE_DIR="$here/.carry/googletest" \
             -DP2P_JSON_INCLUDE_DIR="$here/.carry/include" &&
           cmake --build build-gpu -j "$jobs"; } > "$out/build.log" 2>&1; then
      tail -40 "$out/build.log"
      echo "gpu_session: build failed (log: $out/build.log)" >&2
      exit 1
    fi
    # The GPU tests fail instead of skipping whenever P2P_REQUIRE_GPU is set (even empty).
    if [ "${P2P_GPU_SESSION_NO_GPU:-0}" = 1 ]; then unset P2P_REQUIRE_GPU; else export P2P_REQUIRE_GPU=1; fi
    tests_rc=0
    # The tests synchronize after every kernel launch (P2P_CUDA_SYNC=1), so that a fault in a
    # first run on real hardware names its kernel; the benchmarks below run without it.
    P2P_CUDA_SYNC=1 ctest --test-dir build-gpu --output-on-failure -j "$jobs" > "$out/tests.log" 2>&1 ||
      tests_rc=$?
    benches=()
    if [ "${P2P_GPU_SESSION_NO_GPU:-0}" != 1 ]; then
      for m in sweep zbus; do
        for b in 4096 65536; do benches+=("powerflow --method $m --batch $b"); done
      done
      benches+=("env --batch 4096")
      for b in 256 1024; do benches+=("expert --batch $b --repetitions 2 --set bench.warmup=0"); done
      # Every plan of the last repetition certified afterwards (untimed): the GPU's answers
      # checked by weak duality, with no second solver.
      benches+=("expert --batch 4096 --repetitions 2 --set bench.warmup=0 --set bench.certify=true")
      # Warm-started from the plans of the day before, left on the device (AdmmDeviceIterates).
      benches+=("expert --batch 4096 --repetitions 2 --set bench.warmup=0 --set bench.expert_warm_start=true")
    fi
    rows=()
    for args in "${benches[@]}"; do
      name="bench_$(echo "$args" | tr -cs 'A-Za-z0-9' '_' | sed 's/_$//')"
      # shellcheck disable=SC2086  # args are words
      if timeout "$limit" build-gpu/p2pgrid bench $args --backend cuda > "$out/$name.json" \
           2> "$out/$name.err"; then
        # The expert's rows add its iterations: a GPU batch lasts as long as its slowest plan.
        rows+=("$(python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))
extra = ""
if "iterations_max" in j:
    extra = "  (iterations mean %.0f, max %d; ADMM alone %.1f/s)" % (
        j["mean_iterations"], j["iterations_max"], j["solve_plans_per_s"])
if "certificate" in j:
    c = j["certificate"]
    extra += "  (certified gap max %s, %d plans without a bound)" % (
        c["gap_max"], c["without_bound"])
print("%-58s %14.1f %s%s" % (sys.argv[2], j["throughput_per_s"], j["unit"], extra))' \
          "$out/$name.json" "$args")")
      else
        rows+=("$(printf '%-58s %14s' "$args" "FAILED (rc $?, see $name.err)")")
      fi
    done
    # The expert in the loop: the env on the GPU, re-planned every 24 steps (4 batched plans a
    # day, warm-started from the device copies, same-day re-plans from the DSO's offsets).
    if [ "${P2P_GPU_SESSION_NO_GPU:-0}" != 1 ]; then
      rollout_args="rollout --policy expert --backend cuda --split train --days 269 --json --set expert.resolve_every_steps=24"
      # shellcheck disable=SC2086  # args are words
      # Exit 1 with a whole report: some plans were unusable (the row counts them).
      rc=0
      timeout "$limit" build-gpu/p2pgrid $rollout_args > "$out/rollout_expert_cuda.json" \
        2> "$out/rollout_expert_cuda.err" || rc=$?
      if [ "$rc" -le 1 ] && row="$(tools/gpu_session.sh rollout-row "$out/rollout_expert_cuda.json")"; then
        rows+=("$row")
      else
        rows+=("$(printf '%-58s %14s' "$rollout_args" "FAILED (rc $rc, see rollout_expert_cuda.err)")")
      fi
    fi
    echo
    echo "tests: $(grep -E 'tests passed|tests failed' "$out/tests.log" | tail -1) (log: $out/tests.log)"
    [ "$tests_rc" = 0 ] || grep -E '^\s+[0-9]+ - ' "$out/tests.log" | head -20
    printf '%-58s %14s %s\n' "bench (--backend cuda)" "throughput" "unit"
    for r in "${rows[@]}"; do echo "$r"; done
    exit "$tests_rc"
    ;;
  rollout-row)  # one summary line of a `rollout --policy expert --json` report
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
x = r["expert"]
print("%-58s %14.1f %s  (%d plans in %.1f s; iterations mean %.0f, max %d; %d DSO re-solves; "
      "%d not solved, %d failed the AC check)" % (
    "rollout --policy expert, %d %s days (%s)" % (len(r["days"]), r["split"], r["backend"]),
    x["plans"] / x["plan_s"],
    "env_day_plans_per_s", x["plans"], x["plan_s"], x["mean_iterations"], x["max_iterations"],
    x["dso_resolved_plans"], x["unsolved_plans"], x["unverified_plans"]))' "$2"
    ;;
  *)
    echo "usage: tools/gpu_session.sh prepare | run | rollout-row REPORT.json" >&2
    exit 2
    ;;
esac
