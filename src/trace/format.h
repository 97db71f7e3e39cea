// The on-disk trace format, version 1.2 (normative description: docs/trace-format.md).
//
// A file is a FileHeader followed by records. Every record starts with a
// RecordHeader, is 8-byte aligned and a multiple of 8 bytes long; `size` covers
// the whole record so a reader can skip record types it does not know (a newer
// minor version may add them). Records are in increasing `seq` order: one total
// order over every thread and process of the traced program. A record takes one
// seq, except an ACCESS_RUN, which takes `count` of them (h.seq .. h.seq+count-1);
// the next record's seq is past all of them.
//
// This header is shared by the agent (which writes records into the channel
// from its signal handler: plain structs, no allocation) and the tools.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmiotrace::trace {

inline constexpr char kMagic[8] = {'\x7f', 'M', 'M', 'I', 'O', 'T', 'R', 'C'};
inline constexpr uint16_t kVersionMajor = 1;  // readers refuse a newer major version
inline constexpr uint16_t kVersionMinor = 2;  // readers accept any minor version (1.1 added ACCESS_RUN, 1.2 CODEMAP)

// FileHeader.features bits.
inline constexpr uint64_t kFeatureNone = 0;
// Recorded with `record --mode=step`: every access ran for real on the device,
// single-stepped (docs/record.md). Without it: --mode=emulate.
inline constexpr uint64_t kFeatureStepMode = 1u << 0;
// Some instruction was single-stepped (step mode, or the emulate mode's
// fallback) with its device pages opened by mprotect for every thread, not
// by a protection key for the faulting thread only: accesses other threads
// made to those pages during the step were not seen. The trace may be
// incomplete for multi-threaded programs.
inline constexpr uint64_t kFeatureStepMayMiss = 1u << 1;

struct FileHeader {
  char magic[8];
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;         // bytes; the first record starts here
  uint64_t features;            // kFeature* bits
  uint64_t start_monotonic_ns;  // CLOCK_MONOTONIC when recording started
  uint64_t start_realtime_ns;   // CLOCK_REALTIME at the same moment
  uint32_t recorder_pid;
  uint32_t reserved0;
  uint64_t reserved[2];
};
static_assert(sizeof(FileHeader) == 64);

enum class RecordType : uint16_t {
  PAD = 0,         // never in a file; fills the end of a channel ring
  ACCESS = 1,      // one device access (AccessRecord)
  MAP = 2,         // a device mapping was created (MapRecord)
  UNMAP = 3,       // a device mapping (or part of one) went away (UnmapRecord)
  MARK = 4,        // free text in the event stream (MarkRecord)
  PCIDEV = 5,      // a PCI device the trace refers to (PciDevRecord)
  UNKNOWN = 6,     // an instruction that touched a device and could not be emulated (UnknownRecord)
  LOST = 7,        // events that could not be recorded (LostRecord)
  ACCESS_RUN = 8,  // `count` accesses made by one REP string instruction, in order (AccessRunRecord); since 1.1
  CODEMAP = 9,     // an executable mapping of the traced program's code, as it was (CodeMapRecord); since 1.2
};

struct RecordHeader {
  uint16_t type;     // RecordType
  uint16_t size;     // whole record in bytes, a multiple of 8, >= sizeof(RecordHeader)
  uint32_t tid;      // thread that produced the record (0: the recorder)
  uint64_t seq;      // global order, increasing through a file (an ACCESS_RUN takes `count` seqs from here)
  uint64_t time_ns;  // CLOCK_MONOTONIC, nanoseconds
};
static_assert(sizeof(RecordHeader) == 24);

enum class AccessOp : uint8_t { READ = 0, WRITE = 1 };

// AccessRecord.flags bits.
inline constexpr uint8_t kAccessMasked = 1 << 0;  // byte_mask selects the bytes accessed
inline constexpr uint8_t kAccessSplit = 1 << 1;   // one part of an instruction's access that straddled mappings
// The instruction is not in the emulator's table: it ran for real on a copy of
// the operand (the generic path, docs/emulated-instructions.md), and this is
// the copy from (READ) or back to (WRITE) the device. An x87 m80 operand is
// copied as naturally aligned pieces of at most 8 bytes, one record each.
inline constexpr uint8_t kAccessGeneric = 1 << 2;
// The instruction ran for real on the device, single-stepped (record
// --mode=step, or in emulate mode an instruction that neither the emulator
// nor the generic path can run). The value was taken from the instruction's
// source before the step (WRITE) or its destination after it (READ), never
// by reading the device again.
inline constexpr uint8_t kAccessStepped = 1 << 3;
// With kAccessStepped: the value could not be derived without accessing the
// device again (e.g. `or [dev], eax`, `cmp [dev], 1`): the value bytes are
// zero and mean nothing. Printers show `?`.
inline constexpr uint8_t kAccessValueUnknown = 1 << 4;
// A fault injection rule changed this access (record/replay --inject,
// docs/inject.md): a read's value is what the program saw, not what the
// device returned; a write was dropped (it never reached the device) or
// delayed. A MARK just before the record says which rule and what changed.
// Readers that do not know the flag read the access as it is.
inline constexpr uint8_t kAccessInjected = 1 << 5;

