// args_env CODE [NAME...]: prints argc and every argv entry (argv[0] too), then for each NAME
// either "NAME=value" or "NAME unset", and exits with status CODE.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
  for (int i = 2; i < argc; ++i) {
    const char* v = getenv(argv[i]);
    if (v)
      printf("%s=%s\n", argv[i], v);
    else
      printf("%s unset\n", argv[i]);
  }
  fflush(stdout);
  return argc > 1 ? atoi(argv[1]) : 0;
}
