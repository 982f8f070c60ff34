/*
 * denovmm-agent: runs commands and moves files for the host, over a virtio-console port.
 * The wire format is guest/agent/PROTOCOL.md; the host side is src/agent/.
 *
 * One thread, one poll() loop over the port, a signalfd for SIGCHLD and each command's pipes.
 * Frames to the host are written whole with blocking writes, so a frame never interleaves with
 * another; the port's own flow control holds the agent back when the host lags.
 *
 * Build: musl-gcc -static -Os -o denovmm-agent agent.c   (guest/agent_build.ts does it)
 * Usage: denovmm-agent denovmm.agent   (a port name: found in /sys/class/virtio-ports; no udev here)
 *        denovmm-agent /dev/vport0p1   (a device path)
 *        denovmm-agent -               (frames on stdin/stdout: how host tests drive it without a VM)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
  EXEC = 1, STDIN_ = 2, KILL_ = 3, FILE_WRITE = 4, FILE_DATA = 5, FILE_END = 6,
  FILE_READ = 7, SHUTDOWN = 8, OUTPUT_CREDIT = 9,
  READY = 128, STARTED = 129, STDOUT_ = 130, STDERR_ = 131, EXIT_ = 132, CREDIT = 133,
  OK = 134, ERROR_ = 135,
};
#define HEADER 12
#define MAX_PAYLOAD 65536
#define MAX_CMDS 64
#define MAX_FILES 16
#define MAX_ARGS 4096
#define CHUNK 32768
#define PROTOCOL_VERSION 2
/* Output bytes per stream the agent may send before the host hands credit back. */
#define OUTPUT_WINDOW 262144

struct chunk { struct chunk *next; uint32_t len, off; unsigned char data[]; };

struct cmd {
  int used;
  uint32_t id;
  pid_t pid;
  int in, out, err;          /* our pipe ends; -1 when closed */
  int reaped, status;
  int stdin_eof;              /* host closed stdin: close the pipe once the queue drains */
  uint32_t credit[2];         /* output bytes the host will still take: stdout, stderr */
  struct chunk *head, *tail;  /* stdin not yet in the pipe */
};

struct file { int used; uint32_t id; int fd; int failed; };

static int port = -1;      /* read side: the console port, or stdin with "-" */
static int port_out = -1;  /* write side: the same port, or stdout */
static struct cmd cmds[MAX_CMDS];
static struct file files[MAX_FILES];
static unsigned char inbuf[HEADER + MAX_PAYLOAD];
static size_t inlen;
static unsigned char iobuf[CHUNK];

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static uint32_t get32(const unsigned char *p) {
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_all(const void *buf, size_t len) {
  const unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = write(port_out, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { perror("denovmm-agent: write to the host port"); exit(3); }
    p += n;
    len -= (size_t)n;
  }
}

static void send_frame(uint32_t type, uint32_t id, const void *payload, uint32_t len) {
  unsigned char h[HEADER];
  put32(h, len);
  h[4] = type; h[5] = type >> 8; h[6] = 0; h[7] = 0;
  put32(h + 8, id);
  write_all(h, HEADER);
  if (len > 0) write_all(payload, len);
}

static void send_u32s(uint32_t type, uint32_t id, uint32_t a, uint32_t b, int count) {
  unsigned char p[8];
  put32(p, a);
  put32(p + 4, b);
  send_frame(type, id, p, (uint32_t)count * 4);
}

static void send_error(uint32_t id, const char *what, int err) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  unsigned char p[4 + sizeof msg];
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  put32(p, (uint32_t)n);
  memcpy(p + 4, msg, (size_t)n);
  send_frame(ERROR_, id, p, 4 + (uint32_t)n);
}

/* A cursor over a payload; any short read marks it bad. */
struct rd { const unsigned char *p; uint32_t left; int bad; };

static uint32_t rd32(struct rd *r) {
  if (r->left < 4) { r->bad = 1; return 0; }
  uint32_t v = get32(r->p);
  r->p += 4; r->left -= 4;
  return v;
}

/* A NUL-terminated copy of the next string (malloc'd), or NULL when the payload is short. */
static char *rdstr(struct rd *r) {
  uint32_t len = rd32(r);
  if (r->bad || len > r->left) { r->bad = 1; return NULL; }
  char *s = malloc(len + 1);
  if (!s) { r->bad = 1; return NULL; }
  memcpy(s, r->p, len);
  s[len] = 0;
  r->p += len; r->left -= len;
  return s;
}

