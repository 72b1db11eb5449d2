// Sieve of Eratosthenes over 1M numbers plus a hash of the primes, repeated n times.
#include "bench.h"

#define LIMIT 1000000
static uint8_t composite[LIMIT];

int64_t NAME(run)(int32_t n) {
  uint64_t hash = 1469598103934665603ull;
  for (int r = 0; r < n; r++) {
    for (int i = 0; i < LIMIT; i++) composite[i] = 0;
    for (int i = 2; (int64_t)i * i < LIMIT; i++)
      if (!composite[i])
        for (int j = i * i; j < LIMIT; j += i) composite[j] = 1;
    for (int i = 2; i < LIMIT; i++)
      if (!composite[i]) hash = (hash ^ (uint64_t)i) * 1099511628211ull;
  }
  return (int64_t)hash;
}
