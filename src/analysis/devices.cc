#include "analysis/devices.h"

#include "trace/trace_input.h"

namespace mmiotrace::analysis {

std::string pci_address(uint32_t busdevfn) {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", busdevfn >> 16, (busdevfn >> 8) & 0xff, (busdevfn >> 3) & 0x1f,
                     busdevfn & 7);
}

void DeviceCatalog::add(const trace::RecordView& record) {
  if (record.type() == trace::RecordType::PCIDEV) {
    pcidev_records_.emplace_back(record.bytes().begin(), record.bytes().end());
    const auto r = record.as<trace::PciDevRecord>();
    PciDevice d;
    d.busdevfn = r.busdevfn;
    d.id = {r.vendor, r.device};
    for (int i = 0; i < 6; ++i) {
      // Flags in the low bits as /proc/bus/pci/devices has them: bit 0 set for
      // an I/O BAR (address bits from 2), clear for memory (address bits from 4).
      d.bar_io[i] = (r.start[i] & 1) != 0;
      d.bar_start[i] = r.start[i] & (d.bar_io[i] ? ~uint64_t{0x3} : ~uint64_t{0xf});
      d.bar_size[i] = r.size[i];
    }
    d.driver = record.pcidev_driver();
    // A device recorded twice (two processes opened it) is one device.
    for (PciDevice& known : devices_) {
      if (known.busdevfn == d.busdevfn && known.id == d.id) {
        known = d;
        return;
      }
    }
    devices_.push_back(std::move(d));
  } else if (record.type() == trace::RecordType::MAP) {
    const auto r = record.as<trace::MapRecord>();
    Mapping m;
    m.map_id = static_cast<int32_t>(r.map_id);
    m.phys = r.phys;
    m.len = r.len;
    m.file_offset = r.file_offset;
    m.kind = r.kind;
    m.bar = r.bar;
    m.busdevfn = r.pci_busdevfn;
    mappings_[m.map_id] = m;
  }
}

Result<DeviceCatalog> DeviceCatalog::scan(const std::string& path) {
  auto input = trace::open_trace_input(path);
  if (!input) return Error{input.error()};
  trace::RecordSource& source = input->kind == trace::InputKind::TRACE
                                    ? static_cast<trace::RecordSource&>(*input->trace)
                                    : static_cast<trace::RecordSource&>(*input->kernel_log);
  DeviceCatalog catalog;
  trace::RecordView record;
  for (;;) {
    auto more = source.next(record);
    if (!more) {
      if (source.read_failed()) return Error{more.error()};
      break;  // damaged: the printing pass reports it, after what came before
    }
    if (!*more) break;
    catalog.add(record);
  }
  return catalog;
}

const Mapping* DeviceCatalog::mapping(int32_t map_id) const {
  auto it = mappings_.find(map_id);
  return it == mappings_.end() ? nullptr : &it->second;
}

std::optional<std::pair<const PciDevice*, int>> DeviceCatalog::bar_of(uint64_t phys) const {
  for (const PciDevice& d : devices_) {
    for (int i = 0; i < 6; ++i) {
      if (d.bar_io[i] || d.bar_size[i] == 0 || d.bar_start[i] == 0) continue;
      if (phys >= d.bar_start[i] && phys - d.bar_start[i] < d.bar_size[i]) return std::pair{&d, i};
    }
  }
  return std::nullopt;
}

uint64_t device_offset_of(const Mapping& m) {
  switch (static_cast<trace::DeviceKind>(m.kind)) {
    case trace::DeviceKind::FILE:
    case trace::DeviceKind::PCI_RESOURCE:
      return m.file_offset;
    case trace::DeviceKind::VFIO:
      // vfio-pci puts region N at N << 40 of the device fd (VFIO_PCI_OFFSET_SHIFT,
      // include/linux/vfio_pci_core.h): the low bits are the offset in the region.
      return m.file_offset & ((uint64_t{1} << 40) - 1);
    case trace::DeviceKind::DEV_MEM:
    case trace::DeviceKind::UIO:
      break;
  }
  return 0;
}

DeviceLocation DeviceCatalog::locate(int32_t map_id, uint64_t phys) const {
  DeviceLocation loc;
  if (auto bar = bar_of(phys)) {
    loc.device = bar->first;
    loc.bar = bar->second;
    loc.offset = phys - bar->first->bar_start[bar->second];
    return loc;
  }
  if (const Mapping* m = mapping(map_id)) {
    loc.bar = m->bar == trace::kNoBar ? -1 : m->bar;
    loc.offset = phys - m->phys + device_offset_of(*m);
    return loc;
  }
  loc.offset = phys;
  return loc;
}

}  // namespace mmiotrace::analysis
