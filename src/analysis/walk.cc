#include "analysis/walk.h"

namespace mmiotrace::analysis {

trace::RecordSource& source_of(trace::TraceInput& input) {
  if (input.kind == trace::InputKind::TRACE) return *input.trace;
  return *input.kernel_log;
}

namespace {

// The loop, for a source of a known type: a TraceReader's next() is then
// inline (trace/reader.h), not a virtual call per record.
template <typename Source>
Result<void> walk_loop(Source& source, const WalkContext& context, TraceVisitor& visitor, WalkFailure* failure) {
  const bool describe = context.regs != nullptr && !context.regs->empty();
  Filter* filter = context.filter != nullptr && !context.filter->passes_everything() ? context.filter : nullptr;
  AccessDescription described;
  trace::RecordView record;
  for (;;) {
    auto more = source.next(record);
    if (!more) {
      if (failure != nullptr) *failure = WalkFailure{more.error(), source.read_failed()};
      return Error{more.error()};
    }
    if (!*more) return {};
    const trace::RecordType type = record.type();
    if (context.symbols != nullptr && type == trace::RecordType::CODEMAP) context.symbols->add(record);
    if (context.devices != nullptr && (type == trace::RecordType::MAP || type == trace::RecordType::PCIDEV))
      context.devices->add(record);
    if (filter != nullptr) filter->observe(record);
    visitor.on_record(record);
    const bool was_access = for_each_access(record, [&](const Access& a) {
      if (describe) context.regs->describe(a, described);
      if (filter != nullptr && !filter->accepts(a, describe ? &described : nullptr)) return;
      visitor.on_access(a, describe ? &described : nullptr);
    });
    if (!was_access && type == trace::RecordType::UNKNOWN) {
      const auto u = record.as<trace::UnknownRecord>();
      if (filter == nullptr || filter->accepts_unknown(u)) visitor.on_unknown(u);
    }
  }
}

}  // namespace

Result<void> walk(trace::RecordSource& source, const WalkContext& context, TraceVisitor& visitor,
                  WalkFailure* failure) {
  if (auto* reader = dynamic_cast<trace::TraceReader*>(&source)) return walk_loop(*reader, context, visitor, failure);
  return walk_loop(source, context, visitor, failure);
}

}  // namespace mmiotrace::analysis
