// Shared by the benchmark programs: NAME(run) becomes <prefix>run when built natively (so the
// three programs can live in one executable) and plain `run` for wasm32.
#pragma once
#include <stdint.h>

#ifndef BENCH_PREFIX
#define BENCH_PREFIX
#endif
#define BENCH_CAT2(a, b) a##b
#define BENCH_CAT(a, b) BENCH_CAT2(a, b)
#define NAME(x) BENCH_CAT(BENCH_PREFIX, x)
