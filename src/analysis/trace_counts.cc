#include "analysis/trace_counts.h"

#include <cstddef>
#include <cstring>

namespace mmiotrace::analysis {

using trace::AccessOp;
using trace::RecordType;

namespace {

// Whether `id` is among the recent ones; if not, it goes in (round-robin)
// and the caller inserts it into its set.
bool recent(uint32_t id, uint32_t* ids, size_t& n, size_t& next, size_t capacity) {
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] == id) return true;
  }
  if (n < capacity) {
    ids[n++] = id;
  } else {
    ids[next] = id;
    next = (next + 1) % capacity;
  }
  return false;
}

}  // namespace

void TraceCounter::saw_thread(uint32_t tid) {
  if (!recent(tid, recent_tids_, n_tids_, next_tid_, kRecent)) counts_.threads.insert(tid);
}

void TraceCounter::saw_process(uint32_t pid) {
  if (!recent(pid, recent_pids_, n_pids_, next_pid_, kRecent)) counts_.processes.insert(pid);
}

void TraceCounter::add(const trace::RecordView& record) {
  switch (record.type()) {
    case RecordType::ACCESS: {
      // The three fields it needs, not the whole record: this runs for every access.
      const uint8_t* p = record.bytes().data();
      uint8_t op;
      uint32_t tid, pid;
      std::memcpy(&op, p + offsetof(trace::AccessRecord, op), sizeof op);
      std::memcpy(&tid, p + offsetof(trace::RecordHeader, tid), sizeof tid);
      std::memcpy(&pid, p + offsetof(trace::AccessRecord, pid), sizeof pid);
      (op == static_cast<uint8_t>(AccessOp::WRITE) ? counts_.writes : counts_.reads)++;
      saw_thread(tid);
      saw_process(pid);
      break;
    }
    case RecordType::ACCESS_RUN: {
      // Each of the run's accesses counts, as if it had its own ACCESS record.
      const auto a = record.as<trace::AccessRunRecord>();
      (a.op == static_cast<uint8_t>(AccessOp::WRITE) ? counts_.writes : counts_.reads) += a.count;
      saw_thread(a.h.tid);
      saw_process(a.pid);
      break;
    }
    case RecordType::MAP:
      counts_.maps++;
      saw_process(record.as<trace::MapRecord>().pid);
      break;
    case RecordType::UNKNOWN:
      counts_.unknown++;
      break;
    case RecordType::LOST:
      counts_.lost += record.as<trace::LostRecord>().count;
      break;
    case RecordType::MARK:
      counts_.marks++;
      break;
    default:
      break;
  }
}

}  // namespace mmiotrace::analysis
