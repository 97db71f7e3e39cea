#include "cli/replay_report.h"

#include <fmt/format.h>

#include <cstring>

#include "emu/emulator.h"
#include "trace/format.h"

namespace mmiotrace::cli {

namespace {

std::string value_text(const uint8_t* value, unsigned width, uint64_t mask) {
  // Hex, most significant byte first, as the printers show values; bytes not
  // accessed (a masked access) as "..".
  std::string s = "0x";
  bool leading = true;
  for (unsigned i = width; i-- > 0;) {
    if (((mask >> i) & 1) == 0) {
      s += "..";
      leading = false;
      continue;
    }
    if (leading && value[i] == 0 && i != 0) continue;
    s += leading ? fmt::format("{:x}", value[i]) : fmt::format("{:02x}", value[i]);
    leading = false;
  }
  return s;
}

std::string insn_text(const uint8_t* insn, unsigned len, uint64_t pc) {
  if (len == 0) return "";
  char text[160];
  emu::disassemble(insn, len, pc, text, sizeof text);
  return text;
}

std::string access_text(uint8_t op, unsigned width, uint64_t phys, const uint8_t* value, uint64_t mask,
                        bool with_value) {
  const bool write = op == static_cast<uint8_t>(trace::AccessOp::WRITE);
  std::string s = fmt::format("{} {} {:#x}", write ? 'W' : 'R', width, phys);
  if (with_value) s += " " + value_text(value, width, mask);
  return s;
}

std::string device_text(const Recording& rec, uint32_t device) {
  if (device >= rec.devices.size()) return "?";
  return rec.paths[rec.devices[device].path].path;
}

}  // namespace

std::string describe_divergence(const trace::ReplayDivergence& d, const Recording& rec) {
  const bool program_writes = d.op == static_cast<uint8_t>(trace::AccessOp::WRITE);
  std::string what;
  switch (static_cast<trace::DivergenceKind>(d.kind)) {
    case trace::DivergenceKind::DIFFERENT:
      what = "not the access the recording has next for this thread";
      break;
    case trace::DivergenceKind::VALUE:
      what = "the same register written with another value";
      break;
    case trace::DivergenceKind::EXTRA:
      what = "an access after the last one the recording has for this thread";
      break;
    case trace::DivergenceKind::NO_THREAD:
      what = "a thread the recording has no thread left for";
      break;
    case trace::DivergenceKind::NO_DEVICE:
      what = "a device the recording does not know";
      break;
  }
  std::string s = fmt::format("thread {} (process {}): {}\n", d.tid, d.pid, what);
  s += fmt::format("  program:   {:<36} at pc {:#x}  {}\n",
                   access_text(d.op, d.width, d.phys, d.value, d.mask, program_writes), d.pc,
                   insn_text(d.insn, d.insn_len, d.pc));
  if (d.event < rec.events.size()) {
    const trace::ReplayEvent& e = rec.events[d.event];
    const RecordedThread& t = rec.threads[e.stream];
    s += fmt::format("  recording: {:<36} at pc {:#x}  {}  (seq {}, thread {} of process {})\n",
                     access_text(e.op, e.width, e.phys, rec.values.data() + e.value_off, e.mask, true), e.pc,
                     insn_text(e.insn, e.insn_len, e.pc), e.seq, t.tid, t.pid);
  }
  s += fmt::format("  device:    {}\n", device_text(rec, d.device));
  return s;
}

std::string describe_unreplayed(const trace::SessionHeader& h, const Recording& rec, size_t max_listed) {
  const auto* done = reinterpret_cast<const uint8_t*>(&h) + h.consumed_off;
  std::string list;
  size_t missing = 0;
  for (size_t i = 0; i < rec.events.size(); ++i) {
    if (done[i] != 0) continue;
    if (missing++ < max_listed) {
      const trace::ReplayEvent& e = rec.events[i];
      const RecordedThread& t = rec.threads[e.stream];
      list += fmt::format("  {:<36} at pc {:#x}  {}  (seq {}, thread {} of process {})\n",
                          access_text(e.op, e.width, e.phys, rec.values.data() + e.value_off, e.mask, true), e.pc,
                          insn_text(e.insn, e.insn_len, e.pc), e.seq, t.tid, t.pid);
    }
  }
  if (missing == 0) return "";
  std::string s = fmt::format("{} recorded access{} never made by the program{}:\n", missing,
                              missing == 1 ? " was" : "es were", missing > max_listed ? ", the first" : "");
  return s + list;
}

}  // namespace mmiotrace::cli
