/* A WASI command: greets its arguments, reports an environment variable, and lists and reads
 * the directory it was given. Built at build time into greet.core.wasm (preview1) and
 * greet.component.wasm (`jco new --wasi-command`). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  int status = argc > 1 ? 0 : 3; /* nobody to greet: exit 3 */
  for (int i = 1; i < argc; ++i) printf("Hello, %s!\n", argv[i]);
  const char* who = getenv("GREETING");
  printf("GREETING=%s\n", who ? who : "(not passed)");
  DIR* d = opendir("/data");
  if (!d) {
    printf("no /data preopen\n");
    return status;
  }
  struct dirent* e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') printf("/data/%s\n", e->d_name);
  closedir(d);
  FILE* f = fopen("/data/../../etc/passwd", "r");
  printf("escape to /etc/passwd: %s\n", f ? "OPENED (bug)" : "refused");
  if (f) fclose(f);
  return status;
}
