// Encoders: each fills a caller-provided byte buffer with one complete record
// of the trace format (src/trace/format.h, docs/trace-format.md) and returns its
// size in bytes, or 0 if the buffer is too small or a field is out of range
// (then the buffer is left untouched).
//
// ASYNC-SIGNAL-SAFE: the agent calls these from its SIGSEGV handler. No
// allocation, no exceptions, no std::string, no locks, no library calls other
// than memcpy/memset (async-signal-safe since POSIX.1-2016). The buffer needs no
// particular alignment. Every padding and reserved byte is written as zero, so
// a record's bytes depend only on its fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trace/format.h"

namespace mmiotrace::trace {

// The RecordHeader fields every record has (type and size are the encoder's).
struct RecordStamp {
  uint64_t seq = 0;      // global order, increasing through a file (an ACCESS_RUN takes `count` seqs from here)
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t tid = 0;      // thread that produced the record (0: the recorder)
};

struct AccessFields {
  AccessOp op = AccessOp::READ;
  uint8_t width = 0;  // bytes, 1..kMaxAccessWidth
  uint8_t flags = 0;  // kAccessMasked, kAccessSplit
  uint64_t phys = 0;
  uint64_t pc = 0;
  uint64_t byte_mask = 0;  // with kAccessMasked: the bytes accessed (bits past `width` are dropped,
                           // none selected is refused); otherwise ignored, all `width` bits are set
  uint32_t pid = 0;
  uint32_t map_id = 0;
  const uint8_t* insn = nullptr;   // insn_len bytes of the instruction (may be null if insn_len is 0)
  uint8_t insn_len = 0;            // 0..kMaxInsnLength
  const uint8_t* value = nullptr;  // `width` bytes, memory order
};

// `count` accesses of one REP string instruction (an ACCESS_RUN record).
struct AccessRunFields {
  AccessOp op = AccessOp::READ;
  uint8_t width = 0;  // bytes of each access: 1, 2, 4 or 8
  uint8_t flags = 0;  // kAccessSplit, kAccessGeneric; kAccessMasked is refused
  uint64_t phys = 0;  // device address of the first access
  uint64_t pc = 0;
  uint32_t pid = 0;
  uint32_t map_id = 0;
  uint32_t count = 0;               // accesses, 1..max_run_count(width)
  int32_t stride = 0;               // +width, or -width (DF=1); phys+(count-1)*stride must not wrap
  const uint8_t* insn = nullptr;    // insn_len bytes of the instruction (may be null if insn_len is 0)
  uint8_t insn_len = 0;             // 0..kMaxInsnLength
  const uint8_t* values = nullptr;  // count*width bytes: access 0's value, then access 1's, ... (memory order)
};

struct MapFields {
  uint64_t phys = 0;
  uint64_t virt = 0;
  uint64_t len = 0;
  uint64_t file_offset = 0;
  uint32_t pid = 0;
  uint32_t map_id = 0;
  DeviceKind kind = DeviceKind::FILE;
  uint16_t prot = 0;
  uint16_t bar = kNoBar;
  uint32_t pci_busdevfn = 0;
  const char* path = nullptr;  // path_len bytes, no terminator needed
  uint16_t path_len = 0;
};

struct UnmapFields {
  uint64_t virt = 0;
  uint64_t len = 0;
  uint32_t pid = 0;
  uint32_t map_id = 0;
};

struct MarkFields {
  uint32_t pid = 0;
  const char* text = nullptr;  // text_len bytes, no terminator needed
  uint16_t text_len = 0;       // at most kMaxMarkText
};

struct PciDevFields {
  uint32_t busdevfn = 0;  // (domain << 16) | (bus << 8) | devfn
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t irq = 0;
  uint64_t start[7] = {};
  uint64_t size[7] = {};
  const char* driver = nullptr;  // driver_len bytes; driver_len 0: no driver bound
  uint16_t driver_len = 0;
};

struct UnknownFields {
  uint64_t phys = 0;
  uint64_t pc = 0;
  uint32_t pid = 0;
  uint32_t map_id = 0;
  const uint8_t* insn = nullptr;
  uint8_t insn_len = 0;  // 0..kMaxInsnLength
};

struct CodeMapFields {
  uint64_t virt = 0;
  uint64_t len = 0;
  uint64_t file_offset = 0;
  uint64_t elf_vaddr = 0;
  uint64_t mtime_ns = 0;
  uint64_t file_size = 0;
  uint64_t inode = 0;
  uint32_t pid = 0;
  uint16_t flags = 0;                 // kCodeMap* bits
  const uint8_t* build_id = nullptr;  // build_id_len bytes
  uint8_t build_id_len = 0;           // 0..kMaxBuildId
  const char* path = nullptr;         // path_len bytes, no terminator needed
  uint16_t path_len = 0;
};

struct LostFields {
  uint64_t count = 0;
};

// Largest record: sizes are 16-bit and multiples of 8.
inline constexpr size_t kMaxRecordSize = 0xfff8;

// Record sizes for the variable-length records (fixed part + payload padded to 8).
constexpr size_t record_size_for_access(unsigned width) { return sizeof(AccessRecord) + padded8(width); }
constexpr size_t record_size_for_map(unsigned path_len) { return sizeof(MapRecord) + padded8(path_len); }
constexpr size_t record_size_for_mark(unsigned text_len) { return sizeof(MarkRecord) + padded8(text_len); }
constexpr size_t record_size_for_pcidev(unsigned driver_len) { return sizeof(PciDevRecord) + padded8(driver_len); }
constexpr size_t record_size_for_codemap(unsigned build_id_len, unsigned path_len) {
  return sizeof(CodeMapRecord) + padded8(build_id_len + path_len);
}
// An ACCESS_RUN of `count` accesses of `width` bytes (may exceed kMaxRecordSize:
// such a run must be split, see max_run_count()).
constexpr size_t record_size_for_access_run(unsigned width, uint32_t count) {
  return sizeof(AccessRunRecord) + ((size_t{count} * width + 7) & ~size_t{7});
}
// The most accesses of `width` bytes one ACCESS_RUN record holds within
// kMaxRecordSize: (0xfff8 - 80) / width, i.e. 65448, 32724, 16362, 8181 for
// widths 1, 2, 4, 8 (each fills the record exactly). A producer splits a longer
// run into several records. 0 for a width an ACCESS_RUN cannot have.
constexpr uint32_t max_run_count(unsigned width) {
  if (width != 1 && width != 2 && width != 4 && width != 8) return 0;
  return static_cast<uint32_t>((kMaxRecordSize - sizeof(AccessRunRecord)) / width);
}

// Whether access count-1 of a run (count >= 1) lies at an address that does not
// wrap around the 64-bit address space.
constexpr bool run_fits_address_space(uint64_t phys, int32_t stride, uint32_t count) {
  const uint64_t step = static_cast<uint64_t>(stride < 0 ? -int64_t{stride} : int64_t{stride});
  const uint64_t span = uint64_t{count - 1} * step;  // < 2^32 * 2^31: no overflow
  return stride < 0 ? span <= phys : span <= ~uint64_t{0} - phys;
}
static_assert(record_size_for_access_run(1, max_run_count(1)) == kMaxRecordSize);
static_assert(record_size_for_access_run(8, max_run_count(8)) == kMaxRecordSize);

// All `width` low bits set: the byte_mask of an unmasked access.
constexpr uint64_t full_byte_mask(unsigned width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

namespace encode_detail {

// Zeroes `size` bytes of `buf`, copies the fixed part `rec` (whose header gets
// type/size/stamp) and then `payload_len` payload bytes after it.
template <typename T>
inline size_t emit(void* buf, size_t capacity, size_t size, RecordType type, const RecordStamp& stamp, T& rec,
                   const void* payload, size_t payload_len) {
  if (size > capacity || size > kMaxRecordSize) return 0;
  if (payload_len != 0 && payload == nullptr) return 0;
  rec.h.type = static_cast<uint16_t>(type);
  rec.h.size = static_cast<uint16_t>(size);
  rec.h.tid = stamp.tid;
  rec.h.seq = stamp.seq;
  rec.h.time_ns = stamp.time_ns;
  auto* out = static_cast<uint8_t*>(buf);
  std::memset(out, 0, size);
  std::memcpy(out, &rec, sizeof(T));
  if (payload_len != 0) std::memcpy(out + sizeof(T), payload, payload_len);
  return size;
}

// Copies an instruction's bytes into a zeroed 16-byte field; false if too long.
inline bool copy_insn(uint8_t (&dst)[16], const uint8_t* insn, uint8_t insn_len) {
  if (insn_len > kMaxInsnLength || (insn_len != 0 && insn == nullptr)) return false;
  if (insn_len != 0) std::memcpy(dst, insn, insn_len);
  return true;
}

}  // namespace encode_detail

inline size_t encode_access(void* buf, size_t capacity, const RecordStamp& stamp, const AccessFields& f) {
  if (f.width == 0 || f.width > kMaxAccessWidth) return 0;
  if (f.op != AccessOp::READ && f.op != AccessOp::WRITE) return 0;
  AccessRecord rec;
  std::memset(&rec, 0, sizeof rec);
  if (!encode_detail::copy_insn(rec.insn, f.insn, f.insn_len)) return 0;
  rec.phys = f.phys;
  rec.pc = f.pc;
  const uint64_t full = full_byte_mask(f.width);
  rec.byte_mask = (f.flags & kAccessMasked) ? (f.byte_mask & full) : full;
  if (rec.byte_mask == 0) return 0;  // a masked access that selects no byte accesses nothing
  rec.pid = f.pid;
  rec.map_id = f.map_id;
  rec.op = static_cast<uint8_t>(f.op);
  rec.width = f.width;
  rec.insn_len = f.insn_len;
  rec.flags = f.flags;
  return encode_detail::emit(buf, capacity, record_size_for_access(f.width), RecordType::ACCESS, stamp, rec, f.value,
                             f.width);
}

inline size_t encode_access_run(void* buf, size_t capacity, const RecordStamp& stamp, const AccessRunFields& f) {
  const uint32_t max = max_run_count(f.width);
  if (max == 0 || f.count == 0 || f.count > max) return 0;
  if (f.stride != f.width && f.stride != -static_cast<int32_t>(f.width)) return 0;
  if (!run_fits_address_space(f.phys, f.stride, f.count)) return 0;
  if (f.op != AccessOp::READ && f.op != AccessOp::WRITE) return 0;
  if (f.flags & kAccessMasked) return 0;  // a run has no byte mask: every byte of every access
  AccessRunRecord rec;
  std::memset(&rec, 0, sizeof rec);
  if (!encode_detail::copy_insn(rec.insn, f.insn, f.insn_len)) return 0;
  rec.phys = f.phys;
  rec.pc = f.pc;
  rec.pid = f.pid;
  rec.map_id = f.map_id;
  rec.count = f.count;
  rec.stride = f.stride;
  rec.op = static_cast<uint8_t>(f.op);
  rec.width = f.width;
  rec.insn_len = f.insn_len;
  rec.flags = f.flags;
  return encode_detail::emit(buf, capacity, record_size_for_access_run(f.width, f.count), RecordType::ACCESS_RUN, stamp,
                             rec, f.values, size_t{f.count} * f.width);
}

inline size_t encode_map(void* buf, size_t capacity, const RecordStamp& stamp, const MapFields& f) {
  MapRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.phys = f.phys;
  rec.virt = f.virt;
  rec.len = f.len;
  rec.file_offset = f.file_offset;
  rec.pid = f.pid;
  rec.map_id = f.map_id;
  rec.kind = static_cast<uint16_t>(f.kind);
  rec.prot = f.prot;
  rec.bar = f.bar;
  rec.path_len = f.path_len;
  rec.pci_busdevfn = f.pci_busdevfn;
  return encode_detail::emit(buf, capacity, record_size_for_map(f.path_len), RecordType::MAP, stamp, rec, f.path,
                             f.path_len);
}

inline size_t encode_unmap(void* buf, size_t capacity, const RecordStamp& stamp, const UnmapFields& f) {
  UnmapRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.virt = f.virt;
  rec.len = f.len;
  rec.pid = f.pid;
  rec.map_id = f.map_id;
  return encode_detail::emit(buf, capacity, sizeof rec, RecordType::UNMAP, stamp, rec, nullptr, 0);
}

inline size_t encode_mark(void* buf, size_t capacity, const RecordStamp& stamp, const MarkFields& f) {
  if (f.text_len > kMaxMarkText) return 0;
  MarkRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.pid = f.pid;
  rec.text_len = f.text_len;
  return encode_detail::emit(buf, capacity, record_size_for_mark(f.text_len), RecordType::MARK, stamp, rec, f.text,
                             f.text_len);
}

inline size_t encode_pcidev(void* buf, size_t capacity, const RecordStamp& stamp, const PciDevFields& f) {
  PciDevRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.busdevfn = f.busdevfn;
  rec.vendor = f.vendor;
  rec.device = f.device;
  rec.irq = f.irq;
  rec.driver_len = f.driver_len;
  for (int i = 0; i < 7; ++i) {
    rec.start[i] = f.start[i];
    rec.size[i] = f.size[i];
  }
  return encode_detail::emit(buf, capacity, record_size_for_pcidev(f.driver_len), RecordType::PCIDEV, stamp, rec,
                             f.driver, f.driver_len);
}

inline size_t encode_unknown(void* buf, size_t capacity, const RecordStamp& stamp, const UnknownFields& f) {
  UnknownRecord rec;
  std::memset(&rec, 0, sizeof rec);
  if (!encode_detail::copy_insn(rec.insn, f.insn, f.insn_len)) return 0;
  rec.phys = f.phys;
  rec.pc = f.pc;
  rec.pid = f.pid;
  rec.map_id = f.map_id;
  rec.insn_len = f.insn_len;
  return encode_detail::emit(buf, capacity, sizeof rec, RecordType::UNKNOWN, stamp, rec, nullptr, 0);
}

inline size_t encode_codemap(void* buf, size_t capacity, const RecordStamp& stamp, const CodeMapFields& f) {
  if (f.build_id_len > kMaxBuildId || (f.build_id_len != 0 && f.build_id == nullptr)) return 0;
  if (f.path_len != 0 && f.path == nullptr) return 0;
  const size_t size = record_size_for_codemap(f.build_id_len, f.path_len);
  if (size > capacity || size > kMaxRecordSize) return 0;
  CodeMapRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.virt = f.virt;
  rec.len = f.len;
  rec.file_offset = f.file_offset;
  rec.elf_vaddr = f.elf_vaddr;
  rec.mtime_ns = f.mtime_ns;
  rec.file_size = f.file_size;
  rec.inode = f.inode;
  rec.pid = f.pid;
  rec.flags = f.flags;
  rec.build_id_len = f.build_id_len;
  rec.path_len = f.path_len;
  if (encode_detail::emit(buf, capacity, size, RecordType::CODEMAP, stamp, rec, f.build_id, f.build_id_len) == 0)
    return 0;
  if (f.path_len != 0) std::memcpy(static_cast<uint8_t*>(buf) + sizeof rec + f.build_id_len, f.path, f.path_len);
  return size;
}

inline size_t encode_lost(void* buf, size_t capacity, const RecordStamp& stamp, const LostFields& f) {
  LostRecord rec;
  std::memset(&rec, 0, sizeof rec);
  rec.count = f.count;
  return encode_detail::emit(buf, capacity, sizeof rec, RecordType::LOST, stamp, rec, nullptr, 0);
}

}  // namespace mmiotrace::trace
