// The text and JSON of `mmiotrace stats` (docs/stats.md).
#include <algorithm>

#include "analysis/json.h"
#include "analysis/stats.h"

namespace mmiotrace::analysis {

namespace {

using Out = fmt::memory_buffer;

// 1234567 -> "1,234,567".
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

// Seconds with microseconds, as the kernel format prints times.
std::string seconds(uint64_t ns, uint64_t origin) {
  const uint64_t t = ns >= origin ? ns - origin : 0;
  const uint64_t us = (t + 500) / 1000;
  return fmt::format("{}.{:06}", us / 1000000, us % 1000000);
}

const char* plural(uint64_t n, const char* one, const char* many) { return n == 1 ? one : many; }

std::string site_text(const SiteStats& s) {
  return s.symbol.empty() ? fmt::format("pid {} {:#x}", s.pid, s.pc) : s.symbol;
}

std::vector<uint32_t> registers_in_order(const Stats& stats) {
  std::vector<uint32_t> order(stats.registers().size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto& regs = stats.registers();
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const StatsKey& x = regs[a].key;
    const StatsKey& y = regs[b].key;
    return x.space != y.space ? x.space > y.space : x.addr < y.addr;  // mapped registers first
  });
  return order;
}

std::vector<uint32_t> hottest_sites(const Stats& stats, size_t top) {
  std::vector<uint32_t> order(stats.sites().size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto& sites = stats.sites();
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return sites[a].reads + sites[a].writes > sites[b].reads + sites[b].writes;
  });
  if (order.size() > top) order.resize(top);
  return order;
}

std::string values_text(const RegisterStats& r) {
  std::string s;
  const size_t shown = std::min<size_t>(r.values.size(), 4);
  for (size_t i = 0; i < shown; ++i) s += fmt::format("{}{:#x}", i == 0 ? "" : " ", r.values[i]);
  if (r.values.size() > shown || r.more_values) s += " ...";
  return s;
}

std::string sites_text(const Stats& stats, const RegisterStats& r) {
  std::vector<SiteCount> sites = r.sites;
  std::stable_sort(sites.begin(), sites.end(),
                   [](const SiteCount& a, const SiteCount& b) { return a.count > b.count; });
  std::string s;
  const size_t shown = std::min<size_t>(sites.size(), 3);
  for (size_t i = 0; i < shown; ++i) {
    s += fmt::format("{}{} x{}", i == 0 ? "" : ", ", site_text(stats.sites()[sites[i].site]), sites[i].count);
  }
  if (sites.size() > shown || r.more_sites) s += ", ...";
  return s;
}

}  // namespace

