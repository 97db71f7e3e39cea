#include "analysis/stats.h"

#include <algorithm>

#include "analysis/change.h"
#include "analysis/json.h"

namespace mmiotrace::analysis {

Stats::Stats(StatsOptions options, const RegisterBindings* regs, Symbolizer* symbols)
    : options_(options), regs_(regs), symbols_(symbols) {}

void Stats::on_record(const trace::RecordView& record) { counter_.add(record); }

uint32_t Stats::register_index(const StatsKey& key, int32_t map_id, uint64_t time_ns) {
  bool added = false;
  const uint32_t i = register_ids_.find_or_add(key, &added);
  if (added) {
    RegisterStats r;
    r.key = key;
    r.map_id = map_id;
    r.first_ns = time_ns;
    registers_.push_back(std::move(r));
  }
  return i;
}

uint32_t Stats::site_index(uint32_t pid, uint64_t pc) {
  bool added = false;
  const uint32_t i = site_ids_.find_or_add(SiteKey{pid, pc}, &added);
  if (added) {
    SiteStats s;
    s.pid = pid;
    s.pc = pc;
    // Without any code map (a kernel log, a trace older than 1.2) a site is
    // its pid and PC; the text says once why there are no symbols.
    if (symbols_ != nullptr && !symbols_->maps().empty()) s.symbol = symbols_->lookup(pid, pc).text();
    sites_.push_back(std::move(s));
  }
  return i;
}

Stats::ThreadState& Stats::thread(uint32_t tid) {
  bool added = false;
  const uint32_t i = thread_ids_.find_or_add(tid, &added);
  if (added) {
    threads_.emplace_back();
    threads_.back().stats.id = tid;
  }
  return threads_[i];
}

ActorStats& Stats::process(uint32_t pid) {
  bool added = false;
  const uint32_t i = process_ids_.find_or_add(pid, &added);
  if (added) {
    processes_.emplace_back();
    processes_.back().id = pid;
    processes_.back().pid = pid;
  }
  return processes_[i];
}

namespace {

constexpr size_t kScan = 8;  // values and sites looked up by a scan up to this many

}  // namespace

void Stats::count_register(RegisterStats& r, const Access& a, bool value_known, uint64_t value, uint32_t site) {
  (a.is_write() ? r.writes : r.reads)++;
  r.last_ns = a.time_ns;
  if (value_known && !(r.has_value && r.last_value == value)) {
    r.last_value = value;
    r.has_value = true;
    bool seen;
    if (r.more_values) {
      seen = true;  // the list is full and says so: a new value would change nothing
    } else if (r.value_set) {
      seen = r.value_set->contains(value);
    } else {
      seen = std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    }
    if (!seen) {
      if (r.values.size() < options_.max_values) {
        r.values.push_back(value);
        if (r.value_set) {
          r.value_set->insert(value);
        } else if (r.values.size() > kScan) {
          r.value_set = std::make_unique<FlatSet64>();
          for (uint64_t v : r.values) r.value_set->insert(v);
        }
      } else {
        r.more_values = true;
      }
    }
  }
  if (!r.sites.empty() && r.sites.back().site == site) {
    r.sites.back().count++;
    return;
  }
  if (r.site_slots) {
    auto it = r.site_slots->find(site);
    if (it != r.site_slots->end()) {
      r.sites[it->second].count++;
      return;
    }
  } else {
    for (SiteCount& s : r.sites) {
      if (s.site == site) {
        s.count++;
        return;
      }
    }
  }
  if (r.sites.size() < options_.max_sites) {
    r.sites.push_back(SiteCount{site, 1});
    if (r.site_slots) {
      r.site_slots->emplace(site, static_cast<uint32_t>(r.sites.size() - 1));
    } else if (r.sites.size() > kScan) {
      r.site_slots = std::make_unique<std::unordered_map<uint32_t, uint32_t>>();
      for (uint32_t i = 0; i < r.sites.size(); ++i) r.site_slots->emplace(r.sites[i].site, i);
    }
  } else {
    r.more_sites = true;
  }
}

namespace {

void count_actor(ActorStats& s, const Access& a) {
  if (s.reads + s.writes == 0) s.first_ns = a.time_ns;
  (a.is_write() ? s.writes : s.reads)++;
  s.last_ns = a.time_ns;
}

}  // namespace

void Stats::on_access(const Access& a, const AccessDescription* described) {
  if (accesses_++ == 0) first_ns_ = a.time_ns;
  ++(a.is_write() ? writes_ : reads_);
  last_ns_ = a.time_ns;
  const uint32_t site = site_index(a.pid, a.pc);
  (a.is_write() ? sites_[site].writes : sites_[site].reads)++;
  ThreadState& t = thread(a.tid);
  t.stats.pid = a.pid;
  count_actor(t.stats, a);
  count_actor(process(a.pid), a);

  uint32_t first_reg = 0;
  uint64_t first_value = 0;
  bool first_known = false;
  if (described != nullptr && described->binding != nullptr) {
    const uint64_t space = 1 + static_cast<uint64_t>(described->binding - regs_->bindings().data());
    for (size_t i = 0; i < described->parts.size(); ++i) {
      const RegisterPart& part = described->parts[i];
      const uint32_t reg = register_index(StatsKey{space, part.offset}, a.map_id, a.time_ns);
      count_register(registers_[reg], a, part.value_known, part.value, site);
      if (i == 0) first_reg = reg, first_value = part.value, first_known = part.value_known;
    }
  } else {
    first_reg = register_index(StatsKey{0, a.phys}, a.map_id, a.time_ns);
    first_known = a.value_known() && a.width <= 8;
    first_value = first_known ? a.value_bits(0, a.width) : 0;
    count_register(registers_[first_reg], a, first_known, first_value, site);
  }
  last_access_reg_ = first_reg;
  last_access_site_ = site;
  poll_step(t.poll, first_reg, site, a, first_known, first_value, described);
}

void Stats::poll_step(PollState& p, uint32_t reg, uint32_t site, const Access& a, bool value_known, uint64_t value,
                      const AccessDescription* described) {
  const bool read = !a.is_write() && value_known;
  if (p.active && read && reg == p.reg && value == p.value) {
    p.reads++;
    return;
  }
  if (p.active && p.reads >= options_.poll_min) {
    end_poll(p, read && reg == p.reg ? change_text(p.value, value, described) : std::string());
  }
  p.active = read;
  if (read) {
    p.reg = reg;
    p.site = site;
    p.value = value;
    p.reads = 1;
    p.first_ns = a.time_ns;
  }
}

void Stats::end_poll(PollState& p, const std::string& until) {
  const std::string key = fmt::format("{}/{}/{}", p.reg, p.site, until);
  auto [it, added] = poll_ids_.try_emplace(key, static_cast<uint32_t>(polls_.size()));
  if (added) {
    PollStats s;
    s.reg = p.reg;
    s.site = p.site;
    s.until = until;
    s.first_ns = p.first_ns;
    polls_.push_back(std::move(s));
  }
  PollStats& s = polls_[it->second];
  s.loops++;
  s.reads += p.reads;
  s.max_reads = std::max(s.max_reads, p.reads);
  p.active = false;
}

void Stats::finish() {
  for (ThreadState& t : threads_) {
    if (t.poll.active && t.poll.reads >= options_.poll_min) end_poll(t.poll, "");
  }
}

// What changed between the value a loop kept reading and the one that ended it.
std::string Stats::change_text(uint64_t from, uint64_t to, const AccessDescription* described) const {
  if (described != nullptr && described->binding != nullptr && !described->parts.empty() && described->parts[0].hit) {
    const RegisterHit& hit = *described->parts[0].hit;
    return describe_change(hit.reg, described->binding->variant, static_cast<unsigned>(hit.byte), from, to);
  }
  return describe_change(nullptr, -1, 0, from, to);
}

std::vector<ActorStats> Stats::threads() const {
  std::vector<ActorStats> v;
  for (const ThreadState& t : threads_) v.push_back(t.stats);
  std::sort(v.begin(), v.end(), [](const ActorStats& a, const ActorStats& b) { return a.id < b.id; });
  return v;
}

std::vector<ActorStats> Stats::processes() const {
  std::vector<ActorStats> v = processes_;
  std::sort(v.begin(), v.end(), [](const ActorStats& a, const ActorStats& b) { return a.id < b.id; });
  return v;
}

std::string Stats::register_name(const RegisterStats& r, const DeviceCatalog& devices) const {
  if (r.key.space != 0 && regs_ != nullptr && r.key.space - 1 < regs_->bindings().size()) {
    const Binding& b = regs_->bindings()[r.key.space - 1];
    fmt::memory_buffer name;
    name.append(b.label);
    name.push_back(' ');
    if (auto hit = b.index.find(r.key.addr, b.variant)) {
      format_register_name(*b.map, *hit, name);
    } else {
      fmt::format_to(fmt::appender(name), "+{:#x}", r.key.addr);
    }
    return fmt::to_string(name);
  }
  const DeviceLocation at = devices.locate(r.map_id, r.key.addr);
  if (at.device != nullptr) {
    return at.bar >= 0 ? fmt::format("{} BAR{}+{:#x}", pci_address(at.device->busdevfn), at.bar, at.offset)
                       : fmt::format("{}+{:#x}", pci_address(at.device->busdevfn), at.offset);
  }
  if (devices.mapping(r.map_id) != nullptr) return fmt::format("map {}+{:#x}", r.map_id, at.offset);
  return fmt::format("{:#x}", r.key.addr);
}

}  // namespace mmiotrace::analysis
