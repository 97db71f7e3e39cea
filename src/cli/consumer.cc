#include "cli/consumer.h"

#include <fmt/format.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <span>

#include "trace/channel_producer.h"
#include "trace/encode.h"

namespace mmiotrace::cli {

using trace::RecordHeader;
using trace::RecordType;
using trace::RingState;

namespace {

// The seqs a record takes: an ACCESS_RUN's `count` (checked), else 1.
uint64_t seqs_taken(const trace::RecordView& r) {
  if (r.type() != RecordType::ACCESS_RUN) return 1;
  return r.as<trace::AccessRunRecord>().count;
}

}  // namespace

// The record at the ring's tail, skipping a PAD. False if the ring is empty
// or broken. The ring's own bounds are checked here; the record itself by the
// trace reader's rules, so that whatever the recorder writes reads back.
bool Consumer::peek(uint32_t ring, trace::RecordView* out) {
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
    std::string why;
    if (h->type == static_cast<uint16_t>(RecordType::PAD) || h->size < sizeof(RecordHeader) || h->size % 8 != 0 ||
        off + h->size > ring_bytes || tail + h->size > head) {
      why = "it does not fit in what the thread published";
    } else {
      auto checked = trace::RecordView::checked(std::span<const uint8_t>(data + off, h->size));
      if (checked) {
        *out = *checked;
        return true;
      }
      why = checked.error();
    }
    channel_error_ = fmt::format(
        "thread {}'s buffer holds an invalid record (type {}, size {}): {}; the program may have overwritten "
        "the tracer's shared memory, so that thread's later events are missing",
        rc.owner_tid.load(), h->type, h->size, why);
    broken_rings_.insert(ring);
    return false;
  }
}

void Consumer::emit(const trace::RecordView& rec) {
  // Each process that maps a device reports it; the trace lists it once.
  if (rec.type() == RecordType::PCIDEV && !pci_devices_.insert(rec.as<trace::PciDevRecord>().busdevfn).second) return;
  sink_->take(rec);
}

bool Consumer::drain() {
  bool progress = false;
  bool rescanned = false;
  for (;;) {
    const uint32_t rings = ch_->ring_high_water.load(std::memory_order_acquire);
    int best = -1;
    trace::RecordView best_rec;
    uint64_t best_seq = 0;
    for (uint32_t i = 0; i < rings; ++i) {
      trace::RecordView v;
      if (broken_rings_.count(i) != 0 || !peek(i, &v)) continue;
      const uint64_t seq = v.header().seq;
      if (best < 0 || seq < best_seq) {
        best = static_cast<int>(i);
        best_rec = v;
        best_seq = seq;
      }
    }
    if (best < 0) break;
    if (best_seq != expected_seq_) {
      // Producers publish under the order lock, so a record with a later seq
      // is published only after the expected one was. Look once more, in case
      // this scan read the expected one's ring before it was published; if it
      // is still missing, its thread died between taking the seq and
      // publishing (killed mid-access): count it lost rather than wait forever.
      if (!rescanned) {
        rescanned = true;
        continue;
      }
      if (best_seq > expected_seq_) emit_lost(best_seq - expected_seq_, best_rec.header().time_ns);
    }
    rescanned = false;
    trace::RingControl& rc = trace::ring_controls(ch_)[best];
    // Take this ring's consecutive records while they are next in order. An
    // ACCESS_RUN takes `count` seqs: the record after it has seq + count.
    do {
      expected_seq_ = best_rec.header().seq + seqs_taken(best_rec);
      emit(best_rec);
      rc.tail.store(rc.tail.load(std::memory_order_relaxed) + best_rec.size(), std::memory_order_release);
      progress = true;
    } while (peek(static_cast<uint32_t>(best), &best_rec) && best_rec.header().seq == expected_seq_);
  }
  free_retired_rings();
  return progress;
}

void Consumer::emit_lost(uint64_t count, uint64_t time_ns) {
  alignas(8) uint8_t buf[sizeof(trace::LostRecord)];
  // The LOST record takes the first missing seq.
  const size_t n =
      trace::encode_lost(buf, sizeof(buf), trace::RecordStamp{expected_seq_, time_ns, 0}, trace::LostFields{count});
  auto lost = trace::RecordView::checked(std::span<const uint8_t>(buf, n));
  MT_CHECK_MSG(lost.ok(), "the consumer's own LOST record does not pass the reader's checks");
  emit(*lost);
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
