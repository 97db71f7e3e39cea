#include "cli/recorder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "trace/channel_producer.h"
#include "trace/encode.h"

namespace mmiotrace::cli {

using trace::ChannelHeader;
using trace::RecordHeader;
using trace::RecordType;
using trace::RingState;

Result<Channel> Channel::create(const RecordOptions& options, uint64_t start_monotonic_ns) {
  const size_t size = trace::channel_size(trace::kRingCount, trace::kRingBytes);
  int fd = memfd_create("mmiotrace-channel", MFD_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("cannot create the shared channel: {}", strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    return make_error(fmt::format("cannot size the shared channel ({} MiB): {}", size >> 20, strerror(e)));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    return make_error(fmt::format("cannot map the shared channel: {}", strerror(e)));
  }
  auto* h = static_cast<ChannelHeader*>(p);  // the memfd is zero-filled
  memcpy(h->magic, trace::kChannelMagic, sizeof(h->magic));
  h->version = trace::kChannelVersion;
  h->ring_count = trace::kRingCount;
  h->ring_bytes = trace::kRingBytes;
  h->total_size = size;
  h->start_monotonic_ns = start_monotonic_ns;
  h->recorder_pid = static_cast<uint32_t>(getpid());
  if (options.drop_when_full) h->flags |= trace::kChannelDropWhenFull;
  if (options.no_follow) h->flags |= trace::kChannelNoFollow;
  h->next_map_id.store(1);
  if (options.step) h->flags |= trace::kChannelStepMode;
  // Nothing is patched in step mode: every access runs for real on the device there.
  h->patch_after = options.step || options.no_patch ? 0 : options.patch_after;
  size_t pos = 0;
  for (size_t i = 0; i < options.devices.size(); ++i) {
    const std::string& g = options.devices[i].glob;
    if (pos + g.size() + 2 > sizeof(h->device_globs) || i >= trace::kMaxStandIns) {
      munmap(p, size);
      close(fd);
      return make_error("too many --device patterns (at most 64, and 4 KiB of them in all)");
    }
    memcpy(h->device_globs + pos, g.c_str(), g.size() + 1);
    pos += g.size() + 1;
    h->stand_ins[i] = options.devices[i].id;
  }
  if (options.sysroot.size() >= sizeof(h->sysroot)) {
    munmap(p, size);
    close(fd);
    return make_error("--sysroot path is too long");
  }
  memcpy(h->sysroot, options.sysroot.c_str(), options.sysroot.size() + 1);
  return Channel(fd, h);
}

Channel::Channel(Channel&& other) noexcept : fd_(other.fd_), header_(other.header_) {
  other.fd_ = -1;
  other.header_ = nullptr;
}

Channel::~Channel() {
  if (header_ != nullptr) munmap(header_, header_->total_size);
  if (fd_ >= 0) close(fd_);
}

std::string Channel::agent_path() const { return fmt::format("/proc/{}/fd/{}", getpid(), fd_); }

bool Channel::push_mark(uint64_t seq, uint64_t time_ns, uint32_t pid, const std::string& text) {
  alignas(8) uint8_t buf[trace::record_size_for_mark(trace::kMaxMarkText)];
  const auto len = static_cast<uint16_t>(std::min<size_t>(text.size(), trace::kMaxMarkText));
  size_t size = trace::encode_mark(buf, sizeof(buf), trace::RecordStamp{seq, time_ns, pid},
                                   trace::MarkFields{pid, text.data(), len});
  if (size == 0) return false;
  // The recorder is this ring's consumer too: it cannot wait for room here.
  return trace::ring_push(header_, kRecorderRing, buf, size, trace::PushMode::NO_WAIT) == trace::PushResult::PUSHED;
}

void Channel::reserve_marks() {
  header_->next_seq = 1;
  trace::RingControl& own = trace::ring_controls(header_)[kRecorderRing];
  own.owner_pid.store(header_->recorder_pid);
  own.owner_tid.store(header_->recorder_pid);
  own.state.store(static_cast<uint32_t>(RingState::OWNED));
  if (header_->ring_high_water.load() < kRecorderRing + 1) header_->ring_high_water.store(kRecorderRing + 1);
}

bool Channel::mark_start(uint64_t time_ns, uint32_t pid, const std::string& text) {
  return push_mark(0, time_ns, pid, text);
}

bool Channel::mark(uint32_t pid, const std::string& text, int lock_timeout_ms) {
  const auto tid = static_cast<uint32_t>(syscall(SYS_gettid));
  if (!trace::order_lock_acquire(header_, tid, static_cast<uint64_t>(lock_timeout_ms) * 1000000u)) return false;
  const uint64_t seq = header_->next_seq;
  bool ok = push_mark(seq, trace::channel_monotonic_ns(), pid, text);
  if (ok) header_->next_seq = seq + 1;
  trace::order_lock_release(header_);
  return ok;
}

namespace {

// Whether the fields the consumer reads lie inside the record and make sense
// (`h->size` bytes are known to be in the ring): the fixed part of the types
// emit() looks into, and an ACCESS_RUN's width, count and size (its count
// decides the next expected seq).
bool fields_ok(const RecordHeader* h) {
  switch (static_cast<RecordType>(h->type)) {
    case RecordType::ACCESS:
      return h->size >= sizeof(trace::AccessRecord);
    case RecordType::MAP:
      return h->size >= sizeof(trace::MapRecord);
    case RecordType::PCIDEV:
      return h->size >= sizeof(trace::PciDevRecord);
    case RecordType::ACCESS_RUN: {
      if (h->size < sizeof(trace::AccessRunRecord)) return false;
      auto* r = reinterpret_cast<const trace::AccessRunRecord*>(h);
      return r->count >= 1 && trace::max_run_count(r->width) != 0 &&
             h->size == trace::record_size_for_access_run(r->width, r->count);
    }
    default:
      return true;
  }
}

// The seqs a record takes: an ACCESS_RUN's `count` (checked by fields_ok), else 1.
uint64_t seqs_taken(const RecordHeader* h) {
  if (h->type != static_cast<uint16_t>(RecordType::ACCESS_RUN)) return 1;
  return reinterpret_cast<const trace::AccessRunRecord*>(h)->count;
}

}  // namespace

// The record at the ring's tail, skipping a PAD. False if the ring is empty
// or broken.
bool Consumer::peek(uint32_t ring, const RecordHeader** out) {
  trace::RingControl& rc = trace::ring_controls(ch_)[ring];
  uint8_t* data = trace::ring_data(ch_, ring);
  const uint64_t ring_bytes = ch_->ring_bytes;
  for (;;) {
    uint64_t head = rc.head.load(std::memory_order_acquire);
    uint64_t tail = rc.tail.load(std::memory_order_relaxed);
    if (head == tail) return false;
    uint64_t off = tail & (ring_bytes - 1);
    auto* h = reinterpret_cast<const RecordHeader*>(data + off);
    if (h->type == static_cast<uint16_t>(RecordType::PAD) && tail + (ring_bytes - off) <= head) {
      rc.tail.store(tail + (ring_bytes - off), std::memory_order_release);
      continue;
    }
    // A PAD that reaches past what was published is as invalid as a bad record.
    if (h->type == static_cast<uint16_t>(RecordType::PAD) || h->size < sizeof(RecordHeader) || h->size % 8 != 0 ||
        off + h->size > ring_bytes || tail + h->size > head || !fields_ok(h)) {
      channel_error_ = fmt::format(
          "thread {}'s buffer holds an invalid record (type {}, size {}); the program may have overwritten "
          "the tracer's shared memory, so that thread's later events are missing",
          rc.owner_tid.load(), h->type, h->size);
      broken_rings_.insert(ring);
      return false;
    }
    *out = h;
    return true;
  }
}

void Consumer::emit(const RecordHeader* rec) {
  switch (static_cast<RecordType>(rec->type)) {
    case RecordType::ACCESS: {
      auto* a = reinterpret_cast<const trace::AccessRecord*>(rec);
      (a->op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? stats_.writes : stats_.reads)++;
      stats_.threads.insert(rec->tid);
      stats_.processes.insert(a->pid);
      break;
    }
    case RecordType::ACCESS_RUN: {
      // Each of the run's accesses counts, as if it had its own ACCESS record.
      auto* a = reinterpret_cast<const trace::AccessRunRecord*>(rec);
      (a->op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? stats_.writes : stats_.reads) += a->count;
      stats_.threads.insert(rec->tid);
      stats_.processes.insert(a->pid);
      break;
    }
    case RecordType::MAP:
      stats_.maps++;
      stats_.processes.insert(reinterpret_cast<const trace::MapRecord*>(rec)->pid);
      break;
    case RecordType::UNKNOWN:
      stats_.unknown++;
      break;
    case RecordType::PCIDEV:
      // Each process that maps a device reports it; the trace lists it once.
      if (!pci_devices_.insert(reinterpret_cast<const trace::PciDevRecord*>(rec)->busdevfn).second) return;
      break;
    default:
      break;
  }
  if (!write_error_.empty()) return;
  Result<void> r = writer_->append(rec, rec->size);
  if (!r) write_error_ = r.error();
}

bool Consumer::drain() {
  bool progress = false;
  bool rescanned = false;
  for (;;) {
    const uint32_t rings = ch_->ring_high_water.load(std::memory_order_acquire);
    int best = -1;
    const RecordHeader* best_rec = nullptr;
    for (uint32_t i = 0; i < rings; ++i) {
      const RecordHeader* h;
      if (broken_rings_.count(i) != 0 || !peek(i, &h)) continue;
      if (best_rec == nullptr || h->seq < best_rec->seq) {
        best = static_cast<int>(i);
        best_rec = h;
      }
    }
    if (best_rec == nullptr) break;
    if (best_rec->seq != expected_seq_) {
      // Producers publish under the order lock, so a record with a later seq
      // is published only after the expected one was. Look once more, in case
      // this scan read the expected one's ring before it was published; if it
      // is still missing, its thread died between taking the seq and
      // publishing (killed mid-access): count it lost rather than wait forever.
      if (!rescanned) {
        rescanned = true;
        continue;
      }
      if (best_rec->seq > expected_seq_) {
        stats_.lost += best_rec->seq - expected_seq_;
        emit_lost(best_rec->seq - expected_seq_, best_rec->time_ns);
      }
    }
    rescanned = false;
    trace::RingControl& rc = trace::ring_controls(ch_)[best];
    // Take this ring's consecutive records while they are next in order. An
    // ACCESS_RUN takes `count` seqs: the record after it has seq + count.
    do {
      expected_seq_ = best_rec->seq + seqs_taken(best_rec);
      emit(best_rec);
      rc.tail.store(rc.tail.load(std::memory_order_relaxed) + best_rec->size, std::memory_order_release);
      progress = true;
    } while (peek(static_cast<uint32_t>(best), &best_rec) && best_rec->seq == expected_seq_);
  }
  free_retired_rings();
  return progress;
}

void Consumer::emit_lost(uint64_t count, uint64_t time_ns) {
  alignas(8) uint8_t buf[sizeof(trace::LostRecord)];
  // The LOST record takes the first missing seq.
  trace::encode_lost(buf, sizeof(buf), trace::RecordStamp{expected_seq_, time_ns, 0}, trace::LostFields{count});
  emit(reinterpret_cast<const RecordHeader*>(buf));
}

void Consumer::free_retired_rings() {
  const uint32_t rings = ch_->ring_high_water.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < rings; ++i) {
    trace::RingControl& rc = trace::ring_controls(ch_)[i];
    uint32_t retired = static_cast<uint32_t>(RingState::RETIRED);
    if (rc.state.load(std::memory_order_acquire) != retired) continue;
    if (rc.head.load(std::memory_order_acquire) != rc.tail.load(std::memory_order_relaxed)) continue;
    rc.state.compare_exchange_strong(retired, static_cast<uint32_t>(RingState::FREE));
  }
}

bool Consumer::producers_left() const {
  const uint32_t rings = ch_->ring_high_water.load(std::memory_order_seq_cst);
  for (uint32_t i = 0; i < rings; ++i) {
    trace::RingControl& rc = trace::ring_controls(ch_)[i];
    if (rc.state.load(std::memory_order_seq_cst) != static_cast<uint32_t>(RingState::OWNED)) continue;
    const uint32_t pid = rc.owner_pid.load(std::memory_order_relaxed);
    if (pid == ch_->recorder_pid) continue;  // the recorder's own ring
    // Rings of the program's threads that were killed stay OWNED; their
    // processes have been reaped by now (ESRCH).
    if (trace::process_alive(pid)) return true;
  }
  return false;
}

void Consumer::finish(int timeout_ms) {
  // Dekker with ChannelProducer::claim: `closing` first, then the rings.
  ch_->closing.store(1, std::memory_order_seq_cst);
  const uint64_t deadline = trace::channel_monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1000000u;
  drain();
  while (producers_left() && trace::channel_monotonic_ns() < deadline) {
    wait(2);
    drain();
  }
  drain();
  stats_.dropped = ch_->dropped.load(std::memory_order_relaxed);
  stats_.lock_takeovers = ch_->lock_takeovers.load(std::memory_order_relaxed);
}

void Consumer::wait(int timeout_ms) {
  uint32_t bell = ch_->doorbell.load(std::memory_order_seq_cst);
  ch_->recorder_waiting.store(1, std::memory_order_seq_cst);
  // Re-check after announcing: a producer that published before seeing the
  // flag did not ring.
  bool pending = false;
  const uint32_t rings = ch_->ring_high_water.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < rings && !pending; ++i) {
    trace::RingControl& rc = trace::ring_controls(ch_)[i];
    pending = broken_rings_.count(i) == 0 &&
              rc.head.load(std::memory_order_seq_cst) != rc.tail.load(std::memory_order_relaxed);
  }
  if (!pending) {
    struct timespec ts = {0, static_cast<long>(timeout_ms) * 1000000L};
    syscall(SYS_futex, &ch_->doorbell, FUTEX_WAIT, bell, &ts, nullptr, 0);
  } else {
    // Records are there but not yet in order: give the thread holding the
    // missing seq a moment to publish it.
    struct timespec ts = {0, 50000};
    nanosleep(&ts, nullptr);
  }
  ch_->recorder_waiting.store(0, std::memory_order_relaxed);
}

}  // namespace mmiotrace::cli
