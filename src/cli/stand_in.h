// record --device GLOB[,KEY=VALUE]...: a stand-in device, and the identity of
// the device it stands in for, so that its trace decodes like the real
// device's (a MAP line at the BAR's address, a PCIDEV line; docs/record.md,
// "Stand-in devices"). Keys: phys=ADDR (the physical address of the file's
// first byte), pci=VENDOR:DEVICE, bar=N, size=BYTES, slot=[DOMAIN:]BUS:DEV.FN.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "trace/channel.h"

namespace mmiotrace::cli {

struct StandIn {
  std::string glob;
  trace::StandInIdentity id{};
  bool has_size = false;  // size= given (else taken from the file by complete_stand_ins)
  bool has_slot = false;  // slot= given (else chosen by complete_stand_ins)
};

// A whole number: decimal, or hex with 0x; with `units`, K, M or G (KiB,
// MiB, GiB) may follow.
bool parse_number(const std::string& s, uint64_t* out, bool units = false);
// "[DOMAIN:]BUS:DEV.FN", hex as lspci writes it, as a busdevfn:
// (domain << 16) | (bus << 8) | (dev << 3) | fn.
bool parse_slot(const std::string& s, uint32_t* out);

// One --device argument. The identity is what follows the first comma after
// which every comma-separated item is KEY=VALUE with a known key; without
// one, the whole argument is the glob (a path may contain commas).
Result<StandIn> parse_stand_in(const std::string& arg);

// Checks the stand-ins together (globs already canonical) and fills in what
// was left out: a BAR's size from its file (rounded up to a power of two),
// and a slot 0000:00:NN.0 for each device given without one (stand-ins with
// the same pci= and no slot= are BARs of one device). Refuses what no real
// device looks like: pci= without phys=, a size that is not a power of two of
// at least 16, a BAR address not a multiple of its size, two BARs of one
// device with the same number or overlapping, one slot with two identities.
Result<void> complete_stand_ins(std::vector<StandIn>& stand_ins);

}  // namespace mmiotrace::cli
