// The channel between the agent (in the traced program) and the recorder: one
// shared-memory file (a memfd the recorder creates) holding a header and a set
// of single-producer/single-consumer byte rings.
//
// Each thread of the traced program claims a ring on its first event and
// writes whole trace records (format.h) into it; the recorder is the only
// consumer, merges the rings by record seq and writes the trace file. Because
// the records live in memory the recorder shares, everything a thread has
// published survives the traced program's death, whatever kills it.
//
// A record's seq is taken under `order_lock`, held across the device access
// itself, so the global order is the order in which the device saw the
// accesses, across threads and processes. An ACCESS_RUN takes `count`
// consecutive seqs. Records are published before the lock is released, so
// they enter the rings in seq order. The lock word holds its owner's thread
// id, so that a waiter can tell a holder that died (SIGKILL) from a slow one
// and take the lock over (trace/channel_producer.h).
//
// Async-signal-safe: plain layout and std::atomic on lock-free integers only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mmiotrace::trace {

inline constexpr char kChannelMagic[8] = {'M', 'T', 'C', 'H', 'A', 'N', '0', '1'};
inline constexpr uint32_t kChannelVersion = 5;
// Ring 0 belongs to the recorder itself (its start/exit MARKs, which take
// seqs like any record); the others to the program's threads.
inline constexpr uint32_t kRingCount = 257;         // 256 threads that can trace at once + the recorder's
inline constexpr uint64_t kRingBytes = 256 * 1024;  // per ring; a power of two
inline constexpr size_t kMaxDeviceGlobs = 4096;     // bytes for the NUL-separated globs
inline constexpr size_t kMaxSysroot = 256;
inline constexpr size_t kMaxStandIns = 64;  // --device options

// StandInIdentity.flags
inline constexpr uint8_t kStandInPhys = 1u << 0;  // `phys` is the physical address of the file's byte 0
inline constexpr uint8_t kStandInPci = 1u << 1;   // the file is BAR `bar` of PCI device `busdevfn`

// The identity a --device stand-in plays (record --device GLOB,phys=...,pci=...,
// docs/record.md): where its bytes are physically, and which PCI device's BAR
// it is. Without flags: physical address = file offset, no PCI device.
struct StandInIdentity {
  uint64_t phys;
  uint64_t bar_size;  // bytes, a power of two (kStandInPci)
  uint32_t busdevfn;  // (domain << 16) | (bus << 8) | devfn (kStandInPci)
  uint16_t vendor;
  uint16_t device;
  uint8_t bar;  // 0-5
  uint8_t flags;
  uint8_t reserved[6];
};
static_assert(sizeof(StandInIdentity) == 32);

enum class RingState : uint32_t {
  FREE = 0,     // no owner; the recorder has consumed everything in it
  OWNED = 1,    // a live thread writes into it
  RETIRED = 2,  // its thread has exited; the recorder frees it once drained
};

struct alignas(64) RingControl {
  std::atomic<uint32_t> state;  // RingState
  std::atomic<uint32_t> owner_pid;
  std::atomic<uint32_t> owner_tid;
  uint32_t reserved;
  alignas(64) std::atomic<uint64_t> head;  // bytes ever written (producer)
  alignas(64) std::atomic<uint64_t> tail;  // bytes ever consumed (recorder)
};
static_assert(sizeof(RingControl) == 192);

// Channel flags (ChannelHeader.flags), set by the recorder.
inline constexpr uint32_t kChannelVerbose = 1u << 0;
// record --drop-when-full: a producer whose ring is full drops an access
// record (its seqs become a LOST record) instead of waiting.
inline constexpr uint32_t kChannelDropWhenFull = 1u << 1;
// record --no-follow: only the process record started (root_pid) traces.
inline constexpr uint32_t kChannelNoFollow = 1u << 2;
inline constexpr uint32_t kChannelStepMode = 1u << 3;  // record --mode=step

// ChannelHeader.step_flags bits, set by the agents.
inline constexpr uint32_t kStepUsedMprotect = 1u << 0;  // a step opened pages with mprotect (not race-free)
inline constexpr uint32_t kStepUsedPkey = 1u << 1;      // a step opened a protection key in one thread only

// Why a hot instruction site (record --patch-after) was not patched
// (ChannelHeader.unpatched counts sites by reason; docs/record.md, "Patching").
enum class UnpatchedReason : uint8_t {
  NOT_AN_INSTRUCTION,  // the bytes do not decode
  NOT_IN_TABLE,        // the emulator's table does not cover it
  STRING,              // a string instruction
  MEMORY_OPERANDS,     // not exactly one explicit memory operand (PUSH/POP m...)
  ADDRESS_SIZE,        // 32-bit address arithmetic (67h)
  SEGMENT,             // an FS or GS segment override
  WRITES_RSP_OR_RIP,   // it writes RSP or transfers control
  NO_ROOM,             // no tactic found room for a jump and its trampoline
  REWRITTEN,           // its bytes already belong to another patch
  CODE_UNWRITABLE,     // code cannot be changed safely: no /proc/self/mem or no core-serialising membarrier
  FULL,                // the site table, the patch table or the code cache is full
  COUNT
};
inline constexpr size_t kUnpatchedReasons = static_cast<size_t>(UnpatchedReason::COUNT);

