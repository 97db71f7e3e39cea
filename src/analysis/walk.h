// One pass over a trace (or a kernel log) for what is computed from it:
// `stats`, `diff`, `export` and `report` all walk the records in order this
// way. Every record goes to the symbolizer (its CODEMAPs), the filter (its
// MARK window) and the device catalog, then to the visitor; every access (one
// per ACCESS record, `count` per ACCESS_RUN) that the filter lets through goes
// to the visitor too, named by the register bindings when there are any.
#pragma once

#include <string>

#include "analysis/access.h"
#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/filter.h"
#include "analysis/symbolizer.h"
#include "common/result.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace mmiotrace::analysis {

struct WalkContext {
  Filter* filter = nullptr;          // null: every access
  RegisterBindings* regs = nullptr;  // null or empty: accesses are not described
  Symbolizer* symbols = nullptr;     // null: no symbols (the visitor may ask it for PCs)
  DeviceCatalog* devices = nullptr;  // null: none kept; else every PCIDEV and MAP is added as it comes
};

class TraceVisitor {
 public:
  virtual ~TraceVisitor() = default;
  // Every record, in file order, after the context has seen it.
  virtual void on_record(const trace::RecordView& record) { (void)record; }
  // Each access that passes the filter. `described`: what the bindings say
  // about it (null without bindings; its `binding` null if no map covers it).
  virtual void on_access(const Access& access, const AccessDescription* described) = 0;
  // An UNKNOWN record that passes the filter.
  virtual void on_unknown(const trace::UnknownRecord& record) { (void)record; }
};

// The records of an opened input.
trace::RecordSource& source_of(trace::TraceInput& input);

struct WalkFailure {
  std::string message;
  bool read_failed = false;  // reading failed (I/O); else the input is damaged
};

// Walks every record. On a damaged or unreadable input, what came before has
// been visited and the failure says where.
Result<void> walk(trace::RecordSource& source, const WalkContext& context, TraceVisitor& visitor,
                  WalkFailure* failure = nullptr);

}  // namespace mmiotrace::analysis
