// Async-signal-safe: runs in the traced program's signal handler; no
// allocation, no locks but the order lock.
#include "agent/device_memory.h"

#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "agent/agent.h"
#include "agent/backend/backend.h"
#include "agent/producer.h"
#include "agent/safe_access.h"
#include "agent/safe_format.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "trace/encode.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

bool is_natural_width(unsigned size) {
  return size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32 || size == 64;
}

uint64_t low_mask(unsigned bytes) { return bytes >= 64 ? ~uint64_t{0} : (uint64_t{1} << bytes) - 1; }

emu::MemFault fault_from_safe() {
  SafeFault f = last_safe_fault();
  return emu::MemFault{f.signo, f.code, f.addr};
}

emu::MemFault prot_fault(uint64_t addr) { return emu::MemFault{SIGSEGV, SEGV_ACCERR, addr}; }

// Ordinary memory of the program: exact-width accesses where the width is a
// natural one (keeps aligned accesses atomic for the program's other threads).
emu::MemFault ordinary_access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked, bool write) {
  auto* p = reinterpret_cast<uint8_t*>(addr);
  if (masked) {
    for (unsigned i = 0; i < size; ++i) {
      if (((mask >> i) & 1) == 0) continue;
      int rc = write ? mt_store_1(p + i, buf + i) : mt_load_1(p + i, buf + i);
      if (rc != 0) return fault_from_safe();
    }
    return {};
  }
  int rc;
  if (is_natural_width(size)) {
    rc = write ? safe_store(p, buf, size) : safe_load(p, buf, size);
  } else {
    rc = write ? mt_copy(p, buf, size) : mt_copy(buf, p, size);
  }
  return rc == 0 ? emu::MemFault{} : fault_from_safe();
}

}  // namespace

emu::MemFault DeviceMemory::read(uint64_t addr, unsigned size, void* out) {
  return access(addr, size, static_cast<uint8_t*>(out), low_mask(size), false, false);
}

emu::MemFault DeviceMemory::write(uint64_t addr, unsigned size, const void* in) {
  uint8_t buf[trace::kMaxAccessWidth];
  memcpy(buf, in, size);
  return access(addr, size, buf, low_mask(size), false, true);
}

emu::MemFault DeviceMemory::read_in(const RegionInfo& r, uint64_t addr, unsigned size, void* out) {
  if (size == 0 || size > trace::kMaxAccessWidth) return emu::MemFault{SIGSEGV, SI_KERNEL, 0};
  return device_access(r, addr, size, static_cast<uint8_t*>(out), low_mask(size), false, false, false);
}

emu::MemFault DeviceMemory::write_in(const RegionInfo& r, uint64_t addr, unsigned size, const void* in) {
  if (size == 0 || size > trace::kMaxAccessWidth) return emu::MemFault{SIGSEGV, SI_KERNEL, 0};
  uint8_t buf[trace::kMaxAccessWidth];
  memcpy(buf, in, size);
  return device_access(r, addr, size, buf, low_mask(size), false, true, false);
}

emu::MemFault DeviceMemory::read_masked(uint64_t addr, unsigned size, uint64_t byte_mask, void* out) {
  return access(addr, size, static_cast<uint8_t*>(out), byte_mask & low_mask(size), true, false);
}

emu::MemFault DeviceMemory::write_masked(uint64_t addr, unsigned size, uint64_t byte_mask, const void* in) {
  uint8_t buf[trace::kMaxAccessWidth];
  memcpy(buf, in, size);
  return access(addr, size, buf, byte_mask & low_mask(size), true, true);
}

void DeviceMemory::instruction_decoded(unsigned length) {
  // Keep only the instruction's own bytes in the records.
  if (!ctx_.exact && length < ctx_.insn_len) {
    memset(ctx_.insn + length, 0, sizeof(ctx_.insn) - length);
    ctx_.insn_len = static_cast<uint8_t>(length);
  }
}

