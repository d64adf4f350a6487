/*
 * paddock-calf-launch: starts a calf outside the priv (docs/decisions/0013-external-calves.md).
 *
 *     paddock-calf-launch [-e NAME=VALUE]... SOCKET COMMAND [ARG]...
 *
 * Connects twice to the priv's AF_UNIX stream socket SOCKET (RUNTIME_DIR/calves/NAME.sock, or the
 * one systemd's NAME.socket unit listens on), says which channel each connection is with one byte
 * ('C' control, then 'D' data; the priv pairs them by the peer's pid, SO_PEERCRED), puts them at
 * fd 3 and fd 4, closes every other descriptor above 2, and execs COMMAND with exactly the -e
 * variables as its environment. So the calf starts with what a runc-started calf has: fds 3 and 4
 * connected to the priv, stdio, nothing else.
 *
 * Static and tiny on purpose: it runs inside the calf's systemd sandbox (no network namespace of
 * its own choosing, no capabilities, the calf's seccomp allowlist applies to the calf after exec).
 * Every failure is one line on stderr and exit status 1 (systemd's Restart= tries again).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The bytes the priv expects first on each connection (packages/runtime/src/sandbox/external.ts). */
#define HELLO_CONTROL 'C'
#define HELLO_DATA 'D'
/* The calf's channels: fd 3 control, fd 4 data (docs/decisions/0002). */
#define CONTROL_FD 3
#define DATA_FD 4
/* More variables than a calf is ever given (HOME, NODE_OPTIONS): a typo'd loop, not a use. */
#define MAX_ENV 16

static void die(const char *what, const char *detail, int err) {
  if (err != 0) fprintf(stderr, "paddock-calf-launch: %s %s: %s\n", what, detail, strerror(err));
  else fprintf(stderr, "paddock-calf-launch: %s %s\n", what, detail);
  exit(1);
}

/* A connection to `path` on which `hello` was sent, at a descriptor above DATA_FD. */
static int connect_channel(const char *path, char hello) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) die("the socket path is longer than 107 bytes:", path, 0);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("cannot make a socket for", path, errno);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("cannot connect to", path, errno);
  ssize_t n;
  do n = write(fd, &hello, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) die("cannot greet the priv on", path, n < 0 ? errno : EIO);
  int high = fcntl(fd, F_DUPFD_CLOEXEC, DATA_FD + 1);
  if (high < 0) die("cannot move the connection to", path, errno);
  close(fd);
  return high;
}

int main(int argc, char **argv) {
  char *env[MAX_ENV + 1];
  int nenv = 0, i = 1;
  while (i + 1 < argc && strcmp(argv[i], "-e") == 0) {
    if (nenv == MAX_ENV) die("too many -e variables", "", 0);
    if (strchr(argv[i + 1], '=') == NULL) die("-e needs NAME=VALUE, not", argv[i + 1], 0);
    env[nenv++] = argv[i + 1];
    i += 2;
  }
  env[nenv] = NULL;
  if (argc - i < 2) {
    fprintf(stderr, "usage: paddock-calf-launch [-e NAME=VALUE]... SOCKET COMMAND [ARG]...\n");
    return 2;
  }
  const char *socket_path = argv[i];
  char **command = &argv[i + 1];
  if (command[0][0] != '/') die("COMMAND must be an absolute path, not", command[0], 0);

  int control = connect_channel(socket_path, HELLO_CONTROL);
  int data = connect_channel(socket_path, HELLO_DATA);
  /* dup2 clears close-on-exec on the copies: only fds 3 and 4 (and stdio) survive execve. */
  if (dup2(control, CONTROL_FD) < 0 || dup2(data, DATA_FD) < 0) die("cannot place the channels at fd 3 and 4", "", errno);
  if (syscall(SYS_close_range, DATA_FD + 1, ~0U, 0) < 0) {
    for (int fd = DATA_FD + 1; fd < 1024; fd++) close(fd);
  }
  execve(command[0], command, env);
  die("cannot run", command[0], errno);
  return 1;
}
