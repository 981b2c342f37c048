/* child_capture.h - run a function in a forked child, capture its stderr and
 * exit status (for testing fatal-error paths). */
#ifndef RD_TESTS_CHILD_CAPTURE_H
#define RD_TESTS_CHILD_CAPTURE_H

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn() in a child; returns its exit status (or 128+signal) and its
 * stderr (first out_len-1 bytes) in out. */
static int run_captured(void (*fn)(void), char *out, size_t out_len) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    fn();
    _exit(0);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < out_len && (r = read(fds[0], out + n, out_len - 1 - n)) > 0) n += (size_t)r;
  out[n] = '\0';
  char sink[256];
  while (read(fds[0], sink, sizeof sink) > 0) {
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