emu::MemFault DeviceMemory::access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked, bool write) {
  if (size == 0 || size > trace::kMaxAccessWidth) return emu::MemFault{SIGSEGV, SI_KERNEL, 0};
  RegionInfo r;
  bool in_region = g_agent.regions.find(addr, &r);
  if (in_region && addr + size <= r.end) return device_access(r, addr, size, buf, mask, masked, write, false);
  if (!in_region && g_agent.regions.next_start_after(addr) >= addr + size) {
    if (record_only_) return {};
    return ordinary_access(addr, size, buf, mask, masked, write);
  }
  return split_access(addr, size, buf, mask, masked, write);
}

// An access that straddles the end of a mapping. First every device part's
// protection is checked and the ordinary parts are performed (they are the
// ones that can fault), so that a faulting access reaches no device; then the
// device parts, each as the largest naturally aligned pieces that fit.
emu::MemFault DeviceMemory::split_access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked,
                                         bool write) {
  const uint64_t end = addr + size;
  for (int pass = 0; pass < 2; ++pass) {
    uint64_t pos = addr;
    while (pos < end) {
      RegionInfo r;
      bool dev = g_agent.regions.find(pos, &r);
      uint64_t stop = dev ? (r.end < end ? r.end : end) : g_agent.regions.next_start_after(pos);
      if (stop > end) stop = end;
      auto off = static_cast<unsigned>(pos - addr);
      auto len = static_cast<unsigned>(stop - pos);
      uint64_t part_mask = (mask >> off) & low_mask(len);
      if (pass == 0 && record_only_) {
        pos = stop;
        continue;
      }
      if (pass == 0 && dev && (r.prot & (write ? PROT_WRITE : PROT_READ)) == 0) return prot_fault(pos);
      if (pass == 0 && !dev) {
        emu::MemFault f = ordinary_access(pos, len, buf + off, part_mask, masked, write);
        if (!f.ok()) return f;
      }
      if (pass == 1 && dev) {
        for (unsigned i = 0; i < len;) {
          unsigned piece = 8;
          while (piece > 1 && (((pos + i) & (piece - 1)) != 0 || i + piece > len)) piece /= 2;
          uint64_t piece_mask = (part_mask >> i) & low_mask(piece);
          if (!masked || piece_mask == low_mask(piece)) {
            emu::MemFault f = device_access(r, pos + i, piece, buf + off + i, low_mask(piece), false, write, true);
            if (!f.ok()) return f;
          } else if (piece_mask != 0) {
            for (unsigned b = 0; b < piece; ++b) {
              if (((piece_mask >> b) & 1) == 0) continue;
              emu::MemFault f = device_access(r, pos + i + b, 1, buf + off + i + b, 1, false, write, true);
              if (!f.ok()) return f;
            }
          }
          i += piece;
        }
      }
      pos = stop;
    }
  }
  return {};
}

emu::MemFault DeviceMemory::device_access(const RegionInfo& r, uint64_t addr, unsigned size, uint8_t* buf,
                                          uint64_t mask, bool masked, bool write, bool split) {
  MT_CHECK(addr >= r.start && size <= r.end - addr && size <= trace::kMaxAccessWidth);
  if (!record_only_ && (r.prot & (write ? PROT_WRITE : PROT_READ)) == 0) return prot_fault(addr);
  if (masked && mask == low_mask(size)) masked = false;
  if (masked && mask == 0) return {};  // nothing selected: no access at all
  if (record_only_) {
    // The instruction already accessed the device; the step holds the order lock (step.h).
    MT_CHECK(holds_order_lock());
    record(r, addr, size, buf, mask, masked, write, split, 0, take_seq_locked(), monotonic_ns());
    ++device_accesses_;
    return {};
  }
  DeviceAccess a{r, addr, size, mask, masked, write, buf, ctx_};
  Backend& backend = backend_for(r);
  backend.enter(a);
  order_lock();
  MT_CHECK(holds_order_lock());
  // The seq before the device (producer.h, give_back_seqs_locked): killed
  // between the two, the thread leaves a lost seq, not an unrecorded access.
  // A MARK the backend adds takes it, and the access the next (mark()).
  access_seq_ = take_seq_locked();
  holding_seq_ = true;
  const emu::MemFault f = backend.access(a, *this);
  holding_seq_ = false;
  if (!f.ok()) {
    give_back_seqs_locked(access_seq_);
    order_unlock();
    backend.leave(a);
    return f;
  }
  testing_after_device_access();
  // The record is published before the lock is released, so that a process
  // exit (which waits for in-flight accesses, see exit_barrier.h) never finds
  // an access done but not recorded, and seqs reach the rings in order.
  record(r, addr, size, buf, mask, masked, write, split, a.flags, access_seq_, monotonic_ns());
  ++device_accesses_;
  order_unlock();
  backend.leave(a);
  return {};
}