void format_stats_text(const Stats& stats, const DeviceCatalog& devices, uint64_t origin, Out& out) {
  const TraceCounts& c = stats.counts();
  auto put = [&out](std::string_view s) { out.append(s); };
  fmt::format_to(fmt::appender(out), "accesses: {} ({} reads, {} writes)", grouped(stats.accesses()),
                 grouped(stats.reads()), grouped(stats.writes()));
  if (stats.accesses() != c.accesses())
    fmt::format_to(fmt::appender(out), "; {} in the trace before filtering", grouped(c.accesses()));
  fmt::format_to(fmt::appender(out), "\nmappings: {}; threads: {}; processes: {}; unknown instructions: {}; lost: {}\n",
                 c.maps, c.threads.size(), c.processes.size(), c.unknown, c.lost);
  if (stats.accesses() != 0) {
    fmt::format_to(fmt::appender(out), "time: {} .. {} ({} s)\n", seconds(stats.first_ns(), origin),
                   seconds(stats.last_ns(), origin), seconds(stats.last_ns(), stats.first_ns()));
  }

  const auto order = registers_in_order(stats);
  fmt::format_to(fmt::appender(out), "\nregisters: {}\n", order.size());
  if (!order.empty()) {
    fmt::format_to(fmt::appender(out), "  {:<28} {:>9} {:>9} {:>7}  {:<16} {:<16} {:<28} {}\n", "REGISTER", "READS",
                   "WRITES", "VALUES", "FIRST", "LAST", "SOME VALUES", "SITES");
  }
  for (uint32_t i : order) {
    const RegisterStats& r = stats.registers()[i];
    fmt::format_to(fmt::appender(out), "  {:<28} {:>9} {:>9} {:>7}  {:<16} {:<16} {:<28} {}\n",
                   stats.register_name(r, devices), grouped(r.reads), grouped(r.writes),
                   r.more_values ? fmt::format(">{}", r.values.size()) : std::to_string(r.values.size()),
                   seconds(r.first_ns, origin), seconds(r.last_ns, origin), values_text(r), sites_text(stats, r));
  }

  fmt::format_to(fmt::appender(out), "\npolling loops: {}{}\n", stats.polls().size(),
                 stats.polls().size() > stats.options().top ? "; the longest:" : "");
  std::vector<const PollStats*> polls;
  for (const PollStats& p : stats.polls()) polls.push_back(&p);
  std::stable_sort(polls.begin(), polls.end(),
                   [](const PollStats* a, const PollStats* b) { return a->reads > b->reads; });
  if (polls.size() > stats.options().top) polls.resize(stats.options().top);
  for (const PollStats* p : polls) {
    const RegisterStats& r = stats.registers()[p->reg];
    fmt::format_to(fmt::appender(out), "  R {} x {}{}  ({} {}, the longest {} reads, at {})\n",
                   stats.register_name(r, devices), grouped(p->reads),
                   p->until.empty() ? std::string(", unchanged") : " until " + p->until, grouped(p->loops),
                   plural(p->loops, "loop", "loops"), grouped(p->max_reads), site_text(stats.sites()[p->site]));
  }

  const auto hot = hottest_sites(stats, SIZE_MAX);
  fmt::format_to(fmt::appender(out), "\nsites: {}{}; the hottest:\n", hot.size(),
                 stats.has_symbols() ? "" : " (no symbols: the trace has no code maps)");
  for (size_t k = 0; k < hot.size() && k < stats.options().top; ++k) {
    const SiteStats& s = stats.sites()[hot[k]];
    fmt::format_to(fmt::appender(out), "  {:>9}  ({} R, {} W)  {}", grouped(s.reads + s.writes), grouped(s.reads),
                   grouped(s.writes), site_text(s));
    if (!s.symbol.empty()) fmt::format_to(fmt::appender(out), "  [pid {} {:#x}]", s.pid, s.pc);
    put("\n");
  }

  put("\nthreads:\n");
  for (const ActorStats& t : stats.threads()) {
    fmt::format_to(fmt::appender(out), "  tid {} (pid {})  {} accesses ({} R, {} W)  {} .. {}\n", t.id, t.pid,
                   grouped(t.reads + t.writes), grouped(t.reads), grouped(t.writes), seconds(t.first_ns, origin),
                   seconds(t.last_ns, origin));
  }
  put("processes:\n");
  for (const ActorStats& p : stats.processes()) {
    fmt::format_to(fmt::appender(out), "  pid {}  {} accesses ({} R, {} W)  {} .. {}\n", p.id,
                   grouped(p.reads + p.writes), grouped(p.reads), grouped(p.writes), seconds(p.first_ns, origin),
                   seconds(p.last_ns, origin));
  }
}

namespace {

void put_site_json(const SiteStats& s, Out& out) {
  fmt::format_to(fmt::appender(out), "{{\"pid\":{},\"pc\":\"{:#x}\",\"reads\":{},\"writes\":{},\"symbol\":", s.pid,
                 s.pc, s.reads, s.writes);
  if (s.symbol.empty()) {
    out.append(std::string_view("null"));
  } else {
    put_json_string(out, s.symbol);
  }
  out.push_back('}');
}

void put_actor_json(const ActorStats& a, bool thread, Out& out) {
  fmt::format_to(fmt::appender(out), "{{\"{}\":{},", thread ? "tid" : "pid", a.id);
  if (thread) fmt::format_to(fmt::appender(out), "\"pid\":{},", a.pid);
  fmt::format_to(fmt::appender(out), "\"reads\":{},\"writes\":{},\"first_ns\":{},\"last_ns\":{}}}", a.reads, a.writes,
                 a.first_ns, a.last_ns);
}

}  // namespace

