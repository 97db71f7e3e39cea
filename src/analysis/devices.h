// What a trace says about its devices: the PCI devices of its PCIDEV records
// and the mappings of its MAP records, and, for any access, which device, BAR
// and offset in the device it touched. Register maps are bound through it
// (bind.h) and filters by device, BAR or offset use it (filter.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analysis/regmap.h"  // PciId
#include "common/result.h"
#include "trace/reader.h"

namespace mmiotrace::analysis {

struct PciDevice {
  uint32_t busdevfn = 0;  // (domain << 16) | (bus << 8) | devfn
  PciId id;
  uint64_t bar_start[6] = {};  // without the resource flags of the low bits
  uint64_t bar_size[6] = {};
  bool bar_io[6] = {};  // an I/O port BAR (not memory)
  std::string driver;
};

// "0000:00:03.0"
std::string pci_address(uint32_t busdevfn);

struct Mapping {
  int32_t map_id = 0;
  uint64_t phys = 0;
  uint64_t len = 0;
  uint64_t file_offset = 0;
  uint16_t kind = 0;  // trace::DeviceKind, or kKernelLogMapKind
  uint16_t bar = 0;   // trace::kNoBar if none
  uint32_t busdevfn = 0;
};

// Where an access landed.
struct DeviceLocation {
  const PciDevice* device = nullptr;  // the PCI device whose BAR holds the address, if known
  int bar = -1;                       // that BAR, or the mapping's BAR/UIO map; -1 if not known
  uint64_t offset = 0;                // from the start of the BAR (of the device file, of the mapping)
};

class DeviceCatalog {
 public:
  // Takes PCIDEV and MAP records; ignores every other record.
  void add(const trace::RecordView& record);

  // Reads `path` (a trace or a kernel log, trace_input.h) once for its PCIDEV and
  // MAP records. An error says why the file cannot be read; a damaged trace
  // yields what came before the damage (printing reports the damage itself).
  static Result<DeviceCatalog> scan(const std::string& path);

  const std::vector<PciDevice>& devices() const { return devices_; }
  // The PCIDEV records themselves, as read (what the kernel format prints first).
  const std::vector<std::vector<uint8_t>>& pcidev_records() const { return pcidev_records_; }
  const Mapping* mapping(int32_t map_id) const;
  bool has_mappings() const { return !mappings_.empty(); }
  // The memory BAR of a PCI device that holds `phys`.
  std::optional<std::pair<const PciDevice*, int>> bar_of(uint64_t phys) const;

  // Device, BAR and offset of an access at `phys` through mapping `map_id`: the
  // PCI BAR that holds it, if any; else its offset in the device file of the
  // mapping (the file offset for a stand-in file or a sysfs resource file, the
  // offset in the region for VFIO), or from the mapping's start (/dev/mem, UIO,
  // a kernel log); else `phys` itself.
  DeviceLocation locate(int32_t map_id, uint64_t phys) const;

 private:
  std::vector<PciDevice> devices_;
  std::vector<std::vector<uint8_t>> pcidev_records_;
  std::unordered_map<int32_t, Mapping> mappings_;
};

// The offset of a mapping's first byte in its device (see DeviceCatalog::locate).
uint64_t device_offset_of(const Mapping& m);

}  // namespace mmiotrace::analysis
