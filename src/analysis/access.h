// One device access, whatever record it came from: an ACCESS record is one,
// an ACCESS_RUN record is `count` of them (docs/trace-format.md). Printers,
// filters, register decoding and statistics all work on this view, so that a
// run's accesses are filtered, named and counted one by one like any other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "trace/format.h"
#include "trace/reader.h"

namespace mmiotrace::analysis {

struct Access {
  uint64_t seq = 0;  // the access's own seq (a run's seq + index)
  uint64_t time_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  int32_t map_id = 0;
  uint64_t phys = 0;
  uint64_t pc = 0;
  trace::AccessOp op = trace::AccessOp::READ;
  uint8_t width = 0;  // bytes
  uint8_t flags = 0;  // trace::kAccess* bits
  uint64_t byte_mask = 0;
  std::span<const uint8_t> value;  // `width` bytes, memory order; meaningless with kAccessValueUnknown
  std::span<const uint8_t> insn;   // the instruction's bytes (may be empty)
  uint32_t run_index = 0;          // a run's access: 0..run_count-1
  uint32_t run_count = 0;          // 0: from an ACCESS record

  bool is_write() const { return op == trace::AccessOp::WRITE; }
  bool value_known() const { return (flags & trace::kAccessValueUnknown) == 0; }
  // The value of up to 8 bytes of it, from byte `first`, as a little-endian integer.
  uint64_t value_bits(unsigned first, unsigned n) const {
    uint64_t v = 0;
    for (unsigned i = first + n; i-- > first;) v = (v << 8) | value[i];
    return v;
  }
};

// The one access of the ACCESS record `record` (checked by its reader), its
// fields read one by one: no copy of the whole record.
inline Access access_of(const trace::RecordView& record) {
  using trace::AccessRecord;
  const uint8_t* p = record.bytes().data();
  const auto field = [p](size_t at, auto& to) { std::memcpy(&to, p + at, sizeof to); };
  Access a;
  uint8_t op = 0, insn_len = 0;
  field(offsetof(trace::RecordHeader, seq), a.seq);
  field(offsetof(trace::RecordHeader, time_ns), a.time_ns);
  field(offsetof(trace::RecordHeader, tid), a.tid);
  field(offsetof(AccessRecord, pid), a.pid);
  field(offsetof(AccessRecord, map_id), a.map_id);
  field(offsetof(AccessRecord, phys), a.phys);
  field(offsetof(AccessRecord, pc), a.pc);
  field(offsetof(AccessRecord, op), op);
  field(offsetof(AccessRecord, width), a.width);
  field(offsetof(AccessRecord, flags), a.flags);
  field(offsetof(AccessRecord, byte_mask), a.byte_mask);
  field(offsetof(AccessRecord, insn_len), insn_len);
  a.op = static_cast<trace::AccessOp>(op);
  a.value = {p + sizeof(AccessRecord), a.width};
  a.insn = {p + offsetof(AccessRecord, insn), insn_len};
  return a;
}

// The one access of an ACCESS record.
inline Access access_of(const trace::RecordView& record, const trace::AccessRecord& r) {
  Access a;
  a.seq = r.h.seq;
  a.time_ns = r.h.time_ns;
  a.pid = r.pid;
  a.tid = r.h.tid;
  a.map_id = static_cast<int32_t>(r.map_id);
  a.phys = r.phys;
  a.pc = r.pc;
  a.op = static_cast<trace::AccessOp>(r.op);
  a.width = r.width;
  a.flags = r.flags;
  a.byte_mask = r.byte_mask;
  // The reader checked the record (its size fits its width, insn_len <= 15):
  // the value follows the fixed part, without a second copy of it.
  a.value = {record.bytes().data() + sizeof r, r.width};
  a.insn = {record.bytes().data() + offsetof(trace::AccessRecord, insn), r.insn_len};
  return a;
}

// Access `i` of an ACCESS_RUN record: its own seq, address and value, the run's time.
inline Access access_of_run(const trace::RecordView& record, const trace::AccessRunRecord& r, uint32_t i) {
  Access a;
  a.seq = r.h.seq + i;
  a.time_ns = r.h.time_ns;
  a.pid = r.pid;
  a.tid = r.h.tid;
  a.map_id = static_cast<int32_t>(r.map_id);
  a.phys = trace::run_access_phys(r.phys, r.stride, i);
  a.pc = r.pc;
  a.op = static_cast<trace::AccessOp>(r.op);
  a.width = r.width;
  a.flags = r.flags;
  a.byte_mask = r.width >= 64 ? ~uint64_t{0} : (uint64_t{1} << r.width) - 1;
  a.value = {record.bytes().data() + sizeof r + size_t{i} * r.width, r.width};  // checked by the reader
  a.insn = {record.bytes().data() + offsetof(trace::AccessRunRecord, insn), r.insn_len};
  a.run_index = i;
  a.run_count = r.count;
  return a;
}

// Calls f(const Access&) for each access of an ACCESS or ACCESS_RUN record;
// returns false (and calls nothing) for a record of another type.
template <typename F>
bool for_each_access(const trace::RecordView& record, F&& f) {
  const trace::RecordType type = record.type();
  if (type == trace::RecordType::ACCESS) {
    f(access_of(record));
    return true;
  }
  if (type == trace::RecordType::ACCESS_RUN) {
    const auto r = record.as<trace::AccessRunRecord>();
    for (uint32_t i = 0; i < r.count; ++i) f(access_of_run(record, r, i));
    return true;
  }
  return false;
}

}  // namespace mmiotrace::analysis