void format_stats_json(const Stats& stats, const DeviceCatalog& devices, uint64_t origin, Out& out) {
  (void)origin;  // JSON times are the trace's own nanoseconds
  const TraceCounts& c = stats.counts();
  fmt::format_to(fmt::appender(out),
                 "{{\"accesses\":{},\"reads\":{},\"writes\":{},\"accesses_in_trace\":{},\"maps\":{},\"threads\":{},"
                 "\"processes\":{},\"unknown\":{},\"lost\":{},\"first_ns\":{},\"last_ns\":{},\n\"registers\":[",
                 stats.accesses(), stats.reads(), stats.writes(), c.accesses(), c.maps, c.threads.size(),
                 c.processes.size(), c.unknown, c.lost, stats.first_ns(), stats.last_ns());
  bool first = true;
  for (uint32_t i : registers_in_order(stats)) {
    const RegisterStats& r = stats.registers()[i];
    out.append(std::string_view(first ? "\n" : ",\n"));
    first = false;
    out.append(std::string_view("{\"name\":"));
    put_json_string(out, stats.register_name(r, devices));
    fmt::format_to(fmt::appender(out), ",\"{}\":\"{:#x}\",\"reads\":{},\"writes\":{},\"first_ns\":{},\"last_ns\":{},",
                   r.key.space != 0 ? "offset" : "phys", r.key.addr, r.reads, r.writes, r.first_ns, r.last_ns);
    out.append(std::string_view("\"values\":["));
    for (size_t k = 0; k < r.values.size(); ++k)
      fmt::format_to(fmt::appender(out), "{}\"{:#x}\"", k ? "," : "", r.values[k]);
    fmt::format_to(fmt::appender(out), "],\"more_values\":{},\"sites\":[", r.more_values);
    for (size_t k = 0; k < r.sites.size(); ++k) {
      fmt::format_to(fmt::appender(out), "{}{{\"site\":{},\"count\":{}}}", k ? "," : "", r.sites[k].site,
                     r.sites[k].count);
    }
    fmt::format_to(fmt::appender(out), "],\"more_sites\":{}}}", r.more_sites);
  }
  out.append(std::string_view("],\n\"polls\":["));
  for (size_t k = 0; k < stats.polls().size(); ++k) {
    const PollStats& p = stats.polls()[k];
    out.append(std::string_view(k ? ",\n{\"register\":" : "\n{\"register\":"));
    put_json_string(out, stats.register_name(stats.registers()[p.reg], devices));
    fmt::format_to(fmt::appender(out), ",\"site\":{},\"until\":", p.site);
    if (p.until.empty()) {
      out.append(std::string_view("null"));
    } else {
      put_json_string(out, p.until);
    }
    fmt::format_to(fmt::appender(out), ",\"loops\":{},\"reads\":{},\"max_reads\":{},\"first_ns\":{}}}", p.loops,
                   p.reads, p.max_reads, p.first_ns);
  }
  out.append(std::string_view("],\n\"sites\":["));
  for (size_t k = 0; k < stats.sites().size(); ++k) {
    out.append(std::string_view(k ? ",\n" : "\n"));
    put_site_json(stats.sites()[k], out);
  }
  out.append(std::string_view("],\n\"threads\":["));
  first = true;
  for (const ActorStats& t : stats.threads()) {
    out.append(std::string_view(first ? "" : ","));
    first = false;
    put_actor_json(t, true, out);
  }
  out.append(std::string_view("],\n\"processes\":["));
  first = true;
  for (const ActorStats& p : stats.processes()) {
    out.append(std::string_view(first ? "" : ","));
    first = false;
    put_actor_json(p, false, out);
  }
  out.append(std::string_view("]}\n"));
}

}  // namespace mmiotrace::analysis
