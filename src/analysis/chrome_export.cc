#include "analysis/chrome_export.h"

#include <fnmatch.h>

#include "analysis/json.h"

namespace mmiotrace::analysis {

namespace {

// The pseudo thread of each process that holds the phases between MARKs.
constexpr uint32_t kMarksTid = 0;

}  // namespace

ChromeExport::ChromeExport(AtomicFile& out, ChromeOptions options, Symbolizer* symbols, const DeviceCatalog* devices)
    : out_(out), options_(std::move(options)), symbols_(symbols), devices_(devices) {}

void ChromeExport::begin() {
  out_.write(
      "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"mmiotrace export --chrome\"},\n\"traceEvents\":[\n");
}

void ChromeExport::put_ts(uint64_t time_ns) {
  const uint64_t t = time_ns >= options_.time_origin_ns ? time_ns - options_.time_origin_ns : 0;
  fmt::format_to(fmt::appender(out_.buffer()), "{}.{:03}", t / 1000, t % 1000);
}

// `{"name":"<prefix><name>","cat":...,"ph":...,"ts":...,"pid":...,"tid":...` (open).
void ChromeExport::event_head(const char* name_prefix, std::string_view name, const char* cat, char ph,
                              uint64_t time_ns, uint32_t pid, uint32_t tid) {
  fmt::memory_buffer& b = out_.buffer();
  if (events_++ != 0) b.append(std::string_view(",\n"));
  b.append(std::string_view("{\"name\":"));
  put_json_string(b, std::string(name_prefix) + std::string(name));
  fmt::format_to(fmt::appender(b), ",\"cat\":\"{}\",\"ph\":\"{}\",\"ts\":", cat, ph);
  put_ts(time_ns);
  fmt::format_to(fmt::appender(b), ",\"pid\":{},\"tid\":{}", pid, tid);
}

void ChromeExport::saw(uint32_t pid, uint32_t tid) {
  fmt::memory_buffer& b = out_.buffer();
  if (pids_.insert(pid).second) {
    event_head("", "process_name", "__metadata", 'M', 0, pid, kMarksTid);
    fmt::format_to(fmt::appender(b), ",\"args\":{{\"name\":\"pid {}\"}}}}", pid);
    event_head("", "thread_name", "__metadata", 'M', 0, pid, kMarksTid);
    b.append(std::string_view(",\"args\":{\"name\":\"marks\"}}"));
  }
  if (tids_.insert((uint64_t{pid} << 32) | tid).second && tid != kMarksTid) {
    event_head("", "thread_name", "__metadata", 'M', 0, pid, tid);
    fmt::format_to(fmt::appender(b), ",\"args\":{{\"name\":\"tid {}\"}}}}", tid);
  }
}

bool ChromeExport::is_counter(const std::string& label, const std::string& name) {
  const std::string full = label.empty() ? name : label + " " + name;
  for (const auto& [n, yes] : counter_names_) {
    if (n == full) return yes;
  }
  bool yes = false;
  for (const std::string& p : options_.counters) {
    yes = yes || fnmatch(p.c_str(), name.c_str(), 0) == 0 || fnmatch(p.c_str(), full.c_str(), 0) == 0;
  }
  counter_names_.emplace_back(full, yes);
  return yes;
}

void ChromeExport::end_phase(uint64_t time_ns) {
  if (!phase_open_) return;
  event_head("", phase_name_, "phase", 'X', phase_start_, phase_pid_, kMarksTid);
  fmt::memory_buffer& b = out_.buffer();
  b.append(std::string_view(",\"dur\":"));
  const uint64_t dur = time_ns >= phase_start_ ? time_ns - phase_start_ : 0;
  fmt::format_to(fmt::appender(b), "{}.{:03}}}", dur / 1000, dur % 1000);
  phase_open_ = false;
}

void ChromeExport::on_record(const trace::RecordView& record) {
  const trace::RecordHeader h = record.header();
  last_ns_ = std::max(last_ns_, h.time_ns);
  fmt::memory_buffer& b = out_.buffer();
  switch (record.type()) {
    case trace::RecordType::MARK: {
      const auto r = record.as<trace::MarkRecord>();
      saw(r.pid, h.tid);
      end_phase(h.time_ns);
      const std::string text(record.mark_text());
      event_head("", text, "mark", 'i', h.time_ns, r.pid, h.tid);
      fmt::format_to(fmt::appender(b), ",\"s\":\"p\",\"args\":{{\"seq\":{}}}}}", h.seq);
      phase_open_ = true;
      phase_name_ = text;
      phase_start_ = h.time_ns;
      phase_pid_ = r.pid;
      break;
    }
    case trace::RecordType::MAP: {
      const auto r = record.as<trace::MapRecord>();
      saw(r.pid, h.tid);
      event_head("MAP ", std::to_string(static_cast<int32_t>(r.map_id)), "map", 'i', h.time_ns, r.pid, h.tid);
      fmt::format_to(fmt::appender(b),
                     ",\"s\":\"t\",\"args\":{{\"seq\":{},\"phys\":\"{:#x}\",\"len\":\"{:#x}\",\"path\":", h.seq, r.phys,
                     r.len);
      put_json_string(b, record.map_path());
      b.append(std::string_view("}}"));
      break;
    }
    case trace::RecordType::UNMAP: {
      const auto r = record.as<trace::UnmapRecord>();
      saw(r.pid, h.tid);
      event_head("UNMAP ", std::to_string(static_cast<int32_t>(r.map_id)), "map", 'i', h.time_ns, r.pid, h.tid);
      fmt::format_to(fmt::appender(b), ",\"s\":\"t\",\"args\":{{\"seq\":{}}}}}", h.seq);
      break;
    }
    case trace::RecordType::LOST: {
      event_head("LOST ", std::to_string(record.as<trace::LostRecord>().count), "lost", 'i', h.time_ns, phase_pid_,
                 kMarksTid);
      b.append(std::string_view(",\"s\":\"g\"}"));
      break;
    }
    default:
      break;
  }
  out_.maybe_flush();
}

void ChromeExport::on_unknown(const trace::UnknownRecord& r) {
  saw(r.pid, r.h.tid);
  event_head("UNKNOWN", "", "unknown", 'i', r.h.time_ns, r.pid, r.h.tid);
  fmt::format_to(fmt::appender(out_.buffer()),
                 ",\"s\":\"t\",\"args\":{{\"seq\":{},\"phys\":\"{:#x}\",\"pc\":\"{:#x}\"}}}}", r.h.seq, r.phys, r.pc);
}

void ChromeExport::on_access(const Access& a, const AccessDescription* d) {
  saw(a.pid, a.tid);
  fmt::memory_buffer& b = out_.buffer();
  const bool named = d != nullptr && d->binding != nullptr && !d->parts.empty();
  std::string reg;
  if (named) {
    fmt::memory_buffer n;
    n.append(d->binding->label);
    n.push_back(' ');
    for (size_t i = 0; i < d->parts.size(); ++i) {
      if (i != 0) n.append(std::string_view(", "));
      if (d->parts[i].hit) {
        format_register_name(*d->binding->map, *d->parts[i].hit, n);
      } else {
        fmt::format_to(fmt::appender(n), "+{:#x}", d->parts[i].offset);
      }
    }
    reg = fmt::to_string(n);
  } else {
    reg = fmt::format("{:#x}", a.phys);
  }
  event_head(a.is_write() ? "W " : "R ", reg, "access", 'i', a.time_ns, a.pid, a.tid);
  fmt::format_to(fmt::appender(b), ",\"s\":\"t\",\"args\":{{\"seq\":{},\"op\":\"{}\",\"width\":{},\"phys\":\"{:#x}\",",
                 a.seq, a.is_write() ? 'W' : 'R', a.width, a.phys);
  if (devices_ != nullptr)
    fmt::format_to(fmt::appender(b), "\"offset\":\"{:#x}\",", devices_->locate(a.map_id, a.phys).offset);
  b.append(std::string_view("\"value\":"));
  if (!a.value_known()) {
    b.append(std::string_view("\"?\""));
  } else if (a.width <= 8) {
    fmt::format_to(fmt::appender(b), "\"{:#x}\"", a.value_bits(0, a.width));
  } else {
    put_json_string(b, hex_string(a.value));
  }
  if (named) {
    fmt::memory_buffer text;
    format_description(*d, a.is_write(), text);
    b.append(std::string_view(",\"register\":"));
    put_json_string(b, std::string_view(text.data(), text.size()));
  }
  fmt::format_to(fmt::appender(b), ",\"pc\":\"{:#x}\"", a.pc);
  if (symbols_ != nullptr && !symbols_->maps().empty()) {
    b.append(std::string_view(",\"symbol\":"));
    put_json_string(b, symbols_->lookup(a.pid, a.pc).text());
  }
  b.append(std::string_view("}}"));
  // Counter tracks: one per register part, with the part's value.
  if (named && !options_.counters.empty()) {
    for (const RegisterPart& p : d->parts) {
      if (!p.hit || !p.value_known) continue;
      fmt::memory_buffer n;
      format_register_name(*d->binding->map, *p.hit, n);
      const std::string name = fmt::to_string(n);
      if (!is_counter(d->binding->label, name)) continue;
      event_head("", d->binding->label + " " + name, "counter", 'C', a.time_ns, a.pid, a.tid);
      fmt::format_to(fmt::appender(b), ",\"args\":{{\"value\":{}}}}}", p.value);
    }
  }
  out_.maybe_flush();
}

void ChromeExport::finish() {
  end_phase(last_ns_);
  out_.write("\n]}\n");
}

}  // namespace mmiotrace::analysis
