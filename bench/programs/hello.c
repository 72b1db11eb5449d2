/* The "hello" command for bench/wasi_run_bench.sh: built natively and as a WASI component. */
#include <stdio.h>

int main(void) {
  puts("hello");
  return 0;
}
