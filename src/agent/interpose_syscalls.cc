// System calls given a pointer into a traced mapping: write, pwrite(64),
// send, writev, pwritev(2), sendmsg and read, pread(64), recv, readv,
// preadv(2), recvmsg. The program's pages there
// are PROT_NONE, so the kernel would answer EFAULT; instead the data goes
// through a scratch buffer of the agent, and the device side of the copy is
// recorded (DeviceMemory::bulk_copy: 8-byte aligned accesses, 1-byte ones at
// unaligned ends, as ACCESS_RUN records).
//
// - write-like: the program's bytes are read (device reads recorded) into the
//   scratch buffer, then the real call writes the scratch buffer.
// - read-like: the real call reads into the scratch buffer, then the bytes it
//   returned are written to the program's buffer (device writes recorded).
//
// Each interposed call makes exactly one real call, so the program sees the
// same short counts, blocking and errors as untraced. The scratch buffer is
// the stack for up to 4 KiB, else an anonymous mapping of the call's size,
// capped at 64 MiB: a longer call transfers at most 64 MiB and returns that
// short count (as the kernel itself does beyond 0x7ffff000 bytes). The
// vector calls (writev, pwritev, pwritev2, sendmsg and their read
// counterparts) gather/scatter the program's iovecs through one buffer and
// make one real call of the same kind with a single iovec (sendmsg and
// recvmsg keep the program's name, control data and flags; only msg_iov is
// replaced, and recvmsg hands back msg_namelen, msg_controllen and msg_flags).
// Calls whose buffers touch no traced mapping go straight to libc.
//
// Normal context. Device accesses are made with every signal but the agent's
// own blocked (the fault handler takes the same order lock; a buffer that is
// not mapped faults into the agent's handler and ends the copy there), never
// across the real call.
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>

#include "agent/agent.h"
#include "agent/device_memory.h"
#include "agent/interpose_uio.h"
#include "agent/producer.h"

