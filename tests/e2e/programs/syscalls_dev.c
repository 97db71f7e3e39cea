/* System calls given device memory: write, pwrite, send, writev, pwritev(2),
 * sendmsg take their data from the device (recorded reads), read, pread,
 * recv, readv, preadv(2), recvmsg put theirs
 * into it (recorded writes of the bytes returned). The agent copies device
 * bytes as 8-byte aligned accesses, 1-byte ones at unaligned ends. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "e2e.h"

static uint8_t* dev;

/* The reads the agent makes for `n` device bytes at `off` (pattern values). */
static void expect_reads(size_t off, size_t n) {
  while (n > 0) {
    if ((off & 7) != 0 || n < 8) {
      e2e_expect('R', 1, off, e2e_pattern(off));
      off += 1;
      n -= 1;
    } else {
      e2e_expect('R', 8, off, e2e_pattern_value(off, 8));
      off += 8;
      n -= 8;
    }
  }
}

static uint64_t le64(const uint8_t* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

static void check_pattern(const uint8_t* got, size_t off, size_t n) {
  for (size_t i = 0; i < n; ++i) E2E_CHECK(got[i] == e2e_pattern(off + i));
}

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);
  int pfd[2];
  E2E_CHECK(pipe(pfd) == 0);
  uint8_t buf[256];

  /* write() to a pipe: aligned, then unaligned. */
  E2E_CHECK(write(pfd[1], dev + 0x100, 24) == 24);
  expect_reads(0x100, 24);
  E2E_CHECK(read(pfd[0], buf, sizeof(buf)) == 24);
  check_pattern(buf, 0x100, 24);
  E2E_CHECK(write(pfd[1], dev + 0x203, 13) == 13);
  expect_reads(0x203, 13);
  E2E_CHECK(read(pfd[0], buf, sizeof(buf)) == 13);
  check_pattern(buf, 0x203, 13);

  /* A file: 32 known bytes, read() into the device. */
  char path[] = "/tmp/mmiotrace-syscalls-XXXXXX";
  int fd = mkstemp(path);
  E2E_CHECK(fd >= 0);
  unlink(path);
  uint8_t data[32];
  for (int i = 0; i < 32; ++i) data[i] = (uint8_t)(0xa0 + i);
  E2E_CHECK(write(fd, data, 32) == 32);
  E2E_CHECK(lseek(fd, 0, SEEK_SET) == 0);
  E2E_CHECK(read(fd, dev + 0x400, 32) == 32);
  for (int i = 0; i < 4; ++i) e2e_expect('W', 8, 0x400 + 8 * i, le64(data + 8 * i));
  uint64_t v = *(volatile uint64_t*)(dev + 0x408);
  e2e_expect('R', 8, 0x408, le64(data + 8));
  E2E_CHECK(v == le64(data + 8));

  /* pread at an offset, asking for more than is left: the short count, and
   * only the bytes returned reach the device. */
  E2E_CHECK(pread(fd, dev + 0x500, 64, 16) == 16);
  e2e_expect('W', 8, 0x500, le64(data + 16));
  e2e_expect('W', 8, 0x508, le64(data + 24));
  E2E_CHECK(read(fd, dev + 0x500, 8) == 0); /* at the end of the file: nothing */

  /* pwrite from the device at an offset. */
  E2E_CHECK(pwrite(fd, dev + 0x100, 8, 64) == 8);
  expect_reads(0x100, 8);
  E2E_CHECK(pread(fd, buf, 8, 64) == 8);
  check_pattern(buf, 0x100, 8);
  close(fd);

  /* writev with one device iovec between two ordinary ones. */
  struct iovec iov[3] = {{(void*)"abc", 3}, {dev + 0x600, 16}, {(void*)"xyz", 3}};
  E2E_CHECK(writev(pfd[1], iov, 3) == 22);
  expect_reads(0x600, 16);
  E2E_CHECK(read(pfd[0], buf, sizeof(buf)) == 22);
  E2E_CHECK(memcmp(buf, "abc", 3) == 0 && memcmp(buf + 19, "xyz", 3) == 0);
  check_pattern(buf + 3, 0x600, 16);

  /* writev whose second buffer is not mapped: the bytes before it are written. */
  uint8_t* unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  E2E_CHECK(unmapped != MAP_FAILED);
  struct iovec biov[2] = {{dev + 0x600, 8}, {unmapped, 8}};
  E2E_CHECK(writev(pfd[1], biov, 2) == 8);
  expect_reads(0x600, 8);
  E2E_CHECK(read(pfd[0], buf, sizeof(buf)) == 8);
  check_pattern(buf, 0x600, 8);

  /* readv: 4 ordinary bytes, then 8 into the device. */
  E2E_CHECK(write(pfd[1], data, 12) == 12);
  uint8_t head[4];
  struct iovec riov[2] = {{head, 4}, {dev + 0x700, 8}};
  E2E_CHECK(readv(pfd[0], riov, 2) == 12);
  E2E_CHECK(memcmp(head, data, 4) == 0);
  e2e_expect('W', 8, 0x700, le64(data + 4));

  /* send and recv on a socket pair. */
  int sv[2];
  E2E_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  E2E_CHECK(send(sv[0], dev + 0x100, 8, 0) == 8);
  expect_reads(0x100, 8);
  E2E_CHECK(recv(sv[1], dev + 0x800, 8, 0) == 8);
  e2e_expect('W', 8, 0x800, e2e_pattern_value(0x100, 8));

  /* pwritev and preadv on a file, at offsets; a device iovec after an ordinary one. */
  char path2[] = "/tmp/mmiotrace-syscalls-XXXXXX";
  fd = mkstemp(path2);
  E2E_CHECK(fd >= 0);
  unlink(path2);
  struct iovec wv[2] = {{(void*)"ab", 2}, {dev + 0x900, 16}};
  E2E_CHECK(pwritev(fd, wv, 2, 8) == 18);
  expect_reads(0x900, 16);
  E2E_CHECK(pread(fd, buf, 18, 8) == 18);
  E2E_CHECK(memcmp(buf, "ab", 2) == 0);
  check_pattern(buf + 2, 0x900, 16);
  E2E_CHECK(pwrite(fd, data, 32, 100) == 32);
  uint8_t three[3];
  struct iovec rv[2] = {{three, 3}, {dev + 0xa00, 16}};
  E2E_CHECK(preadv(fd, rv, 2, 100) == 19);
  E2E_CHECK(memcmp(three, data, 3) == 0);
  e2e_expect('W', 8, 0xa00, le64(data + 3));
  e2e_expect('W', 8, 0xa08, le64(data + 11));
  close(fd);

  /* pwritev2 and preadv2 at the current position (offset -1), on the pipe. */
  struct iovec w2 = {dev + 0x100, 8};
  E2E_CHECK(pwritev2(pfd[1], &w2, 1, -1, 0) == 8);
  expect_reads(0x100, 8);
  struct iovec r2 = {dev + 0xb00, 8};
  E2E_CHECK(preadv2(pfd[0], &r2, 1, -1, 0) == 8);
  e2e_expect('W', 8, 0xb00, e2e_pattern_value(0x100, 8));

  /* sendmsg and recvmsg on the socket pair, device iovecs among ordinary ones. */
  struct iovec mv[2] = {{(void*)"hi", 2}, {dev + 0x200, 8}};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = mv;
  msg.msg_iovlen = 2;
  E2E_CHECK(sendmsg(sv[0], &msg, 0) == 10);
  expect_reads(0x200, 8);
  E2E_CHECK(recv(sv[1], buf, sizeof(buf), 0) == 10);
  E2E_CHECK(memcmp(buf, "hi", 2) == 0);
  check_pattern(buf + 2, 0x200, 8);
  E2E_CHECK(send(sv[0], data, 12, 0) == 12);
  struct iovec mr[2] = {{head, 4}, {dev + 0xc00, 8}};
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = mr;
  msg.msg_iovlen = 2;
  msg.msg_flags = -1;
  E2E_CHECK(recvmsg(sv[1], &msg, 0) == 12);
  E2E_CHECK(msg.msg_flags == 0);
  E2E_CHECK(memcmp(head, data, 4) == 0);
  e2e_expect('W', 8, 0xc00, le64(data + 4));

  puts("DONE");
  return 0;
}
