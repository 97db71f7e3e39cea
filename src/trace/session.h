// The session: what `mmiotrace replay` and `record --model/--inject` tell the
// agent besides the channel (trace/channel.h), and the state the agents of
// every process of the program share while it runs. One memfd the CLI
// creates and fills before the program starts; the agent maps it read-write
// (MAP_SHARED) from the path in MMIOTRACE_SESSION, so forked children and
// exec'd programs share the same state.
//
//   SessionHeader
//   stand-in devices: SessionPath[path_count], SessionDevice[device_count]
//   replay (optional): ReplayEvent[event_count], uint64_t stream_events[event_count],
//                      ReplayStream[stream_count], ReplayProcess[process_count],
//                      uint8_t consumed[event_count], the events' values
//   copies of the recorded PCIDEV records
//   fault injection (optional): InjectRule[rule_count]
//   model (optional): the model's state, model_state_size bytes (include/mmiotrace/model.h)
//
// Every section's offset is 64-byte aligned. Plain layout and lock-free
// atomics only: async-signal-safe to read and update from the agent's handler.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mmiotrace::trace {

inline constexpr char kSessionMagic[8] = {'M', 'T', 'S', 'E', 'S', 'S', '0', '1'};
inline constexpr uint32_t kSessionVersion = 1;
// Environment variable through which the CLI hands the session to the agent:
// a path the agent opens (/proc/<cli pid>/fd/<n>), as kChannelEnv.
inline constexpr const char* kSessionEnv = "MMIOTRACE_SESSION";

inline constexpr size_t kSessionPathBytes = 512;
inline constexpr size_t kFdPathBytes = 48;  // "/proc/<pid>/fd/<n>"

// SessionHeader.flags
inline constexpr uint32_t kSessionReplay = 1u << 0;  // the devices are answered from a recording
inline constexpr uint32_t kSessionModel = 1u << 1;   // the devices are answered by a device model
inline constexpr uint32_t kSessionInject = 1u << 2;  // fault injection rules apply

enum class ReplayPolicy : uint32_t {
  STRICT = 0,   // stop at the first access that differs from the recording
  LENIENT = 1,  // answer from the last value at the register, report the differences at the end
};

// A file the program opens that the session stands in for: opening it (by
// this path, or an equivalent sysfs path) gives the program the stand-in
// memfd `fd_path` instead; the real file is never opened.
struct SessionPath {
  char path[kSessionPathBytes];  // as recorded (MAP path) or given (--device)
  char fd_path[kFdPathBytes];    // the stand-in file the program gets (its size is what fstat shows)
  uint16_t kind;                 // DeviceKind of what the path names
  uint16_t reserved[3];
};
static_assert(sizeof(SessionPath) % 8 == 0);

// One device the session stands in for: a BAR (a sysfs resource file, a
// stand-in file), a UIO map, or /dev/mem. Mapping the path's stand-in at
// file offset `file_base` + x maps the device's backing memfd at offset
// x + `file_base` - `backing_base`; its byte x is at physical address
// `phys_base` + x. The backing holds the last value of every byte (replay:
// what the recording said; model: unused).
struct SessionDevice {
  uint32_t path;          // SessionPath index
  uint16_t kind;          // DeviceKind
  uint16_t bar;           // as MapRecord.bar (UIO: the map index)
  uint32_t busdevfn;      // with kDevicePci
  uint32_t flags;         // kDevice*
  uint64_t file_base;     // file offset of the device's byte 0 (UIO: map index * page size; else 0)
  uint64_t phys_base;     // physical address of the device's byte 0
  uint64_t size;          // bytes the device spans (a BAR's size)
  uint64_t backing_base;  // device offset of the backing memfd's byte 0
  uint64_t pcidev_off;    // session offset of a copy of its PCIDEV record (0: none)
  uint32_t pcidev_len;
  uint32_t model_bar;  // the model's BAR number for this device (kSessionModel)
  char backing_path[kFdPathBytes];
};
static_assert(sizeof(SessionDevice) % 8 == 0);
inline constexpr uint32_t kDevicePci = 1u << 0;  // busdevfn and a PCIDEV record are known

// ---- Replay

// One recorded access (an ACCESS record, or one access of an ACCESS_RUN).
struct ReplayEvent {
  uint64_t phys;
  uint64_t mask;  // bytes accessed
  uint64_t pc;
  uint64_t seq;        // in the recording
  uint64_t value_off;  // session offset of its `width` value bytes
  uint32_t stream;     // ReplayStream index
  uint32_t device;     // SessionDevice index
  uint8_t op;          // AccessOp
  uint8_t width;
  uint8_t flags;  // the recorded kAccess* bits
  uint8_t insn_len;
  uint32_t reserved;
  uint8_t insn[16];
};
static_assert(sizeof(ReplayEvent) == 72);

// The accesses of one recorded thread, in order.
struct ReplayStream {
  uint32_t tid;      // recorded
  uint32_t process;  // ReplayProcess index
  uint64_t first;    // index of its first entry in stream_events
  uint64_t count;
  std::atomic<uint32_t> bound_tid;  // the thread of the replay that plays it (0: none yet)
  uint32_t reserved;
  std::atomic<uint64_t> pos;  // its events consumed
};

struct ReplayProcess {
  uint32_t pid;                     // recorded
  std::atomic<uint32_t> bound_pid;  // the process of the replay that plays it (0: none yet)
};