void DeviceMemory::mark(const char* text, size_t len) {
  MT_CHECK(holds_order_lock());
  if (in_run_) {
    // Within a run the seqs are taken for the whole chunk: the first MARK is
    // kept and written after the ACCESS_RUN record (flush_run_marks()).
    if (run_marks_++ == 0) {
      run_mark_len_ = len < sizeof run_mark_ ? len : sizeof run_mark_;
      memcpy(run_mark_, text, run_mark_len_);
    }
    return;
  }
  uint64_t seq;
  if (holding_seq_) {
    // The access in progress already has its seq: the MARK, which goes before
    // it, takes that one, and the access a new one.
    seq = access_seq_;
    access_seq_ = take_seq_locked();
  } else {
    seq = take_seq_locked();
  }
  push_mark(text, len, seq);
}

// After a run's ACCESS_RUN record: the first MARK a backend added to it,
// and how many more there were.
void DeviceMemory::flush_run_marks() {
  if (run_marks_ == 0) return;
  SafeBuf more;
  if (run_marks_ > 1) more.str(" (and ").dec(run_marks_ - 1).str(" more in this run)");
  char text[sizeof run_mark_ + 64];
  memcpy(text, run_mark_, run_mark_len_);
  memcpy(text + run_mark_len_, more.data(), more.size());
  push_mark(text, run_mark_len_ + more.size(), take_seq_locked());
  run_marks_ = 0;
}

void DeviceMemory::push_mark(const char* text, size_t len, uint64_t seq) {
  trace::MarkFields f;
  f.pid = g_agent.pid;
  f.text = text;
  f.text_len = static_cast<uint16_t>(len < trace::kMaxMarkText ? len : trace::kMaxMarkText);
  alignas(8) uint8_t buf[trace::record_size_for_mark(trace::kMaxMarkText)];
  const size_t n = trace::encode_mark(buf, sizeof(buf), trace::RecordStamp{seq, monotonic_ns(), ctx_.tid}, f);
  MT_CHECK(n != 0);
  push_record(buf, n);
}

emu::MemFault DeviceMemory::atomic_rmw(uint64_t addr, unsigned size, void* old_out, emu::RmwCompute compute,
                                       void* ctx) {
  RegionInfo r;
  if (!g_agent.regions.find(addr, &r) || addr + size > r.end) {
    // Not all on one device mapping (ordinary memory, or a split lock across
    // mappings, which nobody emits): read, compute, write, not atomically.
    return emu::Memory::atomic_rmw(addr, size, old_out, compute, ctx);
  }
  // A locked access needs write permission even to read (#PF with W=1).
  if ((r.prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE)) return prot_fault(addr);
  auto* old_value = static_cast<uint8_t*>(old_out);
  uint8_t new_value[16];
  DeviceAccess rd{r, addr, size, low_mask(size), false, false, old_value, ctx_};
  Backend& backend = backend_for(r);
  backend.enter(rd);
  order_lock();
  access_seq_ = take_seq_locked();  // before the device, as in device_access
  holding_seq_ = true;
  emu::MemFault f = backend.access(rd, *this);
  holding_seq_ = false;
  if (!f.ok()) give_back_seqs_locked(access_seq_);
  if (f.ok()) {
    record(r, addr, size, old_value, low_mask(size), false, false, false, rd.flags, access_seq_, monotonic_ns());
    ++device_accesses_;
    if (compute(ctx, old_value, new_value)) {
      DeviceAccess wr{r, addr, size, low_mask(size), false, true, new_value, ctx_};
      access_seq_ = take_seq_locked();
      holding_seq_ = true;
      f = backend.access(wr, *this);
      holding_seq_ = false;
      if (f.ok()) {
        record(r, addr, size, new_value, low_mask(size), false, true, false, wr.flags, access_seq_, monotonic_ns());
        ++device_accesses_;
      } else {
        give_back_seqs_locked(access_seq_);
      }
    }
  }
  order_unlock();
  backend.leave(rd);
  return f;
}

