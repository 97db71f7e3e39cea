// Typed addresses. Besides the program's own addresses, which stay plain
// uint64_t as the CPU, the kernel and the trace's records give them, the
// agent handles three address spaces for the same device byte: where the
// agent's own mapping of it is, its physical address, and its offset in its
// device (BAR, file or UIO map). Each is its own type (rr's remote_ptr is the
// model), so that one cannot be used as another by mistake; a region
// (agent/region_table.h) converts a program address into each, once.
//
// Async-signal-safe: plain values.
#pragma once

#include <compare>
#include <cstdint>

namespace mmiotrace {

template <typename Space>
class Address {
 public:
  constexpr Address() = default;
  constexpr explicit Address(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr Address operator+(uint64_t bytes) const { return Address(value_ + bytes); }
  // The distance between two addresses of the same space, in bytes.
  constexpr uint64_t operator-(Address other) const { return value_ - other.value_; }
  constexpr auto operator<=>(const Address&) const = default;

 private:
  uint64_t value_ = 0;
};

struct AgentSpace;
struct PhysSpace;
struct DeviceSpace;
using AgentAddr = Address<AgentSpace>;      // in the agent's own mapping of device memory
using PhysAddr = Address<PhysSpace>;        // a device byte's physical address
using DeviceOffset = Address<DeviceSpace>;  // a byte's offset in its device: its BAR, file or UIO map

// Where the agent's mapping puts the byte: memory the agent may access.
inline uint8_t* host_pointer(AgentAddr a) { return reinterpret_cast<uint8_t*>(a.value()); }

}  // namespace mmiotrace
