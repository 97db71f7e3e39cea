#include "cli/recording.h"

#include <fmt/format.h>

#include <cstring>
#include <tuple>

#include "common/device_path.h"
#include "trace/reader.h"

namespace mmiotrace::cli {

namespace {

constexpr uint64_t kPage = 4096;

// Who made a record: (pid, tid).
using ThreadKey = std::pair<uint32_t, uint32_t>;

class Loader {
 public:
  Result<void> add(const trace::RecordView& v);
  Result<void> finish();
  Recording take() { return std::move(rec_); }

 private:
  Result<void> add_map(const trace::RecordView& v);
  Result<void> add_access(const trace::RecordHeader& h, uint32_t pid, uint32_t map_id, uint64_t phys, uint64_t pc,
                          uint64_t mask, uint8_t op, uint8_t width, uint8_t flags, uint8_t insn_len,
                          const uint8_t* insn, const uint8_t* value);
  uint32_t thread_of(uint32_t pid, uint32_t tid);

  Recording rec_;
  std::map<std::string, uint32_t> path_index_;                       // by device_path_key
  std::map<std::tuple<uint32_t, uint16_t>, uint32_t> device_index_;  // (path, bar for UIO)
  std::map<uint32_t, uint32_t> map_device_;                          // map id -> device
  std::map<uint32_t, std::vector<uint8_t>> pcidev_;                  // busdevfn -> PCIDEV record
  std::map<ThreadKey, uint32_t> thread_index_;
  std::map<uint32_t, uint32_t> process_index_;
};

uint32_t Loader::thread_of(uint32_t pid, uint32_t tid) {
  auto [it, added] = thread_index_.emplace(ThreadKey{pid, tid}, static_cast<uint32_t>(rec_.threads.size()));
  if (added) {
    auto [p, new_process] = process_index_.emplace(pid, static_cast<uint32_t>(rec_.processes.size()));
    if (new_process) rec_.processes.push_back(pid);
    RecordedThread t;
    t.pid = pid;
    t.tid = tid;
    t.process = p->second;
    rec_.threads.push_back(std::move(t));
  }
  return it->second;
}

Result<void> Loader::add_map(const trace::RecordView& v) {
  const auto m = v.as<trace::MapRecord>();
  const std::string path(v.map_path());
  const auto kind = static_cast<trace::DeviceKind>(m.kind);
  if (kind == trace::DeviceKind::VFIO) {
    return make_error(
        fmt::format("map {} is a VFIO device region ({}): replay cannot stand in for VFIO devices yet "
                    "(docs/replay.md, \"Limits\")",
                    m.map_id, path));
  }
  const std::string key = device_path_key(path);
  auto [pit, new_path] = path_index_.emplace(key, static_cast<uint32_t>(rec_.paths.size()));
  if (new_path) rec_.paths.push_back(RecordedPath{path, kind, 0});
  const uint32_t path_index = pit->second;
  // A UIO map is chosen by the mmap offset (map N at N * page size); every
  // other kind maps the device's bytes at their file offsets.
  const uint16_t bar = kind == trace::DeviceKind::UIO ? m.bar : trace::kNoBar;
  auto [dit, new_device] =
      device_index_.emplace(std::tuple{path_index, bar}, static_cast<uint32_t>(rec_.devices.size()));
  if (new_device) {
    RecordedDevice d;
    d.path = path_index;
    d.kind = kind;
    d.bar = m.bar;
    d.busdevfn = m.pci_busdevfn;
    d.has_pci = kind == trace::DeviceKind::PCI_RESOURCE || (kind == trace::DeviceKind::UIO && m.pci_busdevfn != 0);
    d.file_base = kind == trace::DeviceKind::UIO ? uint64_t{m.bar} * kPage : 0;
    d.phys_base = m.phys - (m.file_offset - d.file_base);
    rec_.devices.push_back(std::move(d));
  }
  RecordedDevice& d = rec_.devices[dit->second];
  const uint64_t offset = m.file_offset - d.file_base;
  if (m.phys - offset != d.phys_base) {
    return make_error(fmt::format("map {} of {} puts the device at physical {:#x}, an earlier one at {:#x}", m.map_id,
                                  path, m.phys - offset, d.phys_base));
  }
  d.lowest = std::min(d.lowest, offset);
  d.highest = std::max(d.highest, offset + m.len);
  map_device_[m.map_id] = dit->second;
  return {};
}

Result<void> Loader::add_access(const trace::RecordHeader& h, uint32_t pid, uint32_t map_id, uint64_t phys, uint64_t pc,
                                uint64_t mask, uint8_t op, uint8_t width, uint8_t flags, uint8_t insn_len,
                                const uint8_t* insn, const uint8_t* value) {
  auto it = map_device_.find(map_id);
  if (it == map_device_.end()) {
    return make_error(fmt::format("the access with seq {} is on map {}, which no MAP record describes", h.seq, map_id));
  }
  const uint32_t thread = thread_of(pid, h.tid);
  trace::ReplayEvent e{};
  e.phys = phys;
  e.mask = mask;
  e.pc = pc;
  e.seq = h.seq;
  e.value_off = rec_.values.size();
  e.stream = thread;
  e.device = it->second;
  e.op = op;
  e.width = width;
  e.flags = flags;
  e.insn_len = insn_len;
  memcpy(e.insn, insn, sizeof e.insn);
  rec_.values.insert(rec_.values.end(), value, value + width);
  rec_.threads[thread].events.push_back(rec_.events.size());
  rec_.events.push_back(e);
  return {};
}

Result<void> Loader::add(const trace::RecordView& v) {
  switch (v.type()) {
    case trace::RecordType::MAP:
      return add_map(v);
    case trace::RecordType::PCIDEV: {
      const auto p = v.as<trace::PciDevRecord>();
      pcidev_[p.busdevfn].assign(v.bytes().begin(), v.bytes().end());
      return {};
    }
    case trace::RecordType::ACCESS: {
      const auto a = v.as<trace::AccessRecord>();
      const uint64_t all = a.width >= 64 ? ~uint64_t{0} : (uint64_t{1} << a.width) - 1;
      const uint64_t mask = (a.flags & trace::kAccessMasked) != 0 ? a.byte_mask & all : all;
      return add_access(a.h, a.pid, a.map_id, a.phys, a.pc, mask, a.op, a.width, a.flags, a.insn_len, a.insn,
                        v.access_value().data());
    }
    case trace::RecordType::ACCESS_RUN: {
      const auto r = v.as<trace::AccessRunRecord>();
      const uint64_t all = (uint64_t{1} << r.width) - 1;
      for (uint32_t i = 0; i < r.count; ++i) {
        trace::RecordHeader h = r.h;
        h.seq += i;
        Result<void> added = add_access(h, r.pid, r.map_id, trace::run_access_phys(r.phys, r.stride, i), r.pc, all,
                                        r.op, r.width, r.flags, r.insn_len, r.insn, v.access_run_value(i).data());
        if (!added) return added;
      }
      return {};
    }
    case trace::RecordType::LOST:
      rec_.lost += v.as<trace::LostRecord>().count;
      return {};
    case trace::RecordType::UNKNOWN:
      ++rec_.unknown;
      return {};
    default:
      return {};
  }
}

Result<void> Loader::finish() {
  for (RecordedDevice& d : rec_.devices) {
    d.size = d.highest;
    if (auto it = pcidev_.find(d.busdevfn); d.has_pci && it != pcidev_.end()) {
      d.pcidev = it->second;
      trace::PciDevRecord p;
      memcpy(&p, d.pcidev.data(), sizeof p);
      // A BAR's size, as the PCIDEV record gives it (a sysfs resource file's size).
      if (d.kind == trace::DeviceKind::PCI_RESOURCE && d.bar < 7 && p.size[d.bar] != 0) {
        d.size = std::max(d.size, p.size[d.bar]);
      }
    }
    RecordedPath& p = rec_.paths[d.path];
    if (p.kind == trace::DeviceKind::PCI_RESOURCE || p.kind == trace::DeviceKind::FILE) {
      p.file_size = std::max(p.file_size, d.file_base + d.size);
    }
  }
  return {};
}

}  // namespace

std::string device_path_key(const std::string& path) {
  SysfsPciFile f;
  if (parse_sysfs_pci_file(path.c_str(), &f)) {
    return fmt::format("sysfs:{}:{:08x}:{}", path.substr(0, f.prefix_len), f.busdevfn, f.file);
  }
  return path;
}

Result<Recording> load_recording(const std::string& path) {
  auto reader = trace::TraceReader::open(path);
  if (!reader) return Error{reader.error()};
  Loader loader;
  trace::RecordView v;
  for (;;) {
    Result<bool> more = reader->next(v);
    if (!more) return Error{more.error()};
    if (!*more) break;
    Result<void> added = loader.add(v);
    if (!added) return Error{fmt::format("{}: {}", path, added.error())};
  }
  Result<void> done = loader.finish();
  if (!done) return Error{done.error()};
  return loader.take();
}

}  // namespace mmiotrace::cli
