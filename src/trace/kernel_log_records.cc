#include "trace/kernel_log_records.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "trace/encode.h"

namespace mmiotrace::trace {

size_t encode_kernel_event(const KernelLogEvent& e, uint8_t* buf) {
  // The line number orders the records as the log does.
  const RecordStamp stamp{e.line, e.time_ns, static_cast<uint32_t>(e.pid)};
  const size_t cap = kMaxRecordSize;
  switch (e.kind) {
    case KernelEventKind::READ:
    case KernelEventKind::WRITE: {
      uint8_t value[8];
      std::memcpy(value, &e.value, sizeof value);  // x86: little-endian, the low bytes first
      AccessFields a;
      a.op = e.kind == KernelEventKind::WRITE ? AccessOp::WRITE : AccessOp::READ;
      a.width = static_cast<uint8_t>(e.width);
      a.phys = e.phys;
      a.pc = e.pc;
      a.map_id = static_cast<uint32_t>(e.map_id);
      a.value = value;
      if (e.value_unknown) a.flags = kAccessValueUnknown;
      return encode_access(buf, cap, stamp, a);
    }
    case KernelEventKind::MAP: {
      MapFields m;
      m.phys = e.phys;
      m.virt = e.virt;
      m.len = e.len;
      m.map_id = static_cast<uint32_t>(e.map_id);
      m.kind = static_cast<DeviceKind>(kKernelLogMapKind);
      return encode_map(buf, cap, RecordStamp{e.line, e.time_ns, 0}, m);
    }
    case KernelEventKind::UNMAP: {
      UnmapFields u;
      u.map_id = static_cast<uint32_t>(e.map_id);
      return encode_unmap(buf, cap, RecordStamp{e.line, e.time_ns, 0}, u);
    }
    case KernelEventKind::MARK: {
      MarkFields m;
      m.text = e.text.data();
      m.text_len = static_cast<uint16_t>(std::min<size_t>(e.text.size(), kMaxMarkText));
      return encode_mark(buf, cap, RecordStamp{e.line, e.time_ns, 0}, m);
    }
    case KernelEventKind::PCIDEV: {
      PciDevFields p;
      p.busdevfn = (uint32_t{e.pci.bus} << 8) | e.pci.devfn;
      p.vendor = e.pci.vendor;
      p.device = e.pci.device;
      p.irq = e.pci.irq;
      std::copy(std::begin(e.pci.start), std::end(e.pci.start), p.start);
      std::copy(std::begin(e.pci.size), std::end(e.pci.size), p.size);
      p.driver = e.pci.driver.data();
      p.driver_len = static_cast<uint16_t>(e.pci.driver.size());  // < KernelLogReader::kMaxLineLength
      return encode_pcidev(buf, cap, RecordStamp{e.line, 0, 0}, p);
    }
    case KernelEventKind::UNKNOWN: {
      UnknownFields u;
      u.phys = e.phys;
      u.pc = e.pc;
      u.map_id = static_cast<uint32_t>(e.map_id);
      u.insn = e.insn;
      u.insn_len = sizeof e.insn;
      return encode_unknown(buf, cap, stamp, u);
    }
    case KernelEventKind::LOST:
      return encode_lost(buf, cap, RecordStamp{e.line, 0, 0}, LostFields{e.lost});
  }
  return 0;
}

KernelLogRecords::KernelLogRecords(KernelLogReader reader)
    : reader_(std::move(reader)), record_(new uint8_t[kMaxRecordSize]) {}

Result<bool> KernelLogRecords::next(RecordView& out) {
  auto more = reader_.next(event_);
  if (!more || !*more) return more;
  const size_t n = encode_kernel_event(event_, record_.get());
  MT_CHECK_MSG(n != 0, "a kernel log event the reader accepted does not encode");
  auto view = RecordView::checked({record_.get(), n});
  MT_CHECK_MSG(view.ok(), "a record made from a kernel log event fails the reader's checks");
  out = *view;
  return true;
}

}  // namespace mmiotrace::trace
