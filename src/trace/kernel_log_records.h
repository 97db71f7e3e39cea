// The events of a kernel mmiotrace log (kernel_log.h) as records of the trace
// format (format.h), so that the printers that print traces print kernel logs
// too: `mmiotrace print` normalises a kernel log through the same code that
// prints a trace, and the two texts can be diffed line for line.
//
// What the log does not have stays zero or empty in the records (docs/print.md,
// "Kernel logs"): no process id, no instruction bytes but UNKNOWN's three, no
// path, kind, BAR or protection of mappings. Each record's seq is the event's
// line number in the log.
#pragma once

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "trace/kernel_log.h"
#include "trace/reader.h"

namespace mmiotrace::trace {

// The kind a MAP record made from a kernel log has: none of format.h's, so the
// native printer says kind=unknown. Never written to a file.
inline constexpr uint16_t kKernelLogMapKind = 0xffff;

// Encodes `event` into `buf` (at least kMaxRecordSize bytes) and returns the
// record's size. READ/WRITE: an ACCESS of the event's width whose value is the
// low `width` bytes of the logged value (what the device transferred; the
// kernel logs a sign-extended register for MOVSX). MARK: at most kMaxMarkText
// bytes of text. LOST: a LOST record of the event's count.
size_t encode_kernel_event(const KernelLogEvent& event, uint8_t* buf);

class KernelLogRecords final : public RecordSource {
 public:
  explicit KernelLogRecords(KernelLogReader reader);
  Result<bool> next(RecordView& out) override;
  bool read_failed() const override { return reader_.failure() == TraceFailure::UNREADABLE; }
  const KernelLogReader& reader() const { return reader_; }

 private:
  KernelLogReader reader_;
  KernelLogEvent event_;
  std::unique_ptr<uint8_t[]> record_;
};

}  // namespace mmiotrace::trace
