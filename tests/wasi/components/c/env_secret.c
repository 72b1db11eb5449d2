// Prints FLOTILLA_SECRET (or "unset"), then the whole environment the guest received, one
// entry a line after a count: the host must show exactly the variables given with --env.
#include <stdio.h>
#include <stdlib.h>

extern char** environ;

int main(void) {
  const char* v = getenv("FLOTILLA_SECRET");
  printf("FLOTILLA_SECRET: %s\n", v ? v : "unset");
  int n = 0;
  while (environ && environ[n]) ++n;
  printf("environ: %d\n", n);
  for (int i = 0; i < n; ++i) printf("%s\n", environ[i]);
  return 0;
}
