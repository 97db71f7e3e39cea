// The differential tester's instance generator (rows.h, generate()): the
// random state of an instance (registers, flags, vector state, memory), where
// its operand goes and how it is addressed, and the encoding; the generators
// of each operand layout are in generate_forms.cc.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "diff/generate_internal.h"
#include "diff/native.h"
#include "diff/rows.h"
#include "emu/cpu_state.h"
#include "emu/xsave_area.h"

namespace mmiotrace::difftest {
namespace gen {

// ============================================================================
// Random state.
// ============================================================================

// Register values: mostly random, often small, boundary or sign-interesting.
uint64_t random_value(Rng& r) {
  switch (r.below(8)) {
    case 0:
      return r.below(256);
    case 1:
      return ~uint64_t{0} - r.below(4);
    case 2:
      return uint64_t{1} << r.below(64);
    case 3:
      return r.next() & 0xffffffffu;
    case 4:
      return 0x80000000u + r.below(5) - 2;
    default:
      return r.next();
  }
}

uint64_t random_opmask(Rng& r) {
  switch (r.below(6)) {
    case 0:
      return 0;
    case 1:
      return ~uint64_t{0};
    case 2:
      return r.next() & 0xff;
    case 3:
      return r.next() & 0xffff;
    case 4:
      return uint64_t{1} << r.below(64);
    default:
      return r.next();
  }
}

void fill_random(Rng& r, uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = r.next();
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(r.next());
}

constexpr uint32_t kXstateBvOffset = 512;

// Random XMM/YMM/ZMM 0-31 and k0-k7, and a random XSTATE_BV: a component
// whose bit is clear is in its initial state (zeros) and its bytes, left
// random here, must not be used.
void random_vector_state(Rng& r, const Env& env, const uint8_t* tmpl, uint8_t* xs) {
  const emu::XsaveLayout& l = emu::XsaveLayout::host();
  std::memcpy(xs, tmpl, xsave_buffer_size());
  fill_random(r, xs + 160, 256);  // XMM0-15 in the legacy region
  for (unsigned c : {2u, 6u, 7u}) {
    if ((env.xfeatures >> c) & 1) fill_random(r, xs + l.offset[c], l.size[c]);
  }
  if ((env.xfeatures >> 5) & 1) {
    for (unsigned k = 0; k < 8; ++k) {
      const uint64_t v = random_opmask(r);
      std::memcpy(xs + l.offset[5] + 8 * k, &v, 8);
    }
  }
  uint64_t bv = 0;
  std::memcpy(&bv, tmpl + kXstateBvOffset, 8);
  bv &= 1;  // x87 as captured
  for (unsigned c : {1u, 2u, 5u, 6u, 7u}) {
    if (((env.xfeatures >> c) & 1) && !r.chance(1, 8)) bv |= uint64_t{1} << c;
  }
  std::memcpy(xs + kXstateBvOffset, &bv, 8);
}

// ============================================================================
// Operand placement.
// ============================================================================

uint8_t* mem_at(const Env& env, Instance& inst, uint64_t a) { return inst.mem + (a - env.region); }

// A linear address for an access of `size` bytes: usually inside pages A-B;
// sometimes straddling the A/B boundary (unaligned forms), misaligned
// (aligned forms: #GP), or reaching into a guard page (#PF).
uint64_t pick_target(Rng& r, const Env& env, unsigned size, unsigned align, Instance& inst) {
  const unsigned k = static_cast<unsigned>(r.below(100));
  const uint64_t mid = env.lo + kPage;
  if (k < 4) {
    inst.placement = "guard";
    const bool straddle = size > 1 && r.chance(1, 2);
    uint64_t t = 0;
    if (r.chance(1, 2)) {
      t = straddle ? env.lo - 1 - r.below(size - 1) : env.lo - size - r.below(kPage - size + 1);
    } else {
      t = straddle ? env.hi - 1 - r.below(size - 1) : env.hi + r.below(kPage - size + 1);
    }
    if (align != 0) t &= ~uint64_t{align - 1};
    return t;
  }
  if (align > 1 && k < 8) {
    inst.placement = "misaligned";
    const uint64_t t = (env.lo + r.below(2 * kPage - 2 * align)) & ~uint64_t{align - 1};
    return t + 1 + r.below(align - 1);
  }
  if (align == 0 && size > 1 && k < 20) {
    inst.placement = "straddle";
    return mid - 1 - r.below(size - 1);
  }
  inst.placement = "normal";
  uint64_t t = env.lo + r.below(2 * kPage - size + 1);
  if (align != 0) t &= ~uint64_t{align - 1};
  return t;
}

// Any address at all, for prefetches: in the region, in a guard page,
// unmapped user space, the kernel half, or non-canonical.
uint64_t pick_any_address(Rng& r, const Env& env, Instance& inst) {
  switch (r.below(5)) {
    case 0:
      inst.placement = "guard";
      return env.region + (r.chance(1, 2) ? 0 : 3 * kPage) + r.below(kPage);
    case 1:
      inst.placement = "user";
      return r.next() & ((uint64_t{1} << 47) - 1);
    case 2:
      inst.placement = "kernel";
      return 0xffff800000000000ull | r.next();
    case 3:
      inst.placement = "non-canonical";
      return (r.next() & 0x00007fffffffffffull) | 0x0008000000000000ull;
    default:
      inst.placement = "normal";
      return env.lo + r.below(2 * kPage);
  }
}

constexpr uint8_t kIgnoredSegments[4] = {0x2e, 0x3e, 0x26, 0x36};  // CS, DS, ES, SS

uint64_t inverse_odd(uint64_t a) {  // a^-1 mod 2^64, a odd (Newton's iteration)
  uint64_t x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}

// Segment choice for an operand at linear address t. Sets inst.gs_base when
// GS is chosen; returns the effective address (what base + index*scale + disp
// must produce, already truncated to the address size).
uint64_t choose_segment(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, bool ea_free) {
  // ea_free: the effective address can be any 64-bit value (registers provide it).
  int seg = 0;  // 0 none, 1 FS, 2 GS, 3 ignored
  if (row.opts & kOptSeg) {
    const unsigned k = static_cast<unsigned>(r.below(16));
    seg = k < 2 ? 1 : k < 4 ? 2 : k == 4 ? 3 : 0;
  }
  if (seg == 1 && (!ea_free || b.addr32)) seg = 2;  // FS base is high: only a 64-bit free EA reaches t
  const uint64_t mask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  switch (seg) {
    case 1:
      b.prefix(0x64);
      return (t - env.fs_base) & mask;
    case 2: {
      b.prefix(0x65);
      uint64_t ea = 0;
      if (ea_free && !b.addr32) {
        inst.gs_base = r.chance(1, 4) ? r.below(env.lo) : r.next() & ((uint64_t{1} << 46) - 1);
        ea = t - inst.gs_base;
      } else {
        ea = r.below(t + 1);  // the base must stay a user address: ea in [0, t]
        inst.gs_base = t - ea;
      }
      inst.set_gs = true;
      return ea & mask;
    }
    case 3:
      b.prefix(kIgnoredSegments[r.below(4)]);
      return t & mask;
    default:
      return t & mask;
  }
}

int pick_reg(Rng& r, uint32_t avoid, bool index) {
  for (;;) {
    const int x = static_cast<int>(r.below(16));
    if (index && x == 4) continue;
    if ((avoid >> x) & 1) continue;
    return x;
  }
}

// Addresses linear address `t` with a ModRM memory operand: chooses the
// addressing mode, 67h, the segment, the base/index registers (not in
// `avoid`) and their values, and the displacement. `far`: t may be any
// 64-bit address (only register-based modes can reach it).
void place_operand(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, uint32_t avoid,
                   bool far, unsigned disp8_n) {
  enum Mode { BASE, BASE_INDEX, INDEX, ABS, RIP };
  Mode mode = BASE;
  if (far) {
    mode = r.chance(1, 2) ? BASE : BASE_INDEX;
  } else {
    const unsigned k = static_cast<unsigned>(r.below(100));
    mode = k < 35 ? BASE : k < 65 ? BASE_INDEX : k < 73 ? INDEX : k < 80 ? ABS : RIP;
  }
  b.addr32 = !far && (row.opts & kOptAddr32) && r.chance(1, 8);
  const bool ea_free = mode == BASE || mode == BASE_INDEX || mode == INDEX;
  const uint64_t ea = choose_segment(r, env, row, inst, b, t, ea_free);
  if (b.addr32) b.prefix(0x67);
  const uint64_t mask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  const auto with_upper = [&](uint64_t v) {  // 67h: the upper halves are ignored; make them random
    return b.addr32 ? ((v & mask) | (r.next() << 32)) : v;
  };
  MemOperand& m = b.req.mem;
  m = MemOperand{};
  const auto choose_disp = [&](int base) {
    unsigned k = static_cast<unsigned>(r.below(3));
    if (k == 0 && (base & 7) == 5) k = 1;  // RBP/R13 need a displacement
    if (k == 0) {
      m.disp_size = 0;
      m.disp = 0;
    } else if (k == 1) {
      m.disp_size = 1;
      m.disp = static_cast<int64_t>(disp8_n) * r.range(-128, 127);
    } else {
      m.disp_size = 4;
      m.disp = r.chance(1, 2) ? r.range(-4096, 4096) : static_cast<int32_t>(r.next());
    }
  };
  switch (mode) {
    case BASE: {
      m.base = pick_reg(r, avoid, false);
      choose_disp(m.base);
      m.force_sib = r.chance(1, 8);
      inst.gpr[m.base] = with_upper(ea - static_cast<uint64_t>(m.disp));
      break;
    }
    case BASE_INDEX: {
      m.base = pick_reg(r, avoid, false);
      m.index = pick_reg(r, avoid, true);
      m.scale = 1u << r.below(4);
      choose_disp(m.base);
      const uint64_t rest = ea - static_cast<uint64_t>(m.disp);
      if (m.base == m.index) {
        if (m.scale == 1) m.scale = 2;  // value * (1 + scale): 1 + scale odd, so invertible mod 2^n
        inst.gpr[m.base] = with_upper(rest * inverse_odd(1 + m.scale));
      } else {
        const uint64_t index_value = r.chance(1, 2) ? static_cast<uint64_t>(r.range(-4096, 4096)) : random_value(r);
        inst.gpr[m.index] = with_upper(index_value);
        inst.gpr[m.base] = with_upper(rest - index_value * m.scale);
      }
      break;
    }
    case INDEX: {
      m.index = pick_reg(r, avoid, true);
      const unsigned shift = static_cast<unsigned>(r.below(4));
      m.scale = 1u << shift;
      m.disp_size = 4;
      int64_t disp = r.chance(1, 2) ? r.range(-4096, 4096) : static_cast<int32_t>(r.next());
      disp = (disp & ~static_cast<int64_t>(m.scale - 1)) | static_cast<int64_t>(ea & (m.scale - 1));
      m.disp = disp;
      uint64_t v = ((ea - static_cast<uint64_t>(disp)) & mask) >> shift;
      const unsigned bits = b.addr32 ? 32 : 64;
      if (shift != 0) v |= (r.next() << (bits - shift)) & mask;  // bits that scale shifts out
      inst.gpr[m.index] = with_upper(v);
      break;
    }
    case ABS:
      m.disp_size = 4;
      m.disp = static_cast<int64_t>(ea);  // t is below 2 GiB: a positive disp32
      break;
    case RIP:
      m.base = kRipReg;
      m.disp_size = 4;
      b.rip = true;
      b.rip_ea = ea;
      break;
  }
}

// Shuffles the optional prefixes, encodes, and settles a RIP-relative displacement.
bool finish(Rng& r, Build& b, Instance& inst) {
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  std::memcpy(b.req.prefixes, b.pre, b.npre);
  b.req.nprefixes = b.npre;
  unsigned len = encode(b.req, inst.code);
  if (len == 0) return false;
  if (b.rip) {
    const uint64_t next = inst.insn_addr + len;
    // EIP-relative with 67h: (next + disp) mod 2^32; both below 2 GiB, so the
    // difference fits a disp32 either way.
    b.req.mem.disp = static_cast<int64_t>(b.rip_ea - next);
    if (b.req.mem.disp < INT32_MIN || b.req.mem.disp > INT32_MAX) return false;
    if (encode(b.req, inst.code) != len) return false;
  }
  inst.len = len;
  return true;
}

// Operand-size prefixes of a GPR form; the redundant ones with kOptRex.
void gpr_size_prefixes(Rng& r, const Row& row, unsigned opsize, Build& b) {
  if (opsize == 2) b.prefix(0x66);
  if (opsize == 8) b.req.rex_w = true;
  if (row.opts & kOptRex) {
    if (r.chance(1, 8)) b.req.force_rex = true;
    if (opsize == 8 && r.chance(1, 16)) b.prefix(0x66);      // REX.W wins over 66
    if (opsize == 1 && r.chance(1, 16)) b.req.rex_w = true;  // ignored by byte forms
  } else if (opsize == 1 && r.chance(1, 4)) {
    b.req.force_rex = true;  // SPL-DIL instead of AH-BH
  }
}

void expect_rw(Instance& inst, MemUse use, uint64_t t, unsigned size, bool locked) {
  if (locked && (use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE)) {
    inst.expected.push_back({AccessKind::RMW, t, size, 0});
    return;
  }
  if (use == MemUse::READ || use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE) {
    inst.expected.push_back({AccessKind::READ, t, size, 0});
  }
  if (use == MemUse::WRITE || use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE) {
    inst.expected.push_back({AccessKind::WRITE, t, size, 0});
  }
}

}  // namespace gen

void generate(uint64_t seed, const std::vector<const Row*>& rows, const Env& env, Instance& inst) {
  using namespace gen;
  Rng r(seed);
  inst.seed = seed;
  inst.row = rows[r.below(rows.size())];
  const Row& row = *inst.row;
  // Common state: registers, flags, vector state, memory.
  for (uint64_t& g : inst.gpr) g = random_value(r);
  inst.rflags =
      0x202 | (r.next() & (emu::kFlagCF | emu::kFlagPF | emu::kFlagAF | emu::kFlagZF | emu::kFlagSF | emu::kFlagOF));
  if (r.chance(1, 4)) inst.rflags |= emu::kFlagDF;
  random_vector_state(r, env, env.xsave_template, inst.xsave);
  fill_random(r, inst.mem + kPage, 2 * kPage);
  // The instruction; a combination that cannot be encoded is drawn again.
  const uint64_t saved_gpr[16] = {inst.gpr[0],  inst.gpr[1],  inst.gpr[2],  inst.gpr[3], inst.gpr[4],  inst.gpr[5],
                                  inst.gpr[6],  inst.gpr[7],  inst.gpr[8],  inst.gpr[9], inst.gpr[10], inst.gpr[11],
                                  inst.gpr[12], inst.gpr[13], inst.gpr[14], inst.gpr[15]};
  for (int attempt = 0;; ++attempt) {
    std::memcpy(inst.gpr, saved_gpr, sizeof saved_gpr);
    inst.expected.clear();
    inst.set_gs = false;
    inst.gs_base = 0;
    inst.rep_chunk = 0;
    inst.a32_rep = false;
    inst.len = 0;
    inst.placement = "";
    inst.insn_addr = env.code_page + r.below(kPage - 15 - NativeRunner::kExitJumpBytes);
    bool ok = false;
    switch (row.ops) {
      case Ops::GPR_MEM:
      case Ops::IMM_MEM:
      case Ops::MEM:
        ok = gen_modrm(r, env, row, inst);
        break;
      case Ops::MOFFS:
        ok = gen_moffs(r, env, row, inst);
        break;
      case Ops::STRING:
        ok = gen_string(r, env, row, inst);
        break;
      case Ops::VEC_MEM:
        ok = gen_vector(r, env, row, inst);
        break;
    }
    if (ok) return;
    if (attempt == 100) {
      std::fprintf(stderr, "generator: row '%s' cannot produce an instance (seed 0x%llx)\n", row.name,
                   static_cast<unsigned long long>(seed));
      std::abort();
    }
  }
}

}  // namespace mmiotrace::difftest