namespace mmiotrace::agent {

namespace {

using ReadFn = ssize_t (*)(int, void*, size_t);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using RecvFn = ssize_t (*)(int, void*, size_t, int);
using SendFn = ssize_t (*)(int, const void*, size_t, int);
using IovFn = ssize_t (*)(int, const struct iovec*, int);
using IovOffFn = ssize_t (*)(int, const struct iovec*, int, off_t);
using IovOff2Fn = ssize_t (*)(int, const struct iovec*, int, off_t, int);
using SendmsgFn = ssize_t (*)(int, const struct msghdr*, int);
using RecvmsgFn = ssize_t (*)(int, struct msghdr*, int);

struct RealCalls {
  ReadFn read = nullptr;
  WriteFn write = nullptr;
  PreadFn pread = nullptr;
  PwriteFn pwrite = nullptr;
  RecvFn recv = nullptr;
  SendFn send = nullptr;
  IovFn readv = nullptr;
  IovFn writev = nullptr;
  IovOffFn preadv = nullptr;
  IovOffFn pwritev = nullptr;
  IovOff2Fn preadv2 = nullptr;
  IovOff2Fn pwritev2 = nullptr;
  SendmsgFn sendmsg = nullptr;
  RecvmsgFn recvmsg = nullptr;
};

RealCalls g_real;

// libc's functions (cancellation points, as the program expects); a raw
// system call if one is needed before they are resolved (the agent's own
// constructor may run first).
ssize_t real_read(int fd, void* b, size_t n) {
  return g_real.read ? g_real.read(fd, b, n) : syscall(SYS_read, fd, b, n);
}
ssize_t real_write(int fd, const void* b, size_t n) {
  return g_real.write ? g_real.write(fd, b, n) : syscall(SYS_write, fd, b, n);
}
ssize_t real_pread(int fd, void* b, size_t n, off_t o) {
  return g_real.pread ? g_real.pread(fd, b, n, o) : syscall(SYS_pread64, fd, b, n, o);
}
ssize_t real_pwrite(int fd, const void* b, size_t n, off_t o) {
  return g_real.pwrite ? g_real.pwrite(fd, b, n, o) : syscall(SYS_pwrite64, fd, b, n, o);
}
ssize_t real_recv(int fd, void* b, size_t n, int f) {
  return g_real.recv ? g_real.recv(fd, b, n, f) : syscall(SYS_recvfrom, fd, b, n, f, nullptr, nullptr);
}
ssize_t real_send(int fd, const void* b, size_t n, int f) {
  return g_real.send ? g_real.send(fd, b, n, f) : syscall(SYS_sendto, fd, b, n, f, nullptr, 0);
}
ssize_t real_readv(int fd, const struct iovec* v, int c) {
  return g_real.readv ? g_real.readv(fd, v, c) : syscall(SYS_readv, fd, v, c);
}
ssize_t real_writev(int fd, const struct iovec* v, int c) {
  return g_real.writev ? g_real.writev(fd, v, c) : syscall(SYS_writev, fd, v, c);
}
// The kernel's preadv/pwritev take the offset as two longs (low, high).
ssize_t real_preadv(int fd, const struct iovec* v, int c, off_t o) {
  return g_real.preadv ? g_real.preadv(fd, v, c, o) : syscall(SYS_preadv, fd, v, c, o, 0);
}
ssize_t real_pwritev(int fd, const struct iovec* v, int c, off_t o) {
  return g_real.pwritev ? g_real.pwritev(fd, v, c, o) : syscall(SYS_pwritev, fd, v, c, o, 0);
}
ssize_t real_preadv2(int fd, const struct iovec* v, int c, off_t o, int f) {
  return g_real.preadv2 ? g_real.preadv2(fd, v, c, o, f) : syscall(SYS_preadv2, fd, v, c, o, 0, f);
}
ssize_t real_pwritev2(int fd, const struct iovec* v, int c, off_t o, int f) {
  return g_real.pwritev2 ? g_real.pwritev2(fd, v, c, o, f) : syscall(SYS_pwritev2, fd, v, c, o, 0, f);
}
ssize_t real_sendmsg(int fd, const struct msghdr* m, int f) {
  return g_real.sendmsg ? g_real.sendmsg(fd, m, f) : syscall(SYS_sendmsg, fd, m, f);
}
ssize_t real_recvmsg(int fd, struct msghdr* m, int f) {
  return g_real.recvmsg ? g_real.recvmsg(fd, m, f) : syscall(SYS_recvmsg, fd, m, f);
}

template <typename Fn>
void resolve(Fn* fn, const char* name) {
  *fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// Resolved when the agent is loaded, before the program runs: never in a
// signal handler of the program (dlsym is not async-signal-safe).
__attribute__((constructor(101))) void resolve_real_calls() {
  resolve(&g_real.read, "read");
  resolve(&g_real.write, "write");
  resolve(&g_real.pread, "pread64");
  resolve(&g_real.pwrite, "pwrite64");
  resolve(&g_real.recv, "recv");
  resolve(&g_real.send, "send");
  resolve(&g_real.readv, "readv");
  resolve(&g_real.writev, "writev");
  resolve(&g_real.preadv, "preadv");
  resolve(&g_real.pwritev, "pwritev");
  resolve(&g_real.preadv2, "preadv2");
  resolve(&g_real.pwritev2, "pwritev2");
  resolve(&g_real.sendmsg, "sendmsg");
  resolve(&g_real.recvmsg, "recvmsg");
}

constexpr size_t kStackScratch = 4096;
constexpr size_t kMaxScratch = size_t{64} << 20;

// The agent's buffer for one call: `size()` bytes, at most the request.
class Scratch {
 public:
  explicit Scratch(size_t want) {
    size_ = want < kMaxScratch ? want : kMaxScratch;
    if (size_ <= sizeof(stack_)) {
      data_ = stack_;
      return;
    }
    void* p = real_mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      size_ = sizeof(stack_);  // no memory for more: a short transfer
      data_ = stack_;
    } else {
      data_ = static_cast<uint8_t*>(p);
    }
  }
  ~Scratch() {
    if (data_ != stack_) real_munmap(data_, size_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  alignas(8) uint8_t stack_[kStackScratch];
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

bool traced(const void* buf, size_t n) {
  if (!attached() || n == 0) return false;
  const auto start = reinterpret_cast<uint64_t>(buf);
  const uint64_t end = start + n;
  return end > start && g_agent.regions.overlaps(start, end);
}

// Copies between the program's buffer and the scratch buffer, recording the
// device accesses. Returns the bytes copied (all, or up to the first that
// faulted).
size_t copy(const void* program, size_t n, uint8_t* scratch, bool to_program, void* pc) {
  FaultContext ctx;
  ctx.pc = reinterpret_cast<uint64_t>(pc);
  ctx.tid = current_tid();
  DeviceMemory mem(ctx);
  uint64_t done = 0;
  SignalsBlocked blocked;
  mem.bulk_copy(reinterpret_cast<uint64_t>(program), n, scratch, to_program, &done);
  return static_cast<size_t>(done);
}

// Whether every device byte of [buf, buf + n) may be written (a read-like
// call checks this before consuming data it could not deliver).
bool device_writable(const void* buf, size_t n) {
  uint64_t pos = reinterpret_cast<uint64_t>(buf);
  const uint64_t end = pos + n;
  while (pos < end) {
    RegionInfo r;
    if (g_agent.regions.find(pos, &r)) {
      if ((r.prot & PROT_WRITE) == 0) return false;
      pos = r.end;
    } else {
      pos = g_agent.regions.next_start_after(pos);
    }
  }
  return true;
}

ssize_t efault() {
  errno = EFAULT;
  return -1;
}

// A write-like call on device memory: `call(scratch, n)` is the real call.
template <typename Call>
ssize_t write_like(const void* buf, size_t n, void* pc, Call call) {
  Scratch s(n);
  const size_t got = copy(buf, s.size(), s.data(), false, pc);
  if (got == 0) return efault();  // the kernel copies nothing from a bad buffer
  return call(s.data(), got);
}

// A read-like call into device memory: `call(scratch, n)` is the real call.
template <typename Call>
ssize_t read_like(void* buf, size_t n, void* pc, Call call) {
  if (!device_writable(buf, n)) return efault();
  Scratch s(n);
  const ssize_t rc = call(s.data(), s.size());
  if (rc <= 0) return rc;
  const int saved = errno;
  const size_t put = copy(buf, static_cast<size_t>(rc), s.data(), true, pc);
  if (put == 0) return efault();
  errno = saved;
  return static_cast<ssize_t>(put);
}

// Sum of the iovec lengths, or false if the kernel would refuse the array
// (then the call goes through untouched and fails as natively).
bool iov_total(const struct iovec* iov, int iovcnt, size_t* total, bool* device) {
  if (!attached() || iovcnt <= 0 || iovcnt > IOV_MAX || iov == nullptr) return false;
  *total = 0;
  *device = false;
  for (int i = 0; i < iovcnt; ++i) {
    if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - *total) return false;
    *total += iov[i].iov_len;
    *device = *device || traced(iov[i].iov_base, iov[i].iov_len);
  }
  return true;
}

// A vector write-like call (writev, pwritev, pwritev2, sendmsg) with device
// buffers among its iovecs: gathers them into one buffer (device reads
// recorded), up to the first buffer that cannot be read, and makes the real
// call `call(one, 1)` with one iovec over what was gathered.
template <typename Call>
ssize_t writev_like(const struct iovec* iov, int iovcnt, size_t total, void* pc, Call call) {
  Scratch s(total);
  size_t got = 0;
  for (int i = 0; i < iovcnt && got < s.size(); ++i) {
    size_t want = iov[i].iov_len < s.size() - got ? iov[i].iov_len : s.size() - got;
    size_t n = copy(iov[i].iov_base, want, s.data() + got, false, pc);
    got += n;
    if (n < want) break;  // a bad buffer: write what came before it
  }
  if (got == 0) return efault();
  struct iovec one = {s.data(), got};
  return call(&one, 1);
}

// A vector read-like call (readv, preadv, preadv2, recvmsg) with device
// buffers among its iovecs: the real call `call(one, 1)` reads into one
// buffer, whose bytes are then scattered into the program's iovecs (device
// writes recorded).
template <typename Call>
ssize_t readv_like(const struct iovec* iov, int iovcnt, size_t total, void* pc, Call call) {
  for (int i = 0; i < iovcnt; ++i) {
    if (!device_writable(iov[i].iov_base, iov[i].iov_len)) return efault();
  }
  Scratch s(total);
  struct iovec one = {s.data(), s.size()};
  const ssize_t rc = call(&one, 1);
  if (rc <= 0) return rc;
  const int saved = errno;
  size_t put = 0;
  for (int i = 0; i < iovcnt && put < static_cast<size_t>(rc); ++i) {
    size_t want = iov[i].iov_len < static_cast<size_t>(rc) - put ? iov[i].iov_len : static_cast<size_t>(rc) - put;
    size_t n = copy(iov[i].iov_base, want, s.data() + put, true, pc);
    put += n;
    if (n < want) break;
  }
  if (put == 0) return efault();
  errno = saved;
  return static_cast<ssize_t>(put);
}

// Whether a message's iovecs touch device memory (and their total length).
bool msg_on_device(const struct msghdr* msg, size_t* total) {
  bool device = false;
  return msg != nullptr && msg->msg_iovlen <= static_cast<size_t>(IOV_MAX) &&
         iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen), total, &device) && device;
}

}  // namespace

}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t n) {
  using namespace mmiotrace::agent;
  if (ssize_t r; uio_model_call(fd, true, const_cast<void*>(buf), n, &r)) return r;
  if (!traced(buf, n)) return real_write(fd, buf, n);
  return write_like(buf, n, __builtin_return_address(0),
                    [fd](const uint8_t* s, size_t len) { return real_write(fd, s, len); });
}

__attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_pwrite(fd, buf, n, off);
  return write_like(buf, n, __builtin_return_address(0),
                    [fd, off](const uint8_t* s, size_t len) { return real_pwrite(fd, s, len, off); });
}

__attribute__((visibility("default"))) ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_pwrite(fd, buf, n, off);
  return write_like(buf, n, __builtin_return_address(0),
                    [fd, off](const uint8_t* s, size_t len) { return real_pwrite(fd, s, len, off); });
}

__attribute__((visibility("default"))) ssize_t send(int fd, const void* buf, size_t n, int flags) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_send(fd, buf, n, flags);
  return write_like(buf, n, __builtin_return_address(0),
                    [fd, flags](const uint8_t* s, size_t len) { return real_send(fd, s, len, flags); });
}

__attribute__((visibility("default"))) ssize_t read(int fd, void* buf, size_t n) {
  using namespace mmiotrace::agent;
  if (ssize_t r; uio_model_call(fd, false, buf, n, &r)) return r;
  if (!traced(buf, n)) return real_read(fd, buf, n);
  return read_like(buf, n, __builtin_return_address(0), [fd](uint8_t* s, size_t len) { return real_read(fd, s, len); });
}

__attribute__((visibility("default"))) ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_pread(fd, buf, n, off);
  return read_like(buf, n, __builtin_return_address(0),
                   [fd, off](uint8_t* s, size_t len) { return real_pread(fd, s, len, off); });
}

