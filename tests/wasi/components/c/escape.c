// escape MOUNT: tries, in many ways, to reach files outside the preopened directory that the
// guest sees at MOUNT ("/" or "/sandbox"). Every attempt must fail. For each attempt one line
// "NAME: ERRNAME" (the errno of the failure) or "NAME: ESCAPED" (it succeeded) is printed;
// the exit status is 1 if any attempt succeeded, 0 otherwise.
//
// The host test script prepares the sandbox and its surroundings:
//   WORK/outside.txt, WORK/outside_dir/secret.txt, WORK/outside_empty/   (outside)
//   WORK/sandbox/inside.txt, WORK/sandbox/sub/                           (the preopen)
//   WORK/sandbox/abs_link -> WORK/outside.txt       rel_link -> ../outside.txt
//   WORK/sandbox/sub/up_link -> ../../outside.txt   root_link -> /
//   WORK/sandbox/abs_dir_link -> WORK/outside_dir   rel_dir_link -> ../outside_dir
//   WORK/sandbox/dangling_abs -> WORK/created_by_abs_link.txt (does not exist)
//   WORK/sandbox/dangling_rel -> ../created_by_rel_link.txt   (does not exist)
// Lines marked "(info)" are not escapes either way (making a symlink is harmless in itself;
// following it is what must fail) and do not count.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static const char* mount;
static int escapes = 0;

// MOUNT joined with a relative path, e.g. "/sandbox" + "../x" -> "/sandbox/../x".
static const char* at(const char* rel) {
  static char bufs[4][512];
  static int next = 0;
  char* b = bufs[next++ % 4];
  size_t n = strlen(mount);
  snprintf(b, sizeof bufs[0], "%s%s%s", mount, n && mount[n - 1] == '/' ? "" : "/", rel);
  return b;
}

// Records the outcome of one attempt: `ok` true means the guest got what it must not get.
static void attempt(const char* name, int ok) {
  if (ok) {
    printf("%s: ESCAPED\n", name);
    ++escapes;
  } else {
    printf("%s: %s\n", name, errno_name(errno));
  }
  fflush(stdout);
}

static void info(const char* name, int ok) {
  printf("%s (info): %s\n", name, ok ? "ok" : errno_name(errno));
}

static void try_open(const char* name, const char* path, int flags) {
  errno = 0;
  int fd = open(path, flags, 0644);
  attempt(name, fd >= 0);
  if (fd >= 0) close(fd);
}

static void try_opendir(const char* name, const char* path) {
  errno = 0;
  DIR* d = opendir(path);
  attempt(name, d != NULL);
  if (d) closedir(d);
}

static void try_stat(const char* name, const char* path) {
  struct stat st;
  errno = 0;
  attempt(name, stat(path, &st) == 0);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: escape MOUNT\n");
    return 2;
  }
  mount = argv[1];

  // Reading files outside through "..".
  try_open("open-dotdot", at("../outside.txt"), O_RDONLY);
  try_open("open-dot-dotdot", at("./../outside.txt"), O_RDONLY);
  try_open("open-sub-dotdot", at("sub/../../outside.txt"), O_RDONLY);
  try_open("open-deep-dotdot", at("../../../../../../../../../etc/passwd"), O_RDONLY);
  try_open("open-mount-dotdot-etc", at("../etc/passwd"), O_RDONLY);
  // An absolute host path: under MOUNT "/" it names a file inside the sandbox (absent).
  try_open("open-etc-passwd", "/etc/passwd", O_RDONLY);

  // Following symlinks that the host placed inside the sandbox.
  try_open("open-abs-link", at("abs_link"), O_RDONLY);
  try_open("open-rel-link", at("rel_link"), O_RDONLY);
  try_open("open-sub-up-link", at("sub/up_link"), O_RDONLY);
  try_open("open-abs-dir-link", at("abs_dir_link/secret.txt"), O_RDONLY);
  try_open("open-rel-dir-link", at("rel_dir_link/secret.txt"), O_RDONLY);
  try_open("open-root-link", at("root_link/etc/passwd"), O_RDONLY);
  try_opendir("opendir-abs-dir-link", at("abs_dir_link"));
  {
    // ".." from a descriptor of a subdirectory, resolved by the host beneath that descriptor.
    int dfd = open(at("sub"), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
      printf("open sub: %s\n", errno_name(errno));
      return 2;
    }
    errno = 0;
    int fd = openat(dfd, "../../outside.txt", O_RDONLY);
    attempt("openat-sub-dotdot", fd >= 0);
    if (fd >= 0) close(fd);
    close(dfd);
  }
  try_stat("stat-abs-link", at("abs_link"));

  // Creating or changing files outside.
  try_open("create-dotdot", at("../created.txt"), O_WRONLY | O_CREAT);
  try_open("create-dangling-abs-link", at("dangling_abs"), O_WRONLY | O_CREAT);
  try_open("create-dangling-rel-link", at("dangling_rel"), O_WRONLY | O_CREAT);
  try_open("write-abs-link", at("abs_link"), O_WRONLY | O_TRUNC);
  try_open("append-rel-link", at("rel_link"), O_WRONLY | O_APPEND);
  errno = 0;
  attempt("truncate-abs-link", truncate(at("abs_link"), 0) == 0);
  {
    struct timespec ts[2] = {{0, 0}, {0, 0}};
    errno = 0;
    attempt("utimens-abs-link", utimensat(AT_FDCWD, at("abs_link"), ts, 0) == 0);
  }

  // Symlinks the guest makes itself, then follows.
  errno = 0;
  info("symlink-abs-create", symlink("/etc/passwd", at("made_abs")) == 0);
  try_open("symlink-abs-open", at("made_abs"), O_RDONLY);
  errno = 0;
  info("symlink-rel-create", symlink("../outside.txt", at("made_rel")) == 0);
  try_open("symlink-rel-open", at("made_rel"), O_RDONLY);

  // Moving and linking files across the boundary, both ways.
  errno = 0;
  attempt("rename-out", rename(at("inside.txt"), at("../moved_out.txt")) == 0);
  errno = 0;
  attempt("rename-out-via-link", rename(at("inside.txt"), at("abs_dir_link/moved_out.txt")) == 0);
  errno = 0;
  attempt("rename-in", rename(at("../outside.txt"), at("stolen.txt")) == 0);
  errno = 0;
  attempt("link-out", link(at("inside.txt"), at("../linked_out.txt")) == 0);
  errno = 0;
  attempt("link-in", link(at("../outside.txt"), at("stolen_link.txt")) == 0);
  errno = 0;
  attempt("link-in-via-link", link(at("abs_dir_link/secret.txt"), at("stolen_link2.txt")) == 0);

  // Directories outside.
  errno = 0;
  attempt("mkdir-dotdot", mkdir(at("../x"), 0755) == 0);
  errno = 0;
  attempt("mkdir-via-link", mkdir(at("abs_dir_link/x"), 0755) == 0);
  errno = 0;
  attempt("rmdir-dotdot", rmdir(at("../outside_empty")) == 0);
  errno = 0;
  attempt("unlink-dotdot", unlink(at("../outside.txt")) == 0);
  errno = 0;
  attempt("unlink-via-link", unlink(at("abs_dir_link/secret.txt")) == 0);
  try_stat("stat-dotdot", at("../"));
  try_stat("stat-dotdot-file", at("../outside.txt"));
  try_opendir("opendir-dotdot", at(".."));
  errno = 0;
  attempt("chdir-dotdot", chdir(at("..")) == 0);

  printf("escapes: %d\n", escapes);
  return escapes ? 1 : 0;
}
