// What changed between two values of a register, as a person says it: its
// fields by name ("LU set", "SPEED=1000") when a register map describes it,
// else its bits ("bit 4 set"), else both values when many bits changed.
// `stats` says what a polling loop waited for with it, `diff` how the same
// access differs between two traces.
#pragma once

#include <cstdint>
#include <string>

#include "analysis/regmap.h"

namespace mmiotrace::analysis {

// `reg` may be null (no map); `first_byte` is where the values start in the
// register (fields are named only for values that start at its byte 0).
std::string describe_change(const Register* reg, int variant, unsigned first_byte, uint64_t from, uint64_t to);

}  // namespace mmiotrace::analysis
