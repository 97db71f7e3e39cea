// A producer for processes other than the agent that write into a running
// recorder's channel (trace/channel.h): `mmiotrace mark` from another shell.
// It follows the agent's protocol (agent/producer.cc) on a channel given
// explicitly, with no global state: claim a FREE ring (CAS to OWNED, owner
// pid/tid, raise ring_high_water), take the order lock, stamp seq and time,
// copy the record in, publish, release the lock, retire the ring.
//
// Header-only and async-signal-safe: atomics, memcpy and raw system calls
// only; no allocation, no exceptions. The caller blocks signals around
// lock()/unlock() if a signal handler of its own could write too.
#pragma once

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trace/channel.h"
#include "trace/format.h"

namespace mmiotrace::trace {

class ChannelProducer {
 public:
  explicit ChannelProducer(ChannelHeader* ch) : ch_(ch) {}
  ChannelProducer(const ChannelProducer&) = delete;
  ChannelProducer& operator=(const ChannelProducer&) = delete;
  ~ChannelProducer() { retire(); }

  // Claims a FREE ring for (pid, tid). Returns false if every ring stays owned
  // for `max_spins` rounds (0: wait forever).
  bool claim(uint32_t pid, uint32_t tid, uint64_t max_spins = 0) {
    RingControl* rc = ring_controls(ch_);
    unsigned spins = 0;
    for (uint64_t round = 0; max_spins == 0 || round < max_spins; ++round) {
      for (uint32_t i = 0; i < ch_->ring_count; ++i) {
        uint32_t expected = static_cast<uint32_t>(RingState::FREE);
        if (rc[i].state.load(std::memory_order_relaxed) != expected) continue;
        if (!rc[i].state.compare_exchange_strong(expected, static_cast<uint32_t>(RingState::OWNED),
                                                 std::memory_order_acq_rel)) {
          continue;
        }
        rc[i].owner_pid.store(pid, std::memory_order_relaxed);
        rc[i].owner_tid.store(tid, std::memory_order_relaxed);
        uint32_t hw = ch_->ring_high_water.load(std::memory_order_relaxed);
        while (hw < i + 1 && !ch_->ring_high_water.compare_exchange_weak(hw, i + 1)) {
        }
        ring_ = static_cast<int32_t>(i);
        return true;
      }
      relax(spins);
    }
    return false;
  }

  void lock() {
    unsigned spins = 0;
    for (;;) {
      if (ch_->order_lock.load(std::memory_order_relaxed) == 0 &&
          ch_->order_lock.exchange(1, std::memory_order_acquire) == 0) {
        return;
      }
      relax(spins);
    }
  }
  void unlock() { ch_->order_lock.store(0, std::memory_order_release); }

  static uint64_t monotonic_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }

  // Fills seq and time of a complete record (encode.h) and pushes it, under
  // the order lock. Returns false if there is no ring or the recorder died
  // while the ring was full.
  bool stamp_and_push(void* record, size_t size) {
    if (ring_ < 0 || size % 8 != 0 || size > 65535 || size > ch_->ring_bytes) return false;
    auto* h = static_cast<RecordHeader*>(record);
    lock();
    h->seq = ch_->next_seq++;
    h->time_ns = monotonic_ns();
    bool ok = push(record, size);
    unlock();
    notify();
    return ok;
  }

  // Hands the ring back: the recorder frees it once drained.
  void retire() {
    if (ring_ < 0) return;
    ring_controls(ch_)[ring_].state.store(static_cast<uint32_t>(RingState::RETIRED), std::memory_order_release);
    ring_ = -1;
    notify();
  }

  // Wakes the recorder if it waits on the doorbell.
  void notify() {
    if (ch_->recorder_waiting.load(std::memory_order_seq_cst) != 0) {
      ch_->doorbell.fetch_add(1, std::memory_order_seq_cst);
      syscall(SYS_futex, &ch_->doorbell, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }
  }

 private:
  static void relax(unsigned& spins) {
    if (++spins < 64) {
      __builtin_ia32_pause();
    } else {
      syscall(SYS_sched_yield);
    }
  }

  bool recorder_alive() const {
    pid_t p = static_cast<pid_t>(ch_->recorder_pid);
    return p == 0 || kill(p, 0) == 0 || errno != ESRCH;
  }

  // Under the order lock, so records enter the rings in seq order.
  bool push(const void* record, size_t size) {
    RingControl& rc = ring_controls(ch_)[ring_];
    uint8_t* data = ring_data(ch_, static_cast<uint32_t>(ring_));
    const uint64_t ring_bytes = ch_->ring_bytes;
    uint64_t head = rc.head.load(std::memory_order_relaxed);
    uint64_t off = head & (ring_bytes - 1);
    uint64_t pad = off + size > ring_bytes ? ring_bytes - off : 0;
    unsigned spins = 0;
    uint64_t waited = 0;
    while (head + pad + size - rc.tail.load(std::memory_order_acquire) > ring_bytes) {
      notify();
      relax(spins);
      if (++waited % (1u << 20) == 0 && !recorder_alive()) return false;
    }
    if (pad != 0) {
      uint16_t type = static_cast<uint16_t>(RecordType::PAD);
      memcpy(data + off, &type, sizeof(type));
      head += pad;
      off = 0;
    }
    memcpy(data + off, record, size);
    rc.head.store(head + size, std::memory_order_seq_cst);
    return true;
  }

  ChannelHeader* ch_;
  int32_t ring_ = -1;
};

}  // namespace mmiotrace::trace
