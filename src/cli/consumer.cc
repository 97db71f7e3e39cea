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

// The record at `*tail` (the ring's tail as this consumer has it: what it
// has taken but not yet handed back, see drain) of `ring`, skipping a PAD
// (`*tail` moves past it). `*head` is the ring's head as last read (0: not
// yet), read again only when the records before it are all taken: the
// producer's cache line moves here once per batch, not once per record.
// False if the ring is empty or broken. The ring's own bounds are checked
// here; the record itself by the trace reader's rules, so that whatever the
// recorder writes reads back.
bool Consumer::peek(uint32_t ring, uint64_t* tail, uint64_t* head_seen, trace::RecordView* out) {
  trace::RingControl& rc = trace::ring_controls(ch_)[ring];
  uint8_t* data = trace::ring_data(ch_, ring);
  const uint64_t ring_bytes = ch_->ring_bytes;
  for (;;) {
    if (*head_seen == *tail || *head_seen == 0) {
      *head_seen = rc.head.load(std::memory_order_acquire);
      if (*head_seen == *tail) return false;
    }
    const uint64_t head = *head_seen;
    const uint64_t off = *tail & (ring_bytes - 1);
    auto* h = reinterpret_cast<const RecordHeader*>(data + off);
    if (h->type == static_cast<uint16_t>(RecordType::PAD) && *tail + (ring_bytes - off) <= head) {
      *tail += ring_bytes - off;
      continue;
    }
    // A PAD that reaches past what was published is as invalid as a bad record.
    std::string why;
    if (h->type == static_cast<uint16_t>(RecordType::PAD) || h->size < sizeof(RecordHeader) || h->size % 8 != 0 ||
        off + h->size > ring_bytes || *tail + h->size > head) {
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
  trace::RingControl* controls = trace::ring_controls(ch_);
  for (;;) {
    const uint32_t rings = ch_->ring_high_water.load(std::memory_order_acquire);
    int best = -1;
    trace::RecordView best_rec;
    uint64_t best_seq = 0;
    for (uint32_t i = 0; i < rings; ++i) {
      if (!broken_rings_.empty() && broken_rings_.count(i) != 0) continue;
      const uint64_t tail = controls[i].tail.load(std::memory_order_relaxed);
      uint64_t at = tail;
      uint64_t head = 0;
      trace::RecordView v;
      const bool found = peek(i, &at, &head, &v);
      if (at != tail) controls[i].tail.store(at, std::memory_order_release);  // PADs skipped
      if (!found) continue;
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
    // Take this ring's consecutive records while they are next in order. An
    // ACCESS_RUN takes `count` seqs: the record after it has seq + count.
    // The room is handed back to the producer (the tail stored) every eighth
    // of the ring and at the end, not after every record: each store takes
    // the cache line the producer reads the tail from (trace::RingCursor).
    trace::RingControl& rc = controls[best];
    uint64_t tail = rc.tail.load(std::memory_order_relaxed);
    uint64_t handed_back = tail;
    uint64_t head = 0;
    const uint64_t batch = ch_->ring_bytes / 8;
    do {
      expected_seq_ = best_rec.header().seq + seqs_taken(best_rec);
      emit(best_rec);
      tail += best_rec.size();
      if (tail - handed_back >= batch) {
        rc.tail.store(tail, std::memory_order_release);
        handed_back = tail;
      }
      progress = true;
    } while (peek(static_cast<uint32_t>(best), &tail, &head, &best_rec) && best_rec.header().seq == expected_seq_);
    if (tail != handed_back) rc.tail.store(tail, std::memory_order_release);
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