__attribute__((visibility("default"))) ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_pread(fd, buf, n, off);
  return read_like(buf, n, __builtin_return_address(0),
                   [fd, off](uint8_t* s, size_t len) { return real_pread(fd, s, len, off); });
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void* buf, size_t n, int flags) {
  using namespace mmiotrace::agent;
  if (!traced(buf, n)) return real_recv(fd, buf, n, flags);
  return read_like(buf, n, __builtin_return_address(0),
                   [fd, flags](uint8_t* s, size_t len) { return real_recv(fd, s, len, flags); });
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_writev(fd, iov, iovcnt);
  return writev_like(iov, iovcnt, total, __builtin_return_address(0),
                     [fd](const struct iovec* v, int c) { return real_writev(fd, v, c); });
}

__attribute__((visibility("default"))) ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_readv(fd, iov, iovcnt);
  return readv_like(iov, iovcnt, total, __builtin_return_address(0),
                    [fd](const struct iovec* v, int c) { return real_readv(fd, v, c); });
}

__attribute__((visibility("default"))) ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_pwritev(fd, iov, iovcnt, off);
  return writev_like(iov, iovcnt, total, __builtin_return_address(0),
                     [fd, off](const struct iovec* v, int c) { return real_pwritev(fd, v, c, off); });
}

