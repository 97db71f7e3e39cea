// Stats: what `mmiotrace stats` computes in one streaming pass over a trace
// (docs/stats.md): per register, reads, writes, distinct values, first and
// last time and the sites (PCs) that touch it; per thread and per process;
// polling loops collapsed into one line each ("R STATUS x 1234 until LU
// set"); the hottest sites. Memory grows with the number of distinct
// registers, threads, sites and polling loops, never with the trace's length.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "analysis/access.h"
#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/flat_map.h"
#include "analysis/symbolizer.h"
#include "analysis/trace_counts.h"
#include "analysis/walk.h"

namespace mmiotrace::analysis {

struct StatsOptions {
  unsigned poll_min = 4;   // consecutive reads of one register by one thread, same value: a polling loop
  size_t max_values = 64;  // distinct values kept per register (more: "more than N")
  size_t max_sites = 16;   // sites kept per register
  size_t top = 10;         // hottest sites and longest polls shown in the text
};

// A place in the device: a register of a bound map, or a device address.
struct StatsKey {
  uint64_t space = 0;  // 1 + binding index for a bound map; 0: a physical address
  uint64_t addr = 0;   // offset in the map, or the physical address
  bool operator==(const StatsKey&) const = default;
};
struct StatsKeyHash {
  uint64_t operator()(const StatsKey& k) const { return mix64(k.addr ^ (k.space << 52)); }
};
struct SiteKey {
  uint32_t pid = 0;
  uint64_t pc = 0;
  bool operator==(const SiteKey&) const = default;
};
struct SiteKeyHash {
  uint64_t operator()(const SiteKey& k) const { return mix64(k.pc ^ (uint64_t{k.pid} << 47)); }
};
struct IdHash {
  uint64_t operator()(uint32_t id) const { return mix64(id); }
};

struct SiteCount {
  uint32_t site = 0;  // index into Stats::sites()
  uint64_t count = 0;
};

struct RegisterStats {
  StatsKey key;
  int32_t map_id = 0;  // of its first access (names an unbound address)
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  std::vector<uint64_t> values;  // distinct values (up to 8 bytes), in order of first appearance
  bool more_values = false;      // more than StatsOptions::max_values
  std::vector<SiteCount> sites;  // in order of first appearance
  bool more_sites = false;
  uint64_t last_value = 0;
  bool has_value = false;
  // Past a few values and sites, lookups go through these instead of a scan.
  std::unique_ptr<FlatSet64> value_set;
  std::unique_ptr<std::unordered_map<uint32_t, uint32_t>> site_slots;  // site -> index into `sites`
};

struct SiteStats {
  uint32_t pid = 0;
  uint64_t pc = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  std::string symbol;  // Symbol::text(), or "" without symbols
};

struct ActorStats {  // a thread or a process
  uint32_t id = 0;
  uint32_t pid = 0;  // the thread's process
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
};

// One polling loop, or several alike: the same register read at the same
// site until the same change.
struct PollStats {
  uint32_t reg = 0;   // index into Stats::registers()
  uint32_t site = 0;  // index into Stats::sites()
  std::string until;  // "LU set", "bit 4 set", "0x1 -> 0x3", "" (the loop ended without a change)
  uint64_t loops = 0;
  uint64_t reads = 0;      // in all of them
  uint64_t max_reads = 0;  // in the longest
  uint64_t first_ns = 0;
};

class Stats final : public TraceVisitor {
 public:
  // `regs` (may be null) names registers and decodes the changes polls wait
  // for; `symbols` (may be null) names sites. Both must outlive this.
  Stats(StatsOptions options, const RegisterBindings* regs, Symbolizer* symbols);

  void on_record(const trace::RecordView& record) override;
  void on_access(const Access& access, const AccessDescription* described) override;
  // Ends the polls still open (call once, after the walk).
  void finish();

  const StatsOptions& options() const { return options_; }
  // Whether sites are named (the trace recorded the program's code maps).
  bool has_symbols() const { return symbols_ != nullptr && !symbols_->maps().empty(); }
  const TraceCounts& counts() const { return counter_.counts(); }
  const std::vector<RegisterStats>& registers() const { return registers_; }
  const std::vector<SiteStats>& sites() const { return sites_; }
  const std::vector<PollStats>& polls() const { return polls_; }
  std::vector<ActorStats> threads() const;  // by id
  std::vector<ActorStats> processes() const;
  uint64_t accesses() const { return accesses_; }  // that passed the filter
  uint64_t reads() const { return reads_; }
  uint64_t writes() const { return writes_; }
  uint64_t first_ns() const { return first_ns_; }
  // The register (its first one, for an access of several) and site of the
  // last access counted.
  uint32_t last_register() const { return last_access_reg_; }
  uint32_t last_site() const { return last_access_site_; }
  uint64_t last_ns() const { return last_ns_; }

  // "e1000 STATUS", "0000:00:03.0 BAR0+0x8", "map 1 0x8" (an address of no
  // device the trace describes).
  std::string register_name(const RegisterStats& r, const DeviceCatalog& devices) const;

 private:
  struct PollState {
    bool active = false;
    uint32_t reg = 0;
    uint32_t site = 0;
    uint64_t value = 0;
    uint64_t reads = 0;
    uint64_t first_ns = 0;
  };
  struct ThreadState {
    ActorStats stats;
    PollState poll;
  };
  uint32_t register_index(const StatsKey& key, int32_t map_id, uint64_t time_ns);
  uint32_t site_index(uint32_t pid, uint64_t pc);
  ThreadState& thread(uint32_t tid);
  ActorStats& process(uint32_t pid);
  void count_register(RegisterStats& r, const Access& a, bool value_known, uint64_t value, uint32_t site);
  void poll_step(PollState& p, uint32_t reg, uint32_t site, const Access& a, bool value_known, uint64_t value,
                 const AccessDescription* described);
  void end_poll(PollState& p, const std::string& until);
  std::string change_text(uint64_t from, uint64_t to, const AccessDescription* described) const;

  StatsOptions options_;
  const RegisterBindings* regs_;
  Symbolizer* symbols_;
  TraceCounter counter_;
  uint64_t accesses_ = 0;
  uint64_t reads_ = 0;
  uint64_t writes_ = 0;
  uint32_t last_access_reg_ = 0;
  uint32_t last_access_site_ = 0;
  uint64_t first_ns_ = 0;
  uint64_t last_ns_ = 0;
  std::vector<RegisterStats> registers_;
  FlatIndex<StatsKey, StatsKeyHash> register_ids_;
  std::vector<SiteStats> sites_;
  FlatIndex<SiteKey, SiteKeyHash> site_ids_;
  std::vector<ThreadState> threads_;
  FlatIndex<uint32_t, IdHash> thread_ids_;
  std::vector<ActorStats> processes_;
  FlatIndex<uint32_t, IdHash> process_ids_;
  std::vector<PollStats> polls_;
  std::unordered_map<std::string, uint32_t> poll_ids_;
};

// The text `mmiotrace stats` prints (docs/stats.md), and the same as JSON.
void format_stats_text(const Stats& stats, const DeviceCatalog& devices, uint64_t time_origin_ns,
                       fmt::memory_buffer& out);
void format_stats_json(const Stats& stats, const DeviceCatalog& devices, uint64_t time_origin_ns,
                       fmt::memory_buffer& out);

}  // namespace mmiotrace::analysis
