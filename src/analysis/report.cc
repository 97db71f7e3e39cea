#include "analysis/report.h"

#include <algorithm>

#include "analysis/json.h"
#include "analysis/report_page.h"

namespace mmiotrace::analysis {

Report::Report(ReportOptions options, const RegisterBindings* regs, Symbolizer* symbols, const DeviceCatalog* devices)
    : options_(std::move(options)), devices_(devices), stats_(StatsOptions{}, regs, symbols) {}

void Report::close_phase(uint64_t time_ns) {
  if (!phase_open_) return;
  Phase& p = phases_.back();
  p.end_ns = time_ns;
  p.top.assign(p.by_register.begin(), p.by_register.end());
  std::sort(p.top.begin(), p.top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (p.top.size() > 5) p.top.resize(5);
  p.by_register.clear();
  phase_open_ = false;
}

void Report::on_record(const trace::RecordView& record) {
  stats_.on_record(record);
  const uint64_t t = record.header().time_ns;
  last_ns_ = std::max(last_ns_, t);
  if (record.type() != trace::RecordType::MARK) return;
  close_phase(t);
  Phase p;
  p.name = std::string(record.mark_text());
  p.start_ns = t;
  phases_.push_back(std::move(p));
  phase_open_ = true;
}

void Report::bucket_add(uint32_t reg, uint64_t time_ns) {
  if (!heat_started_) {
    heat_started_ = true;
    heat_start_ = time_ns;
  }
  const uint64_t t = time_ns >= heat_start_ ? time_ns - heat_start_ : 0;
  while (t / bucket_ns_ >= kBuckets) {
    // Twice as wide: merge the buckets pairwise.
    bucket_ns_ *= 2;
    for (auto& row : heat_) {
      for (size_t i = 0; i < kBuckets / 2; ++i) row[i] = row[2 * i] + row[2 * i + 1];
      std::fill(row.begin() + kBuckets / 2, row.end(), 0);
    }
  }
  if (reg >= options_.heat_registers) return;
  if (heat_.size() <= reg) heat_.resize(reg + 1, std::vector<uint32_t>(kBuckets, 0));
  heat_[reg][t / bucket_ns_]++;
}

void Report::on_access(const Access& a, const AccessDescription* d) {
  stats_.on_access(a, d);
  const uint32_t reg = stats_.last_register();
  bucket_add(reg, a.time_ns);
  if (!phase_open_) {
    Phase p;
    p.name = "(before the first MARK)";
    p.start_ns = a.time_ns;
    phases_.push_back(std::move(p));
    phase_open_ = true;
  }
  Phase& p = phases_.back();
  (a.is_write() ? p.writes : p.reads)++;
  p.by_register[reg]++;
  if (row_count_ >= options_.max_rows) return;
  ++row_count_;
  const uint64_t t = a.time_ns >= options_.time_origin_ns ? a.time_ns - options_.time_origin_ns : 0;
  fmt::format_to(fmt::appender(rows_), "{}[{},{},{},\"{}\",{},", row_count_ == 1 ? "" : ",\n", a.seq, t, a.tid,
                 a.is_write() ? 'W' : 'R', reg);
  if (!a.value_known()) {
    rows_.append(std::string_view("\"?\""));
  } else if (a.width <= 8) {
    fmt::format_to(fmt::appender(rows_), "\"{:#x}\"", a.value_bits(0, a.width));
  } else {
    put_json_string(rows_, hex_string(a.value));
  }
  rows_.push_back(',');
  if (d != nullptr && d->binding != nullptr) {
    fmt::memory_buffer text;
    format_description(*d, a.is_write(), text);
    put_json_string(rows_, std::string_view(text.data(), text.size()));
  } else {
    rows_.append(std::string_view("\"\""));
  }
  fmt::format_to(fmt::appender(rows_), ",{}]", stats_.last_site());
}

std::string Report::data_json() {
  stats_.finish();
  close_phase(last_ns_);
  fmt::memory_buffer b;
  const TraceCounts& c = stats_.counts();
  const uint64_t origin = options_.time_origin_ns;
  auto rel = [origin](uint64_t t) { return t >= origin ? t - origin : 0; };
  uint64_t reads = 0, writes = 0;
  for (const ActorStats& t : stats_.threads()) reads += t.reads, writes += t.writes;
  b.append(std::string_view("{\"title\":"));
  put_json_string(b, options_.title);
  fmt::format_to(fmt::appender(b),
                 ",\"accesses\":{},\"reads\":{},\"writes\":{},\"accesses_in_trace\":{},\"maps\":{},\"threads\":{},"
                 "\"processes\":{},\"unknown\":{},\"lost\":{},\"first_ns\":{},\"last_ns\":{},\n\"registers\":[",
                 stats_.accesses(), reads, writes, c.accesses(), c.maps, c.threads.size(), c.processes.size(),
                 c.unknown, c.lost, rel(stats_.first_ns()), rel(stats_.last_ns()));
  const DeviceCatalog empty;
  const DeviceCatalog& devices = devices_ != nullptr ? *devices_ : empty;
  for (size_t i = 0; i < stats_.registers().size(); ++i) {
    const RegisterStats& r = stats_.registers()[i];
    b.append(std::string_view(i ? ",\n{\"name\":" : "\n{\"name\":"));
    put_json_string(b, stats_.register_name(r, devices));
    fmt::format_to(fmt::appender(b),
                   ",\"reads\":{},\"writes\":{},\"values\":{},\"more_values\":{},\"first_ns\":{},"
                   "\"last_ns\":{},\"sites\":[",
                   r.reads, r.writes, r.values.size(), r.more_values, rel(r.first_ns), rel(r.last_ns));
    for (size_t k = 0; k < r.sites.size(); ++k)
      fmt::format_to(fmt::appender(b), "{}[{},{}]", k ? "," : "", r.sites[k].site, r.sites[k].count);
    b.append(std::string_view("]}"));
  }
  b.append(std::string_view("],\n\"sites\":["));
  for (size_t i = 0; i < stats_.sites().size(); ++i) {
    const SiteStats& s = stats_.sites()[i];
    b.append(std::string_view(i ? ",\n{\"text\":" : "\n{\"text\":"));
    put_json_string(b, s.symbol.empty() ? fmt::format("pid {} {:#x}", s.pid, s.pc) : s.symbol);
    fmt::format_to(fmt::appender(b), ",\"pc\":\"{:#x}\",\"pid\":{},\"reads\":{},\"writes\":{}}}", s.pc, s.pid, s.reads,
                   s.writes);
  }
  // The heat map's rows: the most accessed of the tracked registers.
  std::vector<uint32_t> hot;
  for (uint32_t i = 0; i < heat_.size(); ++i) hot.push_back(i);
  std::stable_sort(hot.begin(), hot.end(), [&](uint32_t x, uint32_t y) {
    const auto& rx = stats_.registers()[x];
    const auto& ry = stats_.registers()[y];
    return rx.reads + rx.writes > ry.reads + ry.writes;
  });
  if (hot.size() > options_.heat_rows) hot.resize(options_.heat_rows);
  fmt::format_to(fmt::appender(b), "],\n\"heat\":{{\"start_ns\":{},\"bucket_ns\":{},\"buckets\":{},\"rows\":[",
                 rel(heat_start_), bucket_ns_, kBuckets);
  for (size_t i = 0; i < hot.size(); ++i) {
    fmt::format_to(fmt::appender(b), "{}\n{{\"reg\":{},\"counts\":[", i ? "," : "", hot[i]);
    const auto& row = heat_[hot[i]];
    for (size_t k = 0; k < row.size(); ++k) fmt::format_to(fmt::appender(b), "{}{}", k ? "," : "", row[k]);
    b.append(std::string_view("]}"));
  }
  b.append(std::string_view("]},\n\"phases\":["));
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    b.append(std::string_view(i ? ",\n{\"name\":" : "\n{\"name\":"));
    put_json_string(b, p.name);
    fmt::format_to(fmt::appender(b), ",\"start_ns\":{},\"end_ns\":{},\"reads\":{},\"writes\":{},\"top\":[",
                   rel(p.start_ns), rel(p.end_ns), p.reads, p.writes);
    for (size_t k = 0; k < p.top.size(); ++k)
      fmt::format_to(fmt::appender(b), "{}[{},{}]", k ? "," : "", p.top[k].first, p.top[k].second);
    b.append(std::string_view("]}"));
  }
  b.append(std::string_view("],\n\"polls\":["));
  for (size_t i = 0; i < stats_.polls().size(); ++i) {
    const PollStats& p = stats_.polls()[i];
    fmt::format_to(fmt::appender(b), "{}\n{{\"reg\":{},\"site\":{},\"until\":", i ? "," : "", p.reg, p.site);
    put_json_string(b, p.until);
    fmt::format_to(fmt::appender(b), ",\"loops\":{},\"reads\":{},\"max_reads\":{}}}", p.loops, p.reads, p.max_reads);
  }
  b.append(std::string_view("],\n\"threads\":["));
  const auto threads = stats_.threads();
  for (size_t i = 0; i < threads.size(); ++i) {
    const ActorStats& t = threads[i];
    fmt::format_to(fmt::appender(b), "{}{{\"tid\":{},\"pid\":{},\"reads\":{},\"writes\":{}}}", i ? "," : "", t.id,
                   t.pid, t.reads, t.writes);
  }
  fmt::format_to(fmt::appender(b), "],\n\"rows_total\":{},\"rows\":[\n", stats_.accesses());
  b.append(rows_);
  b.append(std::string_view("]}"));
  // Inside <script>: no "</script>" (nor any tag) may appear; '<' only occurs in strings.
  std::string json = fmt::to_string(b);
  std::string safe;
  safe.reserve(json.size());
  for (char ch : json) {
    if (ch == '<') {
      safe += "\\u003c";
    } else {
      safe.push_back(ch);
    }
  }
  return safe;
}

std::string Report::html() {
  std::string page(kReportPage);
  const std::string marker = "@@DATA@@";
  const size_t at = page.find(marker);
  std::string title;
  for (char ch : options_.title) {
    if (ch == '<') {
      title += "&lt;";
    } else if (ch == '&') {
      title += "&amp;";
    } else {
      title.push_back(ch);
    }
  }
  std::string out = page.substr(0, at) + data_json() + page.substr(at + marker.size());
  const size_t t = out.find("@@TITLE@@");
  if (t != std::string::npos) out.replace(t, 9, title);
  return out;
}

}  // namespace mmiotrace::analysis