enum class DivergenceKind : uint32_t {
  DIFFERENT = 0,  // the thread's next recorded access is another one (register, width, op)
  VALUE = 1,      // the same register and width, another value written
  EXTRA = 2,      // the thread made an access after its last recorded one
  NO_THREAD = 3,  // no recorded thread is left for a new thread of the replay
  NO_DEVICE = 4,  // the access is on a device the recording does not know
};

// One divergence, as the agent found it; the CLI formats it.
struct ReplayDivergence {
  uint32_t kind;  // DivergenceKind
  uint32_t tid;   // the replay's thread
  uint32_t pid;
  uint32_t device;  // SessionDevice index, or UINT32_MAX
  uint64_t event;   // the recorded event it was compared with (UINT64_MAX: none)
  uint64_t phys;
  uint64_t pc;
  uint64_t mask;
  uint8_t op;
  uint8_t width;
  uint8_t insn_len;
  uint8_t reserved[5];
  uint8_t insn[16];
  uint8_t value[64];
};
inline constexpr uint32_t kMaxStoredDivergences = 32;

// ---- Fault injection (docs/inject.md)

enum class InjectAction : uint8_t {
  VALUE = 0,     // a read returns `operand`
  SET = 1,       // a read returns the value | operand
  CLEAR = 2,     // a read returns the value & ~operand
  FLIP = 3,      // a read returns the value ^ operand
  RANDOM = 4,    // a read returns random bytes (seeded)
  ALL_ONES = 5,  // a read returns all-ones; a write is dropped (a surprise-removed PCI device)
  DROP = 6,      // a write does not reach the device
  DELAY = 7,     // the access reaches the device `delay_ns` later
};

// InjectRule.ops
inline constexpr uint8_t kInjectRead = 1u << 0;
inline constexpr uint8_t kInjectWrite = 1u << 1;

// InjectRule.where
enum class InjectWhere : uint8_t {
  ANY = 0,     // every device address
  OFFSET = 1,  // `addr` is an offset into the device (its BAR, file or UIO map)
  PHYS = 2,    // `addr` is a physical address
};

struct InjectRule {
  uint8_t ops;     // kInject* bits
  uint8_t action;  // InjectAction
  uint8_t where;   // InjectWhere
  uint8_t width;   // 0: any width
  uint32_t reserved;
  uint64_t addr;
  uint64_t operand;   // VALUE, SET, CLEAR, FLIP
  uint64_t delay_ns;  // DELAY
  uint64_t from;      // applies to matching accesses number from, from+1, ... (counted from 1)
  uint64_t count;     // ... at most count of them (UINT64_MAX: no limit)
  uint64_t after_ns;  // and only from this long after the program started ...
  uint64_t until_ns;  // ... until this long after (UINT64_MAX: no end)
  char text[128];     // the rule as written, for the trace's marks
  // Shared counters, updated with __atomic builtins (the struct stays a plain
  // value the CLI builds): accesses that matched so far, in every process,
  // and of those, the ones the rule changed.
  uint64_t matched;
  uint64_t applied;
};

struct SessionHeader {
  char magic[8];
  uint32_t version;
  uint32_t flags;  // kSession*
  uint64_t total_size;
  uint64_t start_monotonic_ns;  // the program's start (injection time windows)

  uint32_t path_count;
  uint32_t device_count;
  uint64_t paths_off;  // SessionPath[path_count]
  uint64_t devices_off;

  // replay
  uint32_t policy;  // ReplayPolicy
  uint32_t stream_count;
  uint32_t process_count;
  uint32_t reserved0;
  uint64_t event_count;
  uint64_t events_off;
  uint64_t stream_events_off;
  uint64_t streams_off;
  uint64_t processes_off;
  uint64_t consumed_off;      // uint8_t[event_count]: 1 once the event was consumed (std::atomic_ref)
  uint64_t stall_timeout_ns;  // a wait for another thread's turn gives up after this long without progress

  // fault injection
  uint32_t rule_count;
  uint32_t reserved1;
  uint64_t rules_off;
  uint64_t seed;

  // model
  char model_path[kSessionPathBytes];
  char model_args[kSessionPathBytes];
  uint64_t model_state_off;
  uint64_t model_state_size;

  // ---- shared state
  alignas(64) std::atomic<uint64_t> cursor;  // replay: the lowest event not yet consumed
  std::atomic<uint32_t> progress;            // futex word: changes whenever an event is consumed
  std::atomic<uint32_t> diverged;            // strict: the replay diverged; every process stops
  std::atomic<uint64_t> divergences;         // found so far
  std::atomic<uint64_t> reordered;           // events consumed out of the recorded order (a wait gave up)
  std::atomic<uint32_t> stored_divergences;  // entries of `divergence` filled
  std::atomic<uint32_t> injected;            // accesses changed by injection rules
  std::atomic<uint32_t> stand_in_opens;      // opens of a device path answered with its stand-in
  std::atomic<uint32_t> refused_opens;       // opens of this machine's own device files refused (replay)
  ReplayDivergence divergence[kMaxStoredDivergences];
  std::atomic<uint32_t> model_initialized;  // the model's state was set up (by the CLI)
  std::atomic<uint32_t> interrupts;         // model: interrupts raised (rising edges; the UIO event count)
  std::atomic<uint32_t> irq_level;          // model: its interrupt line now (1 raised)
  std::atomic<uint64_t> model_deadline_ns;  // model: when it wants advance() called (program time; 0: never)
};

constexpr uint64_t session_align(uint64_t v) { return (v + 63) & ~uint64_t{63}; }

template <typename T>
inline T* session_at(SessionHeader* h, uint64_t off) {
  return reinterpret_cast<T*>(reinterpret_cast<char*>(h) + off);
}

}  // namespace mmiotrace::trace
