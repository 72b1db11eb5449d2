// Copies stdin to stdout in small chunks until end of input, so that a large input has to be
// streamed through many reads and writes. Prints the byte count on stderr.
#include <stdio.h>
#include <unistd.h>

#include "errname.h"

int main(void) {
  char buf[4096];
  unsigned long long total = 0;
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      fprintf(stderr, "read: %s\n", errno_name(errno));
      return 1;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(1, buf + off, (size_t)(n - off));
      if (w <= 0) {
        fprintf(stderr, "write: %s\n", errno_name(errno));
        return 1;
      }
      off += w;
    }
    total += (unsigned long long)n;
  }
  fprintf(stderr, "copied %llu bytes\n", total);
  return 0;
}
