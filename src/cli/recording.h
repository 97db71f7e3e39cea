// Recording: what a trace says the program's devices did, in the shape replay
// needs (docs/replay.md): the device files the program opened and mapped, each
// device's identity, and every access in recorded order, grouped by the
// thread that made it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "trace/format.h"
#include "trace/session.h"

namespace mmiotrace::cli {

// A file the program opened and mapped when it was recorded.
struct RecordedPath {
  std::string path;  // as the MAP record names it
  trace::DeviceKind kind = trace::DeviceKind::FILE;
  uint64_t file_size = 0;  // what fstat says of it: a BAR's size, a stand-in's mapped extent, 0 for /dev/mem and UIO
};

// One device: a BAR, a UIO map, /dev/mem, a stand-in file.
struct RecordedDevice {
  uint32_t path = 0;  // RecordedPath index
  trace::DeviceKind kind = trace::DeviceKind::FILE;
  uint16_t bar = trace::kNoBar;
  uint32_t busdevfn = 0;
  bool has_pci = false;
  uint64_t file_base = 0;        // file offset of the device's byte 0 (UIO: map index * page size)
  uint64_t phys_base = 0;        // physical address of the device's byte 0
  uint64_t size = 0;             // bytes (a BAR's size when a PCIDEV record says it, else the mapped extent)
  uint64_t lowest = UINT64_MAX;  // lowest and highest device offset mapped
  uint64_t highest = 0;
  std::vector<uint8_t> pcidev;  // the recorded PCIDEV record of its device, if any
};

struct RecordedThread {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t process = 0;          // index into Recording::processes
  std::vector<uint64_t> events;  // indices into Recording::events, in order
};

struct Recording {
  std::vector<RecordedPath> paths;
  std::vector<RecordedDevice> devices;
  std::vector<trace::ReplayEvent> events;  // value_off: into `values`
  std::vector<uint8_t> values;
  std::vector<RecordedThread> threads;
  std::vector<uint32_t> processes;  // recorded pids, in order of first appearance
  uint64_t lost = 0;                // events the recording lost (LOST records)
  uint64_t unknown = 0;             // UNKNOWN records
};

// Reads the trace at `path`. Errors: unreadable or corrupt traces, a kernel
// log (it names no device files), accesses to a mapping with no MAP record.
Result<Recording> load_recording(const std::string& path);

// The device identity key the replay uses for a path: the same device opened
// by another path (a sysfs symlink) must come to the same key.
std::string device_path_key(const std::string& path);

}  // namespace mmiotrace::cli
