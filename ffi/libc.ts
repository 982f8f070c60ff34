/**
 * The one libc symbol table denovmm uses, opened once per thread (the main thread and each
 * vCPU or device Worker load it for themselves; `dlopen` hands back the same library).
 *
 * Each parameter carries its C prototype as a comment. Variadic functions (`open`, `ioctl`)
 * are declared with the fixed argument list denovmm passes: on x86-64 System V the variadic
 * integer/pointer arguments travel in the same registers as fixed ones.
 *
 * @example
 * ```ts
 * import { libc } from "./libc.ts";
 * const fd = libc.symbols.eventfd(0, 0);
 * ```
 * @module
 */

const symbols = {
  /** int open(const char *pathname, int flags, mode_t mode) */
  open: {
    parameters: [
      "buffer", /* const char *pathname */
      "i32", /* int flags */
      "u32", /* mode_t mode */
    ],
    result: "i32",
  },
  /** int close(int fd) */
  close: { parameters: ["i32" /* int fd */], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *arg): struct-pointer argument */
  ioctl_ptr: {
    name: "ioctl",
    parameters: ["i32", /* int fd */ "u64", /* unsigned long request */ "buffer" /* void *arg */],
    result: "i32",
  },
  /** int ioctl(int fd, unsigned long request, unsigned long arg): integer argument */
  ioctl_int: {
    name: "ioctl",
    parameters: [
      "i32", /* int fd */
      "u64", /* unsigned long request */
      "u64", /* unsigned long arg */
    ],
    result: "i32",
  },
  /** void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) */
  mmap: {
    parameters: [
      "pointer", /* void *addr */
      "usize", /* size_t length */
      "i32", /* int prot */
      "i32", /* int flags */
      "i32", /* int fd */
      "i64", /* off_t offset */
    ],
    result: "pointer",
  },
  /** int munmap(void *addr, size_t length) */
  munmap: { parameters: ["pointer", /* void *addr */ "usize" /* size_t length */], result: "i32" },
  /** int madvise(void *addr, size_t length, int advice) */
  madvise: {
    parameters: ["pointer", /* void *addr */ "usize", /* size_t length */ "i32" /* int advice */],
    result: "i32",
  },
  /** int eventfd(unsigned int initval, int flags) */
  eventfd: { parameters: ["u32", /* unsigned int initval */ "i32" /* int flags */], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count) */
  read: {
    parameters: ["i32", /* int fd */ "buffer", /* void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: {
    parameters: ["i32", /* int fd */ "buffer", /* const void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
  /**
   * ssize_t readv(int fd, const struct iovec *iov, int iovcnt). The result is declared i32: a
   * frame is far below 2 GiB and -1 keeps its sign in the low half of rax, and a 32-bit result
   * is a plain number where a 64-bit one would allocate a BigInt on every call (the hot path).
   */
  readv: {
    parameters: [
      "i32", /* int fd */
      "buffer", /* const struct iovec *iov */
      "i32", /* int iovcnt */
    ],
    result: "i32",
  },
  /** ssize_t writev(int fd, const struct iovec *iov, int iovcnt): i32 result, as for readv. */
  writev: {
    parameters: [
      "i32", /* int fd */
      "buffer", /* const struct iovec *iov */
      "i32", /* int iovcnt */
    ],
    result: "i32",
  },
  /** unsigned int if_nametoindex(const char *ifname): 0 when there is no such interface */
  if_nametoindex: { parameters: ["buffer" /* const char *ifname */], result: "u32" },
  /** int setns(int fd, int nstype): moves the calling thread into a namespace */
  setns: { parameters: ["i32", /* int fd */ "i32" /* int nstype */], result: "i32" },
  /** ssize_t pread(int fd, void *buf, size_t count, off_t offset): buf is a raw address */
  pread: {
    parameters: [
      "i32", /* int fd */
      "pointer", /* void *buf */
      "usize", /* size_t count */
      "i64", /* off_t offset */
    ],
    result: "isize",
  },
  /** ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset): buf is a raw address */
  pwrite: {
    parameters: [
      "i32", /* int fd */
      "pointer", /* const void *buf */
      "usize", /* size_t count */
      "i64", /* off_t offset */
    ],
    result: "isize",
  },
  /** pread(2) on Deno's blocking pool, returning a Promise (lets several requests be in flight). */
  pread_async: {
    name: "pread",
    parameters: [
      "i32", /* int fd */
      "pointer", /* void *buf */
      "usize", /* size_t count */
      "i64", /* off_t offset */
    ],
    result: "isize",
    nonblocking: true,
  },
  /** pwrite(2) on Deno's blocking pool, returning a Promise. */
  pwrite_async: {
    name: "pwrite",
    parameters: [
      "i32", /* int fd */
      "pointer", /* const void *buf */
      "usize", /* size_t count */
      "i64", /* off_t offset */
    ],
    result: "isize",
    nonblocking: true,
  },
  /** fdatasync(2) on Deno's blocking pool. */
  fdatasync_async: {
    name: "fdatasync",
    parameters: ["i32" /* int fd */],
    result: "i32",
    nonblocking: true,
  },
  /** fallocate(2) on Deno's blocking pool. */
  fallocate_async: {
    name: "fallocate",
    parameters: [
      "i32", /* int fd */
      "i32", /* int mode */
      "i64", /* off_t offset */
      "i64", /* off_t len */
    ],
    result: "i32",
    nonblocking: true,
  },
  /** off_t lseek(int fd, off_t offset, int whence) */
  lseek: {
    parameters: ["i32", /* int fd */ "i64", /* off_t offset */ "i32" /* int whence */],
    result: "i64",
  },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout) */
  poll: {
    parameters: [
      "buffer", /* struct pollfd *fds */
      "u64", /* nfds_t nfds */
      "i32", /* int timeout */
    ],
    result: "i32",
  },
  /** int epoll_create1(int flags) */
  epoll_create1: { parameters: ["i32" /* int flags */], result: "i32" },
  /** int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) */
  epoll_ctl: {
    parameters: [
      "i32", /* int epfd */
      "i32", /* int op */
      "i32", /* int fd */
      "buffer", /* struct epoll_event *event */
    ],
    result: "i32",
  },
  /** int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout): blocking */
  epoll_wait: {
    parameters: [
      "i32", /* int epfd */
      "buffer", /* struct epoll_event *events */
      "i32", /* int maxevents */
      "i32", /* int timeout */
    ],
    result: "i32",
  },
  /** The same epoll_wait run on Deno's blocking pool, returning a Promise (event-loop friendly). */
  epoll_wait_async: {
    name: "epoll_wait",
    parameters: [
      "i32", /* int epfd */
      "buffer", /* struct epoll_event *events */
      "i32", /* int maxevents */
      "i32", /* int timeout */
    ],
    result: "i32",
    nonblocking: true,
  },
  /** int *__errno_location(void): the calling thread's errno */
  __errno_location: { parameters: [], result: "pointer" },
  /** char *strerror(int errnum) */
  strerror: { parameters: ["i32" /* int errnum */], result: "pointer" },
  /** pthread_t pthread_self(void) */
  pthread_self: { parameters: [], result: "u64" },
  /** int pthread_kill(pthread_t thread, int sig) */
  pthread_kill: { parameters: ["u64", /* pthread_t thread */ "i32" /* int sig */], result: "i32" },
  /** int flock(int fd, int operation) */
  flock: { parameters: ["i32", /* int fd */ "i32" /* int operation */], result: "i32" },
  /** int fdatasync(int fd) */
  fdatasync: { parameters: ["i32" /* int fd */], result: "i32" },
  /** int fallocate(int fd, int mode, off_t offset, off_t len) */
  fallocate: {
    parameters: [
      "i32", /* int fd */
      "i32", /* int mode */
      "i64", /* off_t offset */
      "i64", /* off_t len */
    ],
    result: "i32",
  },
  /** long sysconf(int name) */
  sysconf: { parameters: ["i32" /* int name */], result: "i64" },
  /** pid_t gettid(void) */
  gettid: { parameters: [], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened C library for this thread. @example `libc.symbols.close(fd)` */
export const libc: Deno.DynamicLibrary<typeof symbols> = Deno.dlopen("libc.so.6", symbols);

/** open(2) flags and other libc constants denovmm passes (x86-64 Linux values). */
export const O_RDONLY = 0;
/** open(2): read/write. */
export const O_RDWR = 2;
/** open(2): close on exec. */
export const O_CLOEXEC = 0o2000000;
/** open(2): non-blocking. */
export const O_NONBLOCK = 0o4000;
/** open(2): create the file when it does not exist. */
export const O_CREAT = 0o100;
/** open(2): every write goes to the end of the file. */
export const O_APPEND = 0o2000;
/** mmap(2) protections and flags. */
export const PROT_READ = 1;
/** mmap(2): writable. */
export const PROT_WRITE = 2;
/** mmap(2): shared mapping. */
export const MAP_SHARED = 1;
/** mmap(2): private mapping. */
export const MAP_PRIVATE = 2;
/** mmap(2): not backed by a file. */
export const MAP_ANONYMOUS = 0x20;
/** mmap(2): do not reserve swap. */
export const MAP_NORESERVE = 0x4000;
/** madvise(2): ask for transparent huge pages. */
export const MADV_HUGEPAGE = 14;
/** madvise(2): leave out of core dumps. */
export const MADV_DONTDUMP = 16;
/** eventfd(2): close on exec. */
export const EFD_CLOEXEC = 0o2000000;
/** eventfd(2): non-blocking. */
export const EFD_NONBLOCK = 0o4000;
/** epoll_ctl(2) operations. */
export const EPOLL_CTL_ADD = 1;
/** epoll_ctl(2): remove. */
export const EPOLL_CTL_DEL = 2;
/** epoll_ctl(2): change the events of a watched fd. */
export const EPOLL_CTL_MOD = 3;
/** epoll event bit: readable. */
export const EPOLLIN = 1;
/** epoll event bit: writable. */
export const EPOLLOUT = 4;
/** epoll event bit: error (always reported, even when not asked for). */
export const EPOLLERR = 8;
/** epoll event bit: hang-up (always reported, even when not asked for). */
export const EPOLLHUP = 0x10;
/** setns(2)/clone(2): the network namespace. */
export const CLONE_NEWNET = 0x4000_0000;
/** Most iovecs one readv/writev takes (Linux UIO_MAXIOV). */
export const IOV_MAX = 1024;
/** epoll_create1(2): close on exec. */
export const EPOLL_CLOEXEC = 0o2000000;
/** flock(2) operations. */
export const LOCK_SH = 1;
/** flock(2): exclusive. */
export const LOCK_EX = 2;
/** flock(2): do not block. */
export const LOCK_NB = 4;
/** fallocate(2) modes. */
export const FALLOC_FL_KEEP_SIZE = 1;
/** fallocate(2): punch a hole. */
export const FALLOC_FL_PUNCH_HOLE = 2;
/** fallocate(2): zero a range. */
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** sysconf(3): page size. */
export const SC_PAGESIZE = 30;
/** sysconf(3): physical pages. */
export const SC_PHYS_PAGES = 85;
/** lseek(2): from the end. */
export const SEEK_END = 2;
/**
 * The signal that kicks a vCPU thread out of KVM_RUN. Its default action is "ignore", so a kick
 * still in flight when the last vCPU stops (and the handler is gone) is dropped instead of
 * killing the process, as SIGUSR2 would (SIGUSR1 would start the V8 inspector).
 */
export const SIGURG = 23;
