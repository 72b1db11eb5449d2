// fs OP ARGS... [OP ARGS...]: runs file-system operations in sequence, relative to the
// current directory (the preopen mounted at "/" or "."), and reports each on stdout:
//   cat PATH              the file's bytes, verbatim
//   write PATH TEXT       create or truncate, then write TEXT          -> "write PATH: ok"
//   append PATH TEXT      open with O_APPEND and write TEXT
//   excl PATH             create with O_CREAT|O_EXCL
//   pread PATH OFF LEN    LEN bytes from offset OFF                    -> "pread PATH: <bytes>"
//   truncate PATH LEN     set the size
//   mkdir/rmdir/unlink PATH, rename OLD NEW, link OLD NEW, symlink TARGET PATH
//   readlink PATH         -> "readlink PATH: TARGET"
//   stat PATH / lstat PATH -> "stat PATH: file|dir|symlink|other SIZE"
//   ls PATH               the entries (not . and ..) sorted, "  NAME TYPE" each
// A failed operation prints "OP PATH: ERRNAME" and the run continues; the exit status is 1
// if any operation failed, 0 otherwise, 2 for a usage error.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errname.h"

static int failed = 0;

static void report(const char* op, const char* path, int ok) {
  if (ok) {
    printf("%s %s: ok\n", op, path);
  } else {
    printf("%s %s: %s\n", op, path, errno_name(errno));
    failed = 1;
  }
}

static const char* type_of(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "dir";
  if (S_ISLNK(m)) return "symlink";
  return "other";
}

static int write_all(int fd, const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return 0;
    s += w;
    n -= (size_t)w;
  }
  return 1;
}

static void op_write(const char* op, const char* path, const char* text, int flags) {
  int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
  if (fd < 0) return report(op, path, 0);
  int ok = write_all(fd, text);
  int saved = errno;
  close(fd);
  errno = saved;
  report(op, path, ok);
}

static void op_cat(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return report("cat", path, 0);
  char buf[4096];
  ssize_t n;
  fflush(stdout);
  while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
  if (n < 0) report("cat", path, 0);
  close(fd);
}

static void op_pread(const char* path, const char* off, const char* len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return report("pread", path, 0);
  size_t n = (size_t)atoi(len);
  char* buf = malloc(n + 1);
  ssize_t got = pread(fd, buf, n, (off_t)atoll(off));
  if (got < 0) {
    report("pread", path, 0);
  } else {
    buf[got] = 0;
    printf("pread %s: %s\n", path, buf);
  }
  free(buf);
  close(fd);
}

static void op_stat(const char* op, const char* path, int follow) {
  struct stat st;
  int r = follow ? stat(path, &st) : lstat(path, &st);
  if (r != 0) return report(op, path, 0);
  printf("%s %s: %s %lld\n", op, path, type_of(st.st_mode),
         S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
}

static int by_name(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

static void op_ls(const char* path) {
  DIR* d = opendir(path);
  if (!d) return report("ls", path, 0);
  char* names[256];
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < 256) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    const char* t = e->d_type == DT_REG   ? "file"
                    : e->d_type == DT_DIR ? "dir"
                    : e->d_type == DT_LNK ? "symlink"
                                          : "other";
    size_t len = strlen(e->d_name) + strlen(t) + 2;
    names[n] = malloc(len);
    snprintf(names[n], len, "%s %s", e->d_name, t);
    ++n;
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  printf("ls %s:\n", path);
  for (int i = 0; i < n; ++i) {
    printf("  %s\n", names[i]);
    free(names[i]);
  }
}

int main(int argc, char** argv) {
  int i = 1;
  // Each operation consumes its name and a fixed number of arguments.
#define NEED(k)                                                \
  do {                                                         \
    if (i + (k) >= argc) {                                     \
      fprintf(stderr, "fs: %s needs %d argument(s)\n", op, k); \
      return 2;                                                \
    }                                                          \
  } while (0)
  while (i < argc) {
    const char* op = argv[i];
    if (!strcmp(op, "cat")) {
      NEED(1);
      op_cat(argv[i + 1]);
      i += 2;
    } else if (!strcmp(op, "write") || !strcmp(op, "append")) {
      NEED(2);
      op_write(op, argv[i + 1], argv[i + 2], op[0] == 'w' ? O_TRUNC : O_APPEND);
      i += 3;
    } else if (!strcmp(op, "excl")) {
      NEED(1);
      int fd = open(argv[i + 1], O_WRONLY | O_CREAT | O_EXCL, 0644);
      report(op, argv[i + 1], fd >= 0);
      if (fd >= 0) close(fd);
      i += 2;
    } else if (!strcmp(op, "pread")) {
      NEED(3);
      op_pread(argv[i + 1], argv[i + 2], argv[i + 3]);
      i += 4;
    } else if (!strcmp(op, "truncate")) {
      NEED(2);
      report(op, argv[i + 1], truncate(argv[i + 1], (off_t)atoll(argv[i + 2])) == 0);
      i += 3;
    } else if (!strcmp(op, "mkdir")) {
      NEED(1);
      report(op, argv[i + 1], mkdir(argv[i + 1], 0755) == 0);
      i += 2;
    } else if (!strcmp(op, "rmdir")) {
      NEED(1);
      report(op, argv[i + 1], rmdir(argv[i + 1]) == 0);
      i += 2;
    } else if (!strcmp(op, "unlink")) {
      NEED(1);
      report(op, argv[i + 1], unlink(argv[i + 1]) == 0);
      i += 2;
    } else if (!strcmp(op, "rename")) {
      NEED(2);
      report(op, argv[i + 1], rename(argv[i + 1], argv[i + 2]) == 0);
      i += 3;
    } else if (!strcmp(op, "link")) {
      NEED(2);
      report(op, argv[i + 1], link(argv[i + 1], argv[i + 2]) == 0);
      i += 3;
    } else if (!strcmp(op, "symlink")) {
      NEED(2);
      report(op, argv[i + 2], symlink(argv[i + 1], argv[i + 2]) == 0);
      i += 3;
    } else if (!strcmp(op, "readlink")) {
      NEED(1);
      char buf[512];
      ssize_t n = readlink(argv[i + 1], buf, sizeof buf - 1);
      if (n < 0) {
        report(op, argv[i + 1], 0);
      } else {
        buf[n] = 0;
        printf("readlink %s: %s\n", argv[i + 1], buf);
      }
      i += 2;
    } else if (!strcmp(op, "stat") || !strcmp(op, "lstat")) {
      NEED(1);
      op_stat(op, argv[i + 1], op[0] == 's');
      i += 2;
    } else if (!strcmp(op, "ls")) {
      NEED(1);
      op_ls(argv[i + 1]);
      i += 2;
    } else {
      fprintf(stderr, "fs: unknown operation '%s'\n", op);
      return 2;
    }
    fflush(stdout);
  }
  return failed;
}