// One side of a string run: where its addresses lie.
struct DeviceMemory::RunSide {
  uint64_t first = 0;       // program address of iteration 0
  uint64_t lo = 0, hi = 0;  // the bytes the run covers
  bool device = false;      // within one device mapping (`region`)
  RegionInfo region;
};

// Fills *side for the addresses base+first, stepping by width over
// run.count iterations. False if the run cannot be done in bulk: the
// addresses wrap, or they lie partly on a device mapping.
bool DeviceMemory::run_side(const emu::StringRun& run, uint64_t base, uint64_t first, RunSide* side) const {
  const uint64_t span = (run.count - 1) * run.width;
  const uint64_t offset = first - base;
  if (run.count > (uint64_t{1} << 40) / run.width) return false;
  if (run.down ? offset < span : (run.addr_bits < 64 && offset + span + run.width > (uint64_t{1} << run.addr_bits))) {
    return false;
  }
  side->first = first;
  side->lo = run.down ? first - span : first;
  side->hi = side->lo + span + run.width;
  if (side->hi < side->lo) return false;
  if (g_agent.regions.find(side->lo, &side->region)) {
    side->device = side->hi <= side->region.end;
    return side->device;
  }
  side->device = false;
  return !g_agent.regions.overlaps(side->lo, side->hi);
}

emu::MemFault DeviceMemory::string_run(const emu::StringRun& run, uint64_t* done, uint64_t* last) {
  *done = 0;
  RunSide src, dst;
  const bool reads = run.kind != emu::StringKind::STOS;
  const bool writes = run.kind != emu::StringKind::LODS;
  bool bulk = (!reads || run_side(run, run.src_base, run.src, &src)) && (!writes || run_side(run, 0, run.dst, &dst));
  // Exactly one side on a device, with the rights the program has there.
  const RunSide& dev = reads && src.device ? src : dst;
  const RunSide& other = reads && src.device ? dst : src;
  bulk = bulk && dev.device && !(reads && writes && src.device && dst.device) &&
         (dev.region.prot & (&dev == &src ? PROT_READ : PROT_WRITE)) != 0;
  if (!bulk) return emu::Memory::string_run(run, done, last);
  // Chunks of at most 4 KiB of values: one record each, and a bounded stack.
  constexpr uint64_t kChunkBytes = 4096;
  while (*done < run.count) {
    const uint64_t n = std::min<uint64_t>(run.count - *done, kChunkBytes / run.width);
    const emu::MemFault f = run_chunk(run, dev, other, *done, n, done, last);
    if (!f.ok()) return f;
  }
  return {};
}

