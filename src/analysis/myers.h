// The shortest edit script between two sequences of tokens (Myers, "An O(ND)
// Difference Algorithm and Its Variations", 1986): the bisecting variant,
// which needs memory linear in the sequences' lengths; time O((N+M) D) for D
// differences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mmiotrace::analysis {

struct Edit {
  enum class Kind : uint8_t { EQUAL, DELETE, INSERT };
  Kind kind = Kind::EQUAL;
  size_t a = 0;  // first element in A (EQUAL, DELETE) or where B's are inserted (INSERT)
  size_t b = 0;  // first element in B (EQUAL, INSERT) or where A's were deleted (DELETE)
  size_t n = 0;  // elements
};

// The edits that turn `a` into `b`, in order, adjacent edits of one kind merged.
std::vector<Edit> myers_diff(std::span<const uint32_t> a, std::span<const uint32_t> b);

}  // namespace mmiotrace::analysis
