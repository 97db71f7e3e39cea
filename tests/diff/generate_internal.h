// Internal to the differential tester's instance generator (rows.h,
// generate()): its random numbers, the instruction under construction, and the
// helpers that generate.cc (state, operand placement, encoding) gives the
// per-layout generators of generate_forms.cc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "diff/encoder.h"
#include "diff/rows.h"

namespace mmiotrace::difftest::gen {

// Random numbers: splitmix64, fully determined by the instance seed.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(unsigned num, unsigned den) { return below(den) < num; }
  int64_t range(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
};

// An instruction under construction.
struct Build {
  EncodeRequest req;
  uint8_t pre[8] = {};  // legacy prefixes other than the mandatory one, shuffled at the end
  unsigned npre = 0;
  bool rip = false;     // RIP-relative: the displacement is fixed once the length is known
  uint64_t rip_ea = 0;  // the effective address it must produce
  bool addr32 = false;
  void prefix(uint8_t p) {
    if (npre < sizeof pre) pre[npre++] = p;
  }
};

// ---- generate.cc

// Where linear address `a` of the test region is in the instance's copy of it.
uint8_t* mem_at(const Env& env, Instance& inst, uint64_t a);
// Register values: mostly random, often small, boundary or sign-interesting.
uint64_t random_value(Rng& r);
// A linear address for an access of `size` bytes: usually inside pages A-B;
// sometimes straddling the A/B boundary (unaligned forms), misaligned
// (aligned forms: #GP), or reaching into a guard page (#PF).
uint64_t pick_target(Rng& r, const Env& env, unsigned size, unsigned align, Instance& inst);
// Any address at all, for prefetches.
uint64_t pick_any_address(Rng& r, const Env& env, Instance& inst);
// Segment choice for an operand at linear address t; returns the effective address.
uint64_t choose_segment(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, bool ea_free);
// Addresses linear address `t` with a ModRM memory operand (base/index registers not in `avoid`).
void place_operand(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, uint32_t avoid,
                   bool far, unsigned disp8_n);
// Shuffles the optional prefixes, encodes, and settles a RIP-relative displacement.
bool finish(Rng& r, Build& b, Instance& inst);
// Operand-size prefixes of a GPR form; the redundant ones with kOptRex.
void gpr_size_prefixes(Rng& r, const Row& row, unsigned opsize, Build& b);
// The model of the accesses: a read and/or a write of `size` bytes at `t` (one RMW if `locked`).
void expect_rw(Instance& inst, MemUse use, uint64_t t, unsigned size, bool locked = false);

// ---- generate_forms.cc: one generator per operand layout (Ops); false: draw again.
bool gen_modrm(Rng& r, const Env& env, const Row& row, Instance& inst);   // GPR_MEM, IMM_MEM, MEM
bool gen_moffs(Rng& r, const Env& env, const Row& row, Instance& inst);   // MOFFS
bool gen_string(Rng& r, const Env& env, const Row& row, Instance& inst);  // STRING
bool gen_vector(Rng& r, const Env& env, const Row& row, Instance& inst);  // VEC_MEM

}  // namespace mmiotrace::difftest::gen