inline constexpr unsigned kMaxAccessWidth = 64;
inline constexpr unsigned kMaxInsnLength = 15;

struct AccessRecord {
  RecordHeader h;
  uint64_t phys;       // physical (bus) address of the first byte
  uint64_t pc;         // address of the instruction
  uint64_t byte_mask;  // bit i: byte i was accessed (all `width` bits set unless kAccessMasked)
  uint32_t pid;
  uint32_t map_id;   // MapRecord.map_id of the mapping accessed
  uint8_t op;        // AccessOp
  uint8_t width;     // bytes, 1..64
  uint8_t insn_len;  // bytes of `insn` that are valid, 0..15
  uint8_t flags;     // kAccess* bits
  uint32_t reserved;
  uint8_t insn[16];  // the instruction's bytes
  // followed by `width` bytes of value (memory order), zero-padded to 8
};
static_assert(sizeof(AccessRecord) == 80);

// `count` consecutive accesses of one instruction, all of the same op and
// width, at phys, phys+stride, phys+2*stride, ... (stride = +width, or
// -width when DF=1). They take the seqs h.seq .. h.seq+count-1: the next
// record's seq is at least h.seq+count. h.time_ns is the time of the first.
// It stands for exactly the `count` AccessRecords it replaces (each with
// byte_mask full_byte_mask(width)); printers expand it into them.
// A record is at most kMaxRecordSize (0xfff8) bytes, so a longer run is
// split by its producer into several records of at most
// (0xfff8 - 80) / width accesses each (max_run_count() in encode.h).
struct AccessRunRecord {
  RecordHeader h;
  uint64_t phys;  // physical address of the first access
  uint64_t pc;    // address of the instruction
  uint32_t pid;
  uint32_t map_id;   // MapRecord.map_id of the mapping accessed
  uint32_t count;    // accesses, >= 1
  int32_t stride;    // +width or -width
  uint8_t op;        // AccessOp
  uint8_t width;     // 1, 2, 4 or 8
  uint8_t insn_len;  // bytes of `insn` that are valid, 0..15
  uint8_t flags;     // kAccess* bits (kAccessMasked never)
  uint32_t reserved;
  uint8_t insn[16];  // the instruction's bytes
  // followed by count*width value bytes, access by access (access i's `width`
  // bytes at offset i*width, memory order), zero-padded to 8
};
static_assert(sizeof(AccessRunRecord) == 80);

// The device address of access `i` of a run (0 <= i < count).
constexpr uint64_t run_access_phys(uint64_t phys, int32_t stride, uint32_t i) {
  return phys + static_cast<uint64_t>(static_cast<int64_t>(stride) * static_cast<int64_t>(i));
}

enum class DeviceKind : uint16_t {
  FILE = 0,          // a stand-in device (record --device GLOB); phys = file offset (+ its phys=)
  PCI_RESOURCE = 1,  // /sys/bus/pci/devices/*/resource<N>[_wc]
  DEV_MEM = 2,       // /dev/mem; phys = mmap offset
  UIO = 3,           // /dev/uio<N>; phys from /sys/class/uio/uio<N>/maps
  VFIO = 4,          // a BAR region of a VFIO device fd; phys from the BAR register in its config region
};

// The name a MAP record's kind goes by in text (native print, SQLite export).
inline const char* device_kind_name(uint16_t kind) {
  switch (static_cast<DeviceKind>(kind)) {
    case DeviceKind::FILE:
      return "file";
    case DeviceKind::PCI_RESOURCE:
      return "pci-resource";
    case DeviceKind::DEV_MEM:
      return "dev-mem";
    case DeviceKind::UIO:
      return "uio";
    case DeviceKind::VFIO:
      return "vfio";
  }
  return "unknown";
}

inline constexpr uint16_t kNoBar = 0xffff;