// Iterations [first, first + n) of a bulk run, under the order lock; their
// device accesses become one ACCESS_RUN record.
emu::MemFault DeviceMemory::run_chunk(const emu::StringRun& run, const RunSide& dev, const RunSide& other,
                                      uint64_t first, uint64_t n, uint64_t* done, uint64_t* last) {
  alignas(8) uint8_t values[4096];
  MT_CHECK(n != 0 && n * run.width <= sizeof values);
  const bool device_reads =
      run.kind == emu::StringKind::LODS || (run.kind == emu::StringKind::MOVS && dev.first == run.src);
  const int64_t step = run.down ? -static_cast<int64_t>(run.width) : static_cast<int64_t>(run.width);
  auto at = [&](uint64_t base, uint64_t i) { return base + static_cast<uint64_t>(static_cast<int64_t>(i) * step); };
  const uint64_t all = low_mask(run.width);
  emu::MemFault fault;
  uint64_t accessed = 0;  // device accesses made in this chunk
  uint8_t flags = 0;      // what the backend added to any of them
  Backend& backend = backend_for(dev.region);
  DeviceAccess head{dev.region, at(dev.first, first), run.width, all, false, !device_reads, values, ctx_};
  backend.enter(head);
  order_lock();
  // Seqs for every iteration before the device, as in device_access; those
  // of iterations not made are given back. A thread killed in the middle
  // leaves them all lost: more than it made, never fewer.
  const uint64_t first_seq = take_seqs_locked(n);
  const uint64_t time_ns = monotonic_ns();
  in_run_ = true;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t k = first + i;
    uint8_t* v = values + i * run.width;
    DeviceAccess a{dev.region, at(dev.first, k), run.width, all, false, !device_reads, v, ctx_};
    if (run.kind == emu::StringKind::STOS) {
      memcpy(v, &run.value, run.width);
    } else if (!device_reads && safe_load(reinterpret_cast<void*>(at(other.first, k)), v, run.width) != 0) {
      fault = fault_from_safe();  // the ordinary source faulted: no device access for this iteration
      break;
    }
    fault = backend.access(a, *this);
    if (!fault.ok()) break;
    flags |= a.flags;
    ++accessed;
    if (run.kind == emu::StringKind::MOVS && device_reads &&
        safe_store(reinterpret_cast<void*>(at(other.first, k)), v, run.width) != 0) {
      fault = fault_from_safe();  // the read happened; the iteration did not complete
      break;
    }
    if (last != nullptr && device_reads) memcpy(last, v, run.width);
    *done = k + 1;
  }
  in_run_ = false;
  give_back_seqs_locked(first_seq + accessed);
  if (accessed != 0) {
    record_run(dev.region, at(dev.first, first), !device_reads, run.width, static_cast<int32_t>(step), accessed, values,
               flags, first_seq, time_ns);
  }
  flush_run_marks();
  order_unlock();
  backend.leave(head);
  return fault;
}

emu::MemFault DeviceMemory::bulk_copy(uint64_t addr, uint64_t len, uint8_t* buf, bool to_device, uint64_t* done) {
  *done = 0;
  while (*done < len) {
    const uint64_t pos = addr + *done;
    const uint64_t left = len - *done;
    RegionInfo r;
    if (!g_agent.regions.find(pos, &r)) {
      const uint64_t next = g_agent.regions.next_start_after(pos);
      const uint64_t n = next - pos < left ? next - pos : left;
      auto* p = reinterpret_cast<uint8_t*>(pos);
      const int rc = to_device ? mt_copy(p, buf + *done, n) : mt_copy(buf + *done, p, n);
      if (rc != 0) return fault_from_safe();
      *done += n;
      continue;
    }
    if ((r.prot & (to_device ? PROT_WRITE : PROT_READ | PROT_WRITE)) == 0) return prot_fault(pos);
    const uint64_t n = std::min(left, r.end - pos);
    unsigned width = 8;
    uint64_t count = n / 8;
    if ((pos & 7) != 0 || n < 8) {
      width = 1;
      count = (pos & 7) != 0 ? std::min<uint64_t>(n, 8 - (pos & 7)) : n;
    }
    count = std::min<uint64_t>(count, 4096 / width);
    uint64_t moved = 0;
    const emu::MemFault f = bulk_device(r, pos, width, count, buf + *done, to_device, &moved);
    *done += moved;
    if (!f.ok()) return f;
  }
  return {};
}