inline const char* describe(UnpatchedReason r) {
  switch (r) {
    case UnpatchedReason::NOT_AN_INSTRUCTION:
      return "not a valid instruction";
    case UnpatchedReason::NOT_IN_TABLE:
      return "not in the emulator's table";
    case UnpatchedReason::STRING:
      return "a string instruction";
    case UnpatchedReason::MEMORY_OPERANDS:
      return "not exactly one explicit memory operand";
    case UnpatchedReason::ADDRESS_SIZE:
      return "32-bit address arithmetic";
    case UnpatchedReason::SEGMENT:
      return "an FS or GS segment override";
    case UnpatchedReason::WRITES_RSP_OR_RIP:
      return "it writes RSP or transfers control";
    case UnpatchedReason::NO_ROOM:
      return "no room for a jump and its trampoline";
    case UnpatchedReason::REWRITTEN:
      return "its bytes belong to another patch";
    case UnpatchedReason::CODE_UNWRITABLE:
      return "code cannot be rewritten here (/proc/self/mem or membarrier unavailable)";
    case UnpatchedReason::FULL:
      return "the patch tables or the trampoline cache are full";
    case UnpatchedReason::COUNT:
      break;
  }
  return "?";
}

struct ChannelHeader {
  char magic[8];
  uint32_t version;
  uint32_t ring_count;
  uint64_t ring_bytes;
  uint64_t total_size;
  uint64_t start_monotonic_ns;
  uint32_t flags;
  uint32_t recorder_pid;
  char device_globs[kMaxDeviceGlobs];       // "glob\0glob\0\0": stand-in devices (record --device)
  char sysroot[kMaxSysroot];                // prefix for /sys and /dev paths ("" in real use; tests fake a tree)
  StandInIdentity stand_ins[kMaxStandIns];  // the identity of the i-th glob of device_globs

  alignas(64) std::atomic<uint32_t> order_lock;  // spinlock: device access + seq + time; 0 or the owner's tid
  std::atomic<uint32_t> lock_wanted;             // 0, or a waiter that waited long: it gets the next turn
  uint64_t next_seq;                             // guarded by order_lock
  std::atomic<uint64_t> lock_takeovers;          // times a waiter took the lock from a dead owner

  alignas(64) std::atomic<uint32_t> next_map_id;  // map ids start at 1
  std::atomic<uint32_t> ring_high_water;          // rings [0, high water) have ever been claimed
  std::atomic<uint32_t> processes_attached;       // agents that have attached (for the summary)
  std::atomic<uint32_t> refused;                  // instructions refused (for the summary)
  std::atomic<uint32_t> root_pid;                 // the process record started (set before its exec)
  std::atomic<uint32_t> closing;                  // the recorder's final drain has begun: no new producers
  std::atomic<uint64_t> dropped;                  // seqs dropped by producers (--drop-when-full)
  std::atomic<uint64_t> room_waits;               // times a producer waited for room in its full ring (ring_reserve)
  std::atomic<uint64_t> room_wait_ns;             // CLOCK_MONOTONIC time those waits took, in all

  alignas(64) std::atomic<uint32_t> step_flags;  // kStepUsed* bits (FileHeader.features at the end)
  std::atomic<uint32_t> stepped;                 // instructions single-stepped (for the summary)

  // The fast path (record --patch-after, --no-patch): set by the recorder...
  alignas(64) uint32_t patch_after;  // faults at one instruction before it is patched; 0: never patch
  // ...and counted by the agents, per hot site (one that reached patch_after faults).
  std::atomic<uint32_t> patched_sites;
  std::atomic<uint32_t> unpatched[kUnpatchedReasons];

  alignas(64) std::atomic<uint32_t> doorbell;  // futex: producers wake a waiting recorder
  std::atomic<uint32_t> recorder_waiting;
};

inline constexpr size_t kChannelHeaderBytes = (sizeof(ChannelHeader) + 4095) & ~size_t{4095};

inline RingControl* ring_controls(ChannelHeader* h) {
  return reinterpret_cast<RingControl*>(reinterpret_cast<char*>(h) + kChannelHeaderBytes);
}
inline uint8_t* ring_data(ChannelHeader* h, uint32_t ring) {
  size_t controls = (sizeof(RingControl) * h->ring_count + 4095) & ~size_t{4095};
  return reinterpret_cast<uint8_t*>(h) + kChannelHeaderBytes + controls + size_t{ring} * h->ring_bytes;
}
inline size_t channel_size(uint32_t ring_count, uint64_t ring_bytes) {
  size_t controls = (sizeof(RingControl) * ring_count + 4095) & ~size_t{4095};
  return kChannelHeaderBytes + controls + ring_count * ring_bytes;
}

// Environment variable through which `record` hands the channel to the agent:
// a path the agent opens (/proc/<recorder pid>/fd/<n>), so that the program
// closing its inherited descriptors cannot cut the agent off.
inline constexpr const char* kChannelEnv = "MMIOTRACE_CHANNEL";

}  // namespace mmiotrace::trace