struct MapRecord {
  RecordHeader h;
  uint64_t phys;         // physical address of the mapping's first byte
  uint64_t virt;         // address the program sees
  uint64_t len;          // bytes
  uint64_t file_offset;  // mmap offset
  uint32_t pid;
  uint32_t map_id;        // 1, 2, ... in order of creation across the trace
  uint16_t kind;          // DeviceKind
  uint16_t prot;          // PROT_* the program asked for
  uint16_t bar;           // PCI BAR (for DEV_MEM: the one holding phys) or UIO map index, kNoBar if none
  uint16_t path_len;      // bytes of path that follow (no terminator)
  uint32_t pci_busdevfn;  // (domain << 16) | (bus << 8) | devfn of the PCI device the mapping is in, else 0
  uint32_t reserved;
  // followed by path_len bytes of the device file's path, zero-padded to 8
};
static_assert(sizeof(MapRecord) == 80);

struct UnmapRecord {
  RecordHeader h;
  uint64_t virt;  // first byte unmapped
  uint64_t len;   // bytes unmapped (a whole mapping or part of one)
  uint32_t pid;
  uint32_t map_id;
};
static_assert(sizeof(UnmapRecord) == 48);

struct MarkRecord {
  RecordHeader h;
  uint32_t pid;
  uint16_t text_len;  // bytes of text that follow (no terminator), at most kMaxMarkText
  uint16_t reserved;
  // followed by text, zero-padded to 8
};
static_assert(sizeof(MarkRecord) == 32);
inline constexpr unsigned kMaxMarkText = 4000;

struct PciDevRecord {
  RecordHeader h;
  uint32_t busdevfn;  // (domain << 16) | (bus << 8) | devfn
  uint16_t vendor;
  uint16_t device;
  uint32_t irq;
  uint16_t driver_len;  // bytes of driver name that follow
  uint16_t reserved;
  uint64_t start[7];  // BAR0-5 and ROM start, resource flags in the low nibble as in /proc/bus/pci/devices
  uint64_t size[7];
  // followed by the driver name, zero-padded to 8
};
static_assert(sizeof(PciDevRecord) == 152);

struct UnknownRecord {
  RecordHeader h;
  uint64_t phys;  // device address the instruction faulted on
  uint64_t pc;
  uint32_t pid;
  uint32_t map_id;
  uint8_t insn_len;
  uint8_t reserved[7];
  uint8_t insn[16];
};
static_assert(sizeof(UnknownRecord) == 72);

struct LostRecord {
  RecordHeader h;
  uint64_t count;  // events lost
};
static_assert(sizeof(LostRecord) == 32);

// CodeMapRecord.flags bits.
// The first code map a process recorded when its agent started (the program
// was exec'd, or the process was forked): every earlier CODEMAP of this pid
// belongs to an address space that is gone (the image before exec).
inline constexpr uint16_t kCodeMapFirst = 1u << 0;
// The program mapped the file executable itself (mmap with PROT_EXEC), not the
// dynamic loader.
inline constexpr uint16_t kCodeMapMmap = 1u << 1;

inline constexpr unsigned kMaxBuildId = 64;  // bytes; a longer GNU build-id is recorded as none

// An executable segment of a file in the traced program's address space (the
// program, a shared library, a dlopen'ed one, a file the program mapped
// executable), recorded when the agent starts, at fork, after dlopen and on
// mmap, so that instruction addresses can be turned into function+offset and
// file:line later (docs/trace-format.md, mmiotrace print --symbols), even if
// the file has changed since (by its build-id). The byte at program address
// `virt + i` is the file's byte `file_offset + i`. A later CODEMAP of the same
// pid that overlaps it replaces it.
struct CodeMapRecord {
  RecordHeader h;
  uint64_t virt;         // first byte mapped
  uint64_t len;          // bytes
  uint64_t file_offset;  // offset in the file of the byte at `virt`
  uint64_t elf_vaddr;    // ELF virtual address (p_vaddr) of the byte at `virt`; file_offset if not an ELF file
  uint64_t mtime_ns;     // the file's modification time when recorded (st_mtim), 0 if unknown
  uint64_t file_size;    // the file's size when recorded
  uint64_t inode;        // the file's inode number when recorded
  uint32_t pid;
  uint16_t flags;        // kCodeMap* bits
  uint8_t build_id_len;  // bytes of GNU build-id that follow, 0..kMaxBuildId (0: none)
  uint8_t reserved0;
  uint16_t path_len;  // bytes of path that follow the build-id (no terminator)
  uint16_t reserved1[3];
  // followed by build_id_len bytes of build-id, then path_len bytes of the
  // file's absolute path, zero-padded to 8
};
static_assert(sizeof(CodeMapRecord) == 96);

constexpr uint32_t padded8(uint32_t n) { return (n + 7u) & ~7u; }

}  // namespace mmiotrace::trace
