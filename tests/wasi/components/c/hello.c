// One line on stdout, one on stderr, exit status 0.
#include <stdio.h>

int main(void) {
  fputs("hello from C\n", stdout);
  fputs("to stderr\n", stderr);
  return 0;
}