__attribute__((visibility("default"))) ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  return pwritev(fd, iov, iovcnt, off);
}

__attribute__((visibility("default"))) ssize_t preadv(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_preadv(fd, iov, iovcnt, off);
  return readv_like(iov, iovcnt, total, __builtin_return_address(0),
                    [fd, off](const struct iovec* v, int c) { return real_preadv(fd, v, c, off); });
}

__attribute__((visibility("default"))) ssize_t preadv64(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  return preadv(fd, iov, iovcnt, off);
}

__attribute__((visibility("default"))) ssize_t pwritev2(int fd, const struct iovec* iov, int iovcnt, off_t off,
                                                        int flags) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_pwritev2(fd, iov, iovcnt, off, flags);
  return writev_like(iov, iovcnt, total, __builtin_return_address(0),
                     [fd, off, flags](const struct iovec* v, int c) { return real_pwritev2(fd, v, c, off, flags); });
}

__attribute__((visibility("default"))) ssize_t pwritev64v2(int fd, const struct iovec* iov, int iovcnt, off_t off,
                                                           int flags) {
  return pwritev2(fd, iov, iovcnt, off, flags);
}

__attribute__((visibility("default"))) ssize_t preadv2(int fd, const struct iovec* iov, int iovcnt, off_t off,
                                                       int flags) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  bool device = false;
  if (!iov_total(iov, iovcnt, &total, &device) || !device) return real_preadv2(fd, iov, iovcnt, off, flags);
  return readv_like(iov, iovcnt, total, __builtin_return_address(0),
                    [fd, off, flags](const struct iovec* v, int c) { return real_preadv2(fd, v, c, off, flags); });
}

__attribute__((visibility("default"))) ssize_t preadv64v2(int fd, const struct iovec* iov, int iovcnt, off_t off,
                                                          int flags) {
  return preadv2(fd, iov, iovcnt, off, flags);
}

__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  if (!msg_on_device(msg, &total)) return real_sendmsg(fd, msg, flags);
  return writev_like(msg->msg_iov, static_cast<int>(msg->msg_iovlen), total, __builtin_return_address(0),
                     [fd, msg, flags](const struct iovec* v, int c) {
                       struct msghdr m = *msg;
                       m.msg_iov = const_cast<struct iovec*>(v);
                       m.msg_iovlen = static_cast<size_t>(c);
                       return real_sendmsg(fd, &m, flags);
                     });
}

__attribute__((visibility("default"))) ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  using namespace mmiotrace::agent;
  size_t total = 0;
  if (!msg_on_device(msg, &total)) return real_recvmsg(fd, msg, flags);
  return readv_like(msg->msg_iov, static_cast<int>(msg->msg_iovlen), total, __builtin_return_address(0),
                    [fd, msg, flags](const struct iovec* v, int c) {
                      struct msghdr m = *msg;
                      m.msg_iov = const_cast<struct iovec*>(v);
                      m.msg_iovlen = static_cast<size_t>(c);
                      const ssize_t rc = real_recvmsg(fd, &m, flags);
                      msg->msg_namelen = m.msg_namelen;
                      msg->msg_controllen = m.msg_controllen;
                      msg->msg_flags = m.msg_flags;
                      return rc;
                    });
}

}  // extern "C"