static struct cmd *find_cmd(uint32_t id) {
  for (int i = 0; i < MAX_CMDS; i++) if (cmds[i].used && cmds[i].id == id) return &cmds[i];
  return NULL;
}

static struct file *find_file(uint32_t id) {
  for (int i = 0; i < MAX_FILES; i++) if (files[i].used && files[i].id == id) return &files[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void free_queue(struct cmd *c) {
  while (c->head) { struct chunk *n = c->head->next; free(c->head); c->head = n; }
  c->tail = NULL;
}

static void free_strs(char **v, uint32_t n) {
  if (!v) return;
  for (uint32_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* In the child: report why the command cannot run on its stderr and exit like a shell would. */
static void child_fail(int code, const char *what, const char *arg) {
  dprintf(2, "denovmm-agent: %s %s: %s\n", what, arg, strerror(errno));
  _exit(code);
}

static void do_exec(uint32_t id, const unsigned char *payload, uint32_t len) {
  struct rd r = { payload, len, 0 };
  uint32_t flags = rd32(&r), argc = rd32(&r), envc = 0;
  char **argv = NULL, **envp = NULL, *cwd = NULL;
  if (r.bad || argc == 0 || argc > MAX_ARGS) { send_error(id, "exec: malformed request", EINVAL); return; }
  if (find_cmd(id)) { send_error(id, "exec: the id is in use", EBUSY); return; }
  argv = calloc(argc + 1, sizeof *argv);
  for (uint32_t i = 0; argv && i < argc; i++) argv[i] = rdstr(&r);
  envc = rd32(&r);
  if (!r.bad && envc <= MAX_ARGS) envp = calloc(envc + 1, sizeof *envp);
  for (uint32_t i = 0; envp && i < envc; i++) envp[i] = rdstr(&r);
  cwd = rdstr(&r);
  struct cmd *c = NULL;
  for (int i = 0; i < MAX_CMDS && !c; i++) if (!cmds[i].used) c = &cmds[i];
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
  if (!argv || !envp || !cwd || r.bad) {
    send_error(id, "exec: malformed request", EINVAL);
  } else if (!c) {
    send_error(id, "exec: too many commands at once", EAGAIN);
  } else if (((flags & 1) && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
             pipe2(err, O_CLOEXEC) < 0) {
    send_error(id, "exec: pipe", errno);
  } else {
    /* vfork: the child borrows the agent's memory until it execs, so no page tables are copied
     * (on kvm_pvm hosts that copy runs emulated); the child only touches its stack and makes
     * system calls. */
    pid_t pid = vfork();
    if (pid < 0) {
      send_error(id, "exec: fork", errno);
    } else if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      signal(SIGPIPE, SIG_DFL);
      setsid();  /* its own process group: KILL reaches what it starts, too */
      int nul = (flags & 1) ? in[0] : open("/dev/null", O_RDONLY);
      if (nul < 0 || dup2(nul, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(125);
      if (chdir(cwd[0] ? cwd : "/") < 0) child_fail(125, "cannot change to directory", cwd);
      execvpe(argv[0], argv, envp);
      if (errno == ENOEXEC && strchr(argv[0], '/')) {
        /* A script without #!: run it with sh, as shells and glibc's execvp do (musl's does not). */
        char *sh[MAX_ARGS + 2];
        sh[0] = "sh";
        memcpy(sh + 1, argv, (argc + 1) * sizeof *argv);
        execve("/bin/sh", sh, envp);
        errno = ENOEXEC;
      }
      child_fail(errno == ENOENT ? 127 : 126, "cannot run", argv[0]);
    } else {
      memset(c, 0, sizeof *c);
      c->used = 1;
      c->id = id;
      c->pid = pid;
      c->in = in[1];
      c->out = out[0];
      c->err = err[0];
      c->credit[0] = c->credit[1] = OUTPUT_WINDOW;
      close_fd(&in[0]);
      close_fd(&out[1]);
      close_fd(&err[1]);
      if (c->in >= 0) fcntl(c->in, F_SETFL, O_NONBLOCK);
      fcntl(c->out, F_SETFL, O_NONBLOCK);
      fcntl(c->err, F_SETFL, O_NONBLOCK);
      send_u32s(STARTED, id, (uint32_t)pid, 0, 1);
      in[1] = out[0] = err[0] = -1;
    }
  }
  for (int i = 0; i < 2; i++) { close_fd(&in[i]); close_fd(&out[i]); close_fd(&err[i]); }
  free_strs(argv, argc);
  free_strs(envp, envc);
  free(cwd);
}

static void do_stdin(uint32_t id, const unsigned char *p, uint32_t len) {
  struct cmd *c = find_cmd(id);
  if (!c) return;  /* the command has ended: its EXIT is on the way */
  if (len == 0) { c->stdin_eof = 1; if (!c->head) close_fd(&c->in); return; }
  if (c->in < 0) { send_u32s(CREDIT, id, len, 0, 1); return; }
  struct chunk *k = malloc(sizeof *k + len);
  if (!k) { send_u32s(CREDIT, id, len, 0, 1); return; }
  k->next = NULL; k->len = len; k->off = 0;
  memcpy(k->data, p, len);
  if (c->tail) c->tail->next = k; else c->head = k;
  c->tail = k;
}

/* Moves queued stdin into the pipe as far as it takes it; credits the host for each chunk. */
static void flush_stdin(struct cmd *c) {
  while (c->head && c->in >= 0) {
    struct chunk *k = c->head;
    ssize_t n = write(c->in, k->data + k->off, k->len - k->off);
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {  /* EPIPE: the command closed its stdin; drop what is left, credit it all */
      uint32_t dropped = 0;
      for (struct chunk *q = c->head; q; q = q->next) dropped += q->len;
      send_u32s(CREDIT, c->id, dropped, 0, 1);
      free_queue(c);
      close_fd(&c->in);
      return;
    }
    k->off += (uint32_t)n;
    if (k->off == k->len) {
      send_u32s(CREDIT, c->id, k->len, 0, 1);
      c->head = k->next;
      if (!c->head) c->tail = NULL;
      free(k);
    }
  }
  if (!c->head && c->stdin_eof) close_fd(&c->in);
}

enum { PUMP_EOF, PUMP_EMPTY, PUMP_NO_CREDIT };

/* Forwards what a pipe holds now, as far as the host's credit for the stream goes. With no credit
 * the pipe is left alone, so the command blocks on a full pipe: back-pressure to a slow reader. */
static int pump(struct cmd *c, int which) {
  int *fd = which == 0 ? &c->out : &c->err;
  uint32_t type = which == 0 ? STDOUT_ : STDERR_;
  for (;;) {
    if (c->credit[which] == 0) return PUMP_NO_CREDIT;
    size_t want = c->credit[which] < sizeof iobuf ? c->credit[which] : sizeof iobuf;
    ssize_t n = read(*fd, iobuf, want);
    if (n > 0) {
      c->credit[which] -= (uint32_t)n;
      send_frame(type, c->id, iobuf, (uint32_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return PUMP_EMPTY;
    close_fd(fd);
    return PUMP_EOF;
  }
}

/* After the command has been reaped: forward what its pipes still hold (a background child may
 * keep them open; what it writes later is not the command's), then send EXIT. Waits for credit
 * when the host has not taken the output yet. */
static void try_finish(struct cmd *c) {
  if (!c->used || !c->reaped) return;
  if (c->out >= 0 && pump(c, 0) == PUMP_NO_CREDIT) return;
  if (c->err >= 0 && pump(c, 1) == PUMP_NO_CREDIT) return;
  close_fd(&c->out);
  close_fd(&c->err);
  close_fd(&c->in);
  free_queue(c);
  int st = c->status;
  if (WIFSIGNALED(st)) send_u32s(EXIT_, c->id, 0, (uint32_t)WTERMSIG(st), 2);
  else send_u32s(EXIT_, c->id, (uint32_t)WEXITSTATUS(st), 0, 2);
  c->used = 0;
}

static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CMDS; i++) {
      if (cmds[i].used && cmds[i].pid == pid) {
        cmds[i].reaped = 1;
        cmds[i].status = st;
        try_finish(&cmds[i]);
      }
    }
  }
}

static void do_output_credit(uint32_t id, const unsigned char *p, uint32_t len) {
  struct cmd *c = find_cmd(id);
  if (!c || len < 8) return;  /* the command has ended: its EXIT is on the way */
  uint64_t out = (uint64_t)c->credit[0] + get32(p), err = (uint64_t)c->credit[1] + get32(p + 4);
  /* The host never has more than the window out; a bigger grant is clamped, not trusted. */
  c->credit[0] = out > OUTPUT_WINDOW ? OUTPUT_WINDOW : (uint32_t)out;
  c->credit[1] = err > OUTPUT_WINDOW ? OUTPUT_WINDOW : (uint32_t)err;
  try_finish(c);
}

static void do_kill(uint32_t id, const unsigned char *p, uint32_t len) {
  struct cmd *c = find_cmd(id);
  if (!c || len < 4) return;
  int sig = (int)get32(p);
  if (kill(-c->pid, sig) < 0) kill(c->pid, sig);
}

static void do_file_write(uint32_t id, const unsigned char *p, uint32_t len) {
  struct rd r = { p, len, 0 };
  uint32_t mode = rd32(&r);
  char *path = rdstr(&r);
  struct file *f = NULL;
  for (int i = 0; i < MAX_FILES && !f; i++) if (!files[i].used) f = &files[i];
  if (!path || r.bad) send_error(id, "write file: malformed request", EINVAL);
  else if (find_file(id) || !f) send_error(id, "write file: too many transfers", EAGAIN);
  else {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
    f->used = 1; f->id = id; f->fd = fd; f->failed = fd < 0 ? errno : 0;
    if (fd >= 0) fchmod(fd, mode & 07777);  /* open() applies the umask; the host asked for mode */
    if (fd < 0) {
      char what[300];
      snprintf(what, sizeof what, "cannot write %s", path);
      send_error(id, what, errno);
    }
  }
  free(path);
}

static void do_file_data(uint32_t id, const unsigned char *p, uint32_t len) {
  struct file *f = find_file(id);
  if (!f || f->fd < 0 || f->failed) return;
  while (len > 0) {
    ssize_t n = write(f->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { f->failed = errno; send_error(id, "write file", errno); return; }
    p += n; len -= (uint32_t)n;
  }
}

static void do_file_end(uint32_t id) {
  struct file *f = find_file(id);
  if (!f) return;
  int failed = f->failed;
  if (f->fd >= 0 && close(f->fd) < 0 && !failed) { send_error(id, "write file: close", errno); failed = 1; }
  if (!failed) send_frame(OK, id, NULL, 0);
  f->used = 0;
}

static void do_file_read(uint32_t id, const unsigned char *p, uint32_t len) {
  struct rd r = { p, len, 0 };
  char *path = rdstr(&r);
  if (!path) { send_error(id, "read file: malformed request", EINVAL); return; }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char what[300];
  snprintf(what, sizeof what, "cannot read %s", path);
  free(path);
  if (fd < 0) { send_error(id, what, errno); return; }
  for (;;) {
    ssize_t n = read(fd, iobuf, sizeof iobuf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { send_error(id, what, errno); break; }
    if (n == 0) { send_frame(FILE_END, id, NULL, 0); break; }
    send_frame(FILE_DATA, id, iobuf, (uint32_t)n);
  }
  close(fd);
}

static void shutdown_all(void) {
  for (int i = 0; i < MAX_CMDS; i++) if (cmds[i].used) kill(-cmds[i].pid, SIGKILL);
  send_frame(OK, 0, NULL, 0);
  exit(0);
}

static void on_frame(uint32_t type, uint32_t id, const unsigned char *p, uint32_t len) {
  switch (type) {
    case EXEC: do_exec(id, p, len); break;
    case STDIN_: do_stdin(id, p, len); break;
    case KILL_: do_kill(id, p, len); break;
    case FILE_WRITE: do_file_write(id, p, len); break;
    case FILE_DATA: do_file_data(id, p, len); break;
    case FILE_END: do_file_end(id); break;
    case FILE_READ: do_file_read(id, p, len); break;
    case SHUTDOWN: shutdown_all(); break;
    case OUTPUT_CREDIT: do_output_credit(id, p, len); break;
    default:
      fprintf(stderr, "denovmm-agent: unknown frame type %u from the host\n", type);
      exit(2);
  }
}

/* Reads what the port has and handles every whole frame in it. */
static void read_port(void) {
  ssize_t n = read(port, inbuf + inlen, sizeof inbuf - inlen);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) { fprintf(stderr, "denovmm-agent: the host port closed\n"); exit(3); }
  inlen += (size_t)n;
  size_t at = 0;
  while (inlen - at >= HEADER) {
    uint32_t len = get32(inbuf + at);
    uint32_t type = inbuf[at + 4] | inbuf[at + 5] << 8;
    if (len > MAX_PAYLOAD || inbuf[at + 6] || inbuf[at + 7]) {
      fprintf(stderr, "denovmm-agent: bad frame header from the host (length %u)\n", len);
      exit(2);
    }
    if (inlen - at < HEADER + len) break;
    on_frame(type, get32(inbuf + at + 8), inbuf + at + HEADER, len);
    at += HEADER + len;
  }
  memmove(inbuf, inbuf + at, inlen - at);
  inlen -= at;
}

/* The /dev node of the virtio-console port called `name`. The driver names a port only after the
 * host's PORT_NAME message, which may come after /init starts: wait for it, up to 30 s. */
static int find_port(const char *name, char *path, size_t size) {
  for (int tries = 0; tries < 1500; tries++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char file[300], got[256];
      snprintf(file, sizeof file, "/sys/class/virtio-ports/%s/name", e->d_name);
      int fd = open(file, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, got, sizeof got - 1);
      close(fd);
      if (n <= 0) continue;
      got[n] = 0;
      if (got[n - 1] == '\n') got[n - 1] = 0;
      if (strcmp(got, name) == 0) {
        snprintf(path, size, "/dev/%s", e->d_name);
        closedir(d);
        return 0;
      }
    }
    if (d) closedir(d);
    usleep(20000);
  }
  fprintf(stderr, "denovmm-agent: no virtio-console port named %s\n", name);
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: denovmm-agent PORT-DEVICE\n"); return 2; }
  if (strcmp(argv[1], "-") == 0) {
    port = fcntl(0, F_DUPFD_CLOEXEC, 3);
    port_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    close(nul);
  } else {
    char path[300];
    snprintf(path, sizeof path, "%s", argv[1]);
    if (argv[1][0] != '/' && find_port(argv[1], path, sizeof path) < 0) return 1;
    port = port_out = open(path, O_RDWR | O_CLOEXEC);
  }
  if (port < 0 || port_out < 0) { perror(argv[1]); return 1; }
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) { perror("signalfd"); return 1; }

  struct utsname u;
  uname(&u);
  unsigned char ready[8 + sizeof u.release];
  uint32_t rl = (uint32_t)strlen(u.release);
  put32(ready, PROTOCOL_VERSION);
  put32(ready + 4, rl);
  memcpy(ready + 8, u.release, rl);
  send_frame(READY, 0, ready, 8 + rl);

  struct pollfd pfd[2 + 3 * MAX_CMDS];
  struct { struct cmd *c; int which; } owner[2 + 3 * MAX_CMDS];
  for (;;) {
    int n = 0;
    pfd[n++] = (struct pollfd){ port, POLLIN, 0 };
    pfd[n++] = (struct pollfd){ sfd, POLLIN, 0 };
    for (int i = 0; i < MAX_CMDS; i++) {
      struct cmd *c = &cmds[i];
      if (!c->used) continue;
      if (c->out >= 0 && c->credit[0]) { owner[n].c = c; owner[n].which = 1; pfd[n++] = (struct pollfd){ c->out, POLLIN, 0 }; }
      if (c->err >= 0 && c->credit[1]) { owner[n].c = c; owner[n].which = 2; pfd[n++] = (struct pollfd){ c->err, POLLIN, 0 }; }
      if (c->in >= 0 && c->head) { owner[n].c = c; owner[n].which = 0; pfd[n++] = (struct pollfd){ c->in, POLLOUT, 0 }; }
    }
    if (poll(pfd, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      perror("poll");
      return 1;
    }
    for (int i = 2; i < n; i++) {
      if (!pfd[i].revents) continue;
      struct cmd *c = owner[i].c;
      if (!c->used) continue;
      if (owner[i].which == 1 && c->out == pfd[i].fd) pump(c, 0);
      else if (owner[i].which == 2 && c->err == pfd[i].fd) pump(c, 1);
      else if (owner[i].which == 0 && c->in == pfd[i].fd) flush_stdin(c);
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      reap();
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) read_port();
    /* A command's queued stdin may now be writable without a poll round (new data). */
    for (int i = 0; i < MAX_CMDS; i++) if (cmds[i].used && cmds[i].head) flush_stdin(&cmds[i]);
  }
}