// `count` accesses of `width` bytes from `addr` up, within region `r`, under
// the order lock; one ACCESS_RUN record for those made.
emu::MemFault DeviceMemory::bulk_device(const RegionInfo& r, uint64_t addr, unsigned width, uint64_t count,
                                        uint8_t* buf, bool write, uint64_t* done) {
  const uint64_t all = low_mask(width);
  emu::MemFault fault;
  uint64_t accessed = 0;
  uint8_t flags = 0;
  Backend& backend = backend_for(r);
  DeviceAccess head{r, addr, width, all, false, write, buf, ctx_};
  backend.enter(head);
  order_lock();
  const uint64_t first_seq = take_seqs_locked(count);  // before the device, as in run_chunk
  const uint64_t time_ns = monotonic_ns();
  in_run_ = true;
  for (; accessed < count; ++accessed) {
    DeviceAccess a{r, addr + accessed * width, width, all, false, write, buf + accessed * width, ctx_};
    fault = backend.access(a, *this);
    if (!fault.ok()) break;
    flags |= a.flags;
  }
  in_run_ = false;
  give_back_seqs_locked(first_seq + accessed);
  if (accessed != 0) {
    record_run(r, addr, write, width, static_cast<int32_t>(width), accessed, buf, flags, first_seq, time_ns);
  }
  flush_run_marks();
  order_unlock();
  backend.leave(head);
  *done = accessed * width;
  return fault;
}

// One ACCESS_RUN record for `count` accesses starting at program address
// `addr`, under the order lock, with the seqs from `first_seq` on.
void DeviceMemory::record_run(const RegionInfo& r, uint64_t addr, bool write, unsigned width, int32_t stride,
                              uint64_t count, const uint8_t* values, uint8_t flags, uint64_t first_seq,
                              uint64_t time_ns) {
  trace::AccessRunFields rf;
  rf.op = write ? trace::AccessOp::WRITE : trace::AccessOp::READ;
  rf.width = static_cast<uint8_t>(width);
  rf.flags = static_cast<uint8_t>(record_flags_ | flags);
  rf.phys = r.phys_at(addr).value();
  rf.pc = ctx_.pc;
  rf.pid = g_agent.pid;
  rf.map_id = r.map_id;
  rf.count = static_cast<uint32_t>(count);
  rf.stride = stride;
  rf.insn = ctx_.insn;
  rf.insn_len = ctx_.insn_len;
  rf.values = values;
  alignas(8) uint8_t rec[trace::record_size_for_access_run(1, 4096)];
  const size_t size = trace::encode_access_run(rec, sizeof(rec), trace::RecordStamp{first_seq, time_ns, ctx_.tid}, rf);
  MT_CHECK(size != 0);
  push_record(rec, size);
  device_accesses_ += static_cast<unsigned>(count);
}

void DeviceMemory::record(const RegionInfo& r, uint64_t addr, unsigned size, const uint8_t* value, uint64_t mask,
                          bool masked, bool write, bool split, uint8_t flags, uint64_t seq, uint64_t time_ns) {
  uint8_t shown[trace::kMaxAccessWidth];  // bytes not accessed are recorded as zero
  for (unsigned i = 0; i < size; ++i) shown[i] = (!masked || ((mask >> i) & 1)) ? value[i] : 0;
  trace::AccessFields f;
  f.op = write ? trace::AccessOp::WRITE : trace::AccessOp::READ;
  f.width = static_cast<uint8_t>(size);
  f.flags = static_cast<uint8_t>((masked ? trace::kAccessMasked : 0) | (split ? trace::kAccessSplit : 0) |
                                 record_flags_ | extra_flags_ | flags);
  f.phys = r.phys_at(addr).value();
  f.pc = ctx_.pc;
  f.byte_mask = mask;
  f.pid = g_agent.pid;
  f.map_id = r.map_id;
  f.insn = ctx_.insn;
  f.insn_len = ctx_.insn_len;
  f.value = shown;
  alignas(8) uint8_t buf[trace::record_size_for_access(trace::kMaxAccessWidth)];
  size_t n = trace::encode_access(buf, sizeof(buf), trace::RecordStamp{seq, time_ns, ctx_.tid}, f);
  MT_CHECK(n != 0);
  push_record(buf, n);
}

}  // namespace mmiotrace::agent
