/* child_util.h - running a piece of a data test in a child process, for
 * behaviour that ends the process (a user error, a failed CHECK, a signal).
 *
 * run_in_child(fn, arg, out, out_len) forks, runs fn(arg) in the child with
 * its stdout and stderr going into a pipe, and returns the child's exit
 * status (128 + the signal when a signal ended it, -1 when it could not
 * run); out receives what the child printed (NUL-terminated, cut at
 * out_len - 1 bytes).  fn returning counts as exit status 0.  The parent
 * reads until the child's end of the pipe closes, then reaps it: no timing
 * is involved.  Fork only while this process runs no threads of its own.
 */
#ifndef RD_TESTS_DATA_CHILD_UTIL_H
#define RD_TESTS_DATA_CHILD_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_in_child(void (*fn)(void *), void *arg, char *out, size_t out_len) {
  int fds[2];
  fflush(stdout);
  fflush(stderr);
  if (pipe(fds)) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(0);
  }
  close(fds[1]);
  size_t got = 0;
  for (;;) {
    char buf[4096];
    ssize_t r = read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    size_t take = (size_t)r < out_len - 1 - got ? (size_t)r : out_len - 1 - got;
    memcpy(out + got, buf, take);
    got += take;
  }
  out[got] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

#endif
