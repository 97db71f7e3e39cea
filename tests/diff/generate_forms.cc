// The differential tester's generators, one per operand layout (rows.h, Ops):
// each builds one random instruction of its row, its operand placed and
// addressed by generate.cc's helpers, and the model of its accesses.
#include <algorithm>
#include <cstring>

#include "diff/generate_internal.h"
#include "diff/native.h"
#include "diff/rows.h"
#include "emu/cpu_state.h"

namespace mmiotrace::difftest::gen {

// ============================================================================
// Generators, one per operand layout.
// ============================================================================

// GPR_MEM, IMM_MEM, MEM.
bool gen_modrm(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  Build b;
  b.req.enc = Enc::LEGACY;
  b.req.map = row.map;
  b.req.opcode = v.opcode;
  if (row.special == Special::CC) b.req.opcode = static_cast<uint8_t>(v.opcode + r.below(16));
  uint32_t avoid = (row.opts & kOptNoRspAddr) ? 1u << 4 : 0;
  if (row.ops == Ops::GPR_MEM) {
    b.req.reg = static_cast<unsigned>(r.below(16));
  } else {
    b.req.reg = static_cast<unsigned>(row.digit);
  }
  if (row.special == Special::BT_REG) avoid |= 1u << b.req.reg;
  gpr_size_prefixes(r, row, v.opsize, b);
  const bool lock_prefix = (row.opts & kOptLockAlways) || ((row.opts & kOptLock) && r.chance(1, 2));
  if (lock_prefix) b.prefix(0xf0);
  const bool locked = lock_prefix || row.atomic;
  if ((row.opts & kOptRepIgnored) && r.chance(1, 16)) b.prefix(r.chance(1, 2) ? 0xf2 : 0xf3);
  if (row.imm == 1) {
    b.req.imm_size = 1;
  } else if (row.imm == 4) {
    b.req.imm_size = v.opsize == 1 ? 1 : v.opsize == 2 ? 2 : 4;
  }
  b.req.imm = random_value(r);

  uint64_t t = 0;  // linear address of the memory operand
  switch (row.special) {
    case Special::PREFETCH: {
      t = pick_any_address(r, env, inst);
      const bool far = t < env.lo - kPage || t >= env.hi + kPage;
      place_operand(r, env, row, inst, b, t, avoid, far, 1);
      break;
    }
    case Special::BT_REG: {
      // The access is at ea + (offset SAR log2(bits)) * size, with the offset
      // the register sign-extended from the operand size.
      const unsigned bits = v.opsize * 8u;
      const int64_t offset = r.range(-8 * 300, 8 * 300);
      const int64_t shift = offset >= 0 ? offset / bits : -((-offset + bits - 1) / bits);
      const uint64_t access = pick_target(r, env, v.memsize, 0, inst);
      t = access - static_cast<uint64_t>(shift * v.opsize);
      const uint64_t low_mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      inst.gpr[b.req.reg] = (random_value(r) & ~low_mask) | (static_cast<uint64_t>(offset) & low_mask);
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      expect_rw(inst, row.mem, access, v.memsize, locked);
      break;
    }
    case Special::PUSH:
    case Special::POP: {
      t = pick_target(r, env, v.memsize, 0, inst);
      const char* placement = inst.placement;
      const uint64_t slot = pick_target(r, env, v.memsize, 0, inst);
      if (std::strcmp(inst.placement, "normal") == 0) inst.placement = placement;
      inst.gpr[4] = row.special == Special::PUSH ? slot + v.memsize : slot;
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      if (row.special == Special::PUSH) {
        inst.expected.push_back({AccessKind::READ, t, v.memsize, 0});
        inst.expected.push_back({AccessKind::WRITE, slot, v.memsize, 0});
      } else {
        inst.expected.push_back({AccessKind::READ, slot, v.memsize, 0});
        inst.expected.push_back({AccessKind::WRITE, t, v.memsize, 0});
      }
      break;
    }
    default:
      t = pick_target(r, env, v.memsize, row.aligned ? v.memsize : 0, inst);
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      expect_rw(inst, row.mem, t, v.memsize, locked);
      break;
  }
  return finish(r, b, inst);
}

// MOV with moffs (A0-A3).
bool gen_moffs(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  Build b;
  gpr_size_prefixes(r, row, v.opsize, b);
  const uint64_t t = pick_target(r, env, v.memsize, 0, inst);
  b.addr32 = r.chance(1, 8);
  const uint64_t moffs = choose_segment(r, env, row, inst, b, t, true);
  if (b.addr32) b.prefix(0x67);
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  unsigned n = 0;
  for (unsigned i = 0; i < b.npre; ++i) inst.code[n++] = b.pre[i];
  if (b.req.rex_w || b.req.force_rex) inst.code[n++] = b.req.rex_w ? 0x48 : 0x40;
  inst.code[n++] = v.opcode;
  for (unsigned i = 0; i < (b.addr32 ? 4u : 8u); ++i) inst.code[n++] = static_cast<uint8_t>(moffs >> (8 * i));
  if (n > 15) return false;
  inst.len = n;
  expect_rw(inst, row.mem, t, v.memsize);
  return true;
}

// MOVS, STOS, LODS, CMPS, SCAS, with or without REP/REPE/REPNE.
bool gen_string(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  const unsigned w = v.memsize;
  const uint8_t op = v.opcode & 0xfe;
  const bool reads_src = op == 0xa4 || op == 0xac || op == 0xa6;  // DS:RSI (overridable)
  const bool uses_dst = op != 0xac;                               // ES:RDI
  Build b;
  gpr_size_prefixes(r, row, v.opsize, b);
  uint8_t rep = 0;
  if (row.expect_refused) {
    rep = 0xf2;
  } else if (row.opts & kOptRepCond) {
    const unsigned k = static_cast<unsigned>(r.below(3));
    rep = k == 0 ? 0xf3 : k == 1 ? 0xf2 : 0;
  } else if ((row.opts & kOptRep) && r.chance(1, 2)) {
    rep = 0xf3;
  }
  if (rep != 0) b.prefix(rep);
  b.addr32 = (row.opts & kOptAddr32) && r.chance(1, 8);
  const uint64_t amask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  const bool down = (inst.rflags & emu::kFlagDF) != 0;

  uint64_t count = 1;
  if (rep != 0) {
    const unsigned k = static_cast<unsigned>(r.below(20));
    count = k == 0 ? 0 : k < 13 ? 1 + r.below(16) : 17 + r.below(284);
    inst.gpr[1] = b.addr32 ? ((r.next() << 32) | count) : count;
    if (r.chance(1, 4)) inst.rep_chunk = 1 + static_cast<unsigned>(r.below(8));
  }
  const uint64_t span = count * w;
  // First element's address so that all `count` elements lie in [lo, hi);
  // sometimes (guard) so that the walk runs into a guard page.
  const auto pick_start = [&](bool allow_guard) -> uint64_t {
    if (count == 0) {
      inst.placement = "count 0";
      return env.region + r.below(kRegionBytes);  // anywhere, guard pages included: no access
    }
    if (allow_guard && r.chance(1, 20)) {
      inst.placement = "guard";
      const uint64_t past = 1 + r.below(std::min<uint64_t>(count, 4));  // elements that fall in a guard page
      // The elements from index count - past on lie in a guard page.
      if (down) return env.lo - w + (count - past) * w;
      return env.hi - (count - past) * w;
    }
    if (span + w < kPage && r.chance(1, 5)) {
      inst.placement = "straddle";  // the walk crosses the A/B page boundary
      const uint64_t mid = env.lo + kPage;
      const uint64_t first = mid - w * (1 + r.below(count));
      const uint64_t start = down ? first + span - w : first;
      if (start >= env.lo && start + w <= env.hi) return start;
    }
    inst.placement = "normal";
    const uint64_t low = env.lo + r.below(2 * kPage - span + 1);  // lowest byte of the walk
    return down ? low + span - w : low;
  };
  uint64_t dst = uses_dst ? pick_start(true) : 0;
  const char* placement = inst.placement;
  uint64_t src = 0;
  if (reads_src) {
    if (op == 0xa4 && uses_dst && count != 0 && r.chance(1, 4)) {
      // Overlapping source and destination (memmove's hard case).
      const int64_t delta = r.range(-64, 64);
      src = dst + static_cast<uint64_t>(delta);
      const uint64_t low = down ? src - (span - w) : src;
      if (low < env.lo || low + span > env.hi)
        src = pick_start(false);
      else
        inst.placement = "overlap";
    } else {
      src = pick_start(true);
    }
    if (std::strcmp(placement, "normal") != 0 && uses_dst) inst.placement = placement;
  }
  if (uses_dst) inst.gpr[7] = b.addr32 ? ((r.next() << 32) | dst) : dst;
  uint64_t src_base = 0;
  if (reads_src || (row.opts & kOptSeg)) {
    // The segment override applies to the source only; on STOS/SCAS it is ignored.
    const uint64_t ea = choose_segment(r, env, row, inst, b, reads_src ? src : env.lo, true);
    if (reads_src) {
      src_base = src - ea;
      if (b.addr32 && (ea < span + 64 || ea + span + 64 > 0xffffffffull)) {
        return false;  // would wrap at 4 GiB: not what this test is about
      }
      inst.gpr[6] = b.addr32 ? ((r.next() << 32) | ea) : ea;
    } else if (inst.set_gs) {
      inst.set_gs = false;  // the override is ignored; no need to set a GS base
      inst.gs_base = 0;
    }
  }
  if (b.addr32) b.prefix(0x67);
  inst.a32_rep = b.addr32 && rep != 0;

  // CMPS/SCAS: make runs of equal elements so that REPE goes on for a while,
  // and plant an equal element for REPNE to stop at.
  if ((op == 0xa6 || op == 0xae) && count > 1) {
    const uint64_t run = r.below(count + 1);
    const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
    for (uint64_t i = 0; i < count; ++i) {
      const bool equal = rep == 0xf3 ? i < run : i == run;
      if (!equal) continue;
      const uint64_t d = dst + static_cast<uint64_t>(step * static_cast<int64_t>(i));
      if (d < env.lo || d + w > env.hi) break;
      if (op == 0xa6) {
        const uint64_t s = src + static_cast<uint64_t>(step * static_cast<int64_t>(i));
        if (s < env.lo || s + w > env.hi) break;
        std::memmove(mem_at(env, inst, d), mem_at(env, inst, s), w);
      } else {
        std::memcpy(mem_at(env, inst, d), &inst.gpr[0], w);
      }
    }
  }

  // Encode.
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  unsigned n = 0;
  for (unsigned i = 0; i < b.npre; ++i) inst.code[n++] = b.pre[i];
  if (b.req.rex_w || b.req.force_rex) inst.code[n++] = b.req.rex_w ? 0x48 : 0x40;
  inst.code[n++] = v.opcode;
  inst.len = n;

  // Model: element by element; CMPS/SCAS stop on the REPE/REPNE condition.
  const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
  uint64_t si = src - src_base;  // the offset in RSI/ESI
  uint64_t di = dst;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t s = src_base + (si & amask);
    const uint64_t d = di & amask;
    uint64_t a = 0, c = 0;
    switch (op) {
      case 0xa4:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        inst.expected.push_back({AccessKind::WRITE, d, w, 0});
        break;
      case 0xaa:
        inst.expected.push_back({AccessKind::WRITE, d, w, 0});
        break;
      case 0xac:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        break;
      case 0xa6:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        inst.expected.push_back({AccessKind::READ, d, w, 0});
        if (s < env.lo || s + w > env.hi || d < env.lo || d + w > env.hi) break;
        std::memcpy(&a, mem_at(env, inst, s), w);
        std::memcpy(&c, mem_at(env, inst, d), w);
        break;
      case 0xae:
        inst.expected.push_back({AccessKind::READ, d, w, 0});
        if (d < env.lo || d + w > env.hi) break;
        std::memcpy(&a, &inst.gpr[0], w);
        std::memcpy(&c, mem_at(env, inst, d), w);
        break;
      default:
        break;
    }
    si += static_cast<uint64_t>(step);
    di += static_cast<uint64_t>(step);
    if (op == 0xa6 || op == 0xae) {
      if (rep == 0xf3 && a != c) break;
      if (rep == 0xf2 && a == c) break;
    }
  }
  return true;
}

// Byte mask of the elements selected by opmask `k` (bit i = byte i).
uint64_t byte_mask(uint64_t k, unsigned elem, unsigned bytes) {
  uint64_t m = 0;
  for (unsigned e = 0; e < bytes / elem; ++e) {
    if ((k >> e) & 1) m |= (elem == 8 ? 0xffull : (uint64_t{1} << elem) - 1) << (e * elem);
  }
  return m;
}

// Vector moves: legacy SSE, VEX, EVEX.
bool gen_vector(Rng& r, const Env& env, const Row& row, Instance& inst) {
  unsigned lls[3];
  unsigned nll = 0;
  for (unsigned ll = 0; ll < 3; ++ll) {
    if ((row.vls >> ll) & 1) lls[nll++] = ll;
  }
  const unsigned ll = lls[r.below(nll)];
  const unsigned vl = 16u << ll;
  const unsigned size = row.vmem != 0 ? row.vmem : vl;
  const unsigned align = row.aligned ? (row.enc == Enc::LEGACY ? 16 : size) : 0;
  Build b;
  b.req.enc = row.enc;
  b.req.map = row.map;
  b.req.opcode = row.vopcode;
  b.req.pp = row.pp;
  b.req.ll = static_cast<uint8_t>(ll);
  b.req.w = static_cast<uint8_t>(row.w == kWig ? r.below(2) : row.w);
  b.req.reg = static_cast<unsigned>(r.below(row.enc == Enc::EVEX ? 32 : 16));
  b.req.vex3 = r.chance(1, 4);
  b.req.disp8_n = size;  // full-vector moves: N = VL; MOVD/MOVQ (tuple1 scalar): N = 4 or 8
  if (row.enc == Enc::LEGACY) {
    b.req.rex_w = row.w == 1;
    if ((row.opts & kOptRex) && r.chance(1, 8)) b.req.force_rex = true;
  }
  if (row.enc == Enc::EVEX && row.mask_elem != 0 && !r.chance(1, 4)) {
    b.req.aaa = static_cast<uint8_t>(1 + r.below(7));
    b.req.z = !row.store && r.chance(1, 2);
  }
  const uint64_t t = pick_target(r, env, size, align, inst);
  place_operand(r, env, row, inst, b, t, 0, false, row.enc == Enc::EVEX ? size : 1);
  // Model. Unmasked, or every element selected: one plain access; some
  // selected: one masked access; none: no access (emulated-instructions.md, 4).
  const AccessKind plain = row.store ? AccessKind::WRITE : AccessKind::READ;
  const AccessKind masked = row.store ? AccessKind::WRITE_MASKED : AccessKind::READ_MASKED;
  if (row.special == Special::REPLICATE && b.req.aaa != 0 && row.dup != 0) {
    // MOVDDUP/MOVSLDUP/MOVSHDUP: the whole operand whatever the mask (the CPU
    // faults on it even when the opmask selects no element).
    inst.expected.push_back({plain, t, size, 0});
  } else if (row.special == Special::REPLICATE && b.req.aaa != 0) {
    // Broadcasts under an opmask: the memory
    // elements some selected destination element takes (the CPU suppresses
    // faults on the others); all: one plain read, some: one masked read.
    const uint64_t k = emu::XsaveArea(inst.xsave, env.xfeatures).read_opmask(b.req.aaa);
    const unsigned elem = row.mask_elem;
    uint64_t need = 0;
    for (unsigned e = 0; e < vl / elem; ++e) {
      if (!((k >> e) & 1)) continue;
      // Memory element e modulo the operand's elements.
      const uint64_t ones = elem == 8 ? 0xffull : (uint64_t{1} << elem) - 1;
      need |= ones << ((e % (size / elem)) * elem);
    }
    const uint64_t all = size == 64 ? ~uint64_t{0} : (uint64_t{1} << size) - 1;
    if (need == all) {
      inst.expected.push_back({plain, t, size, 0});
    } else if (need != 0) {
      inst.expected.push_back({AccessKind::READ_MASKED, t, size, need});
    }
  } else if (b.req.aaa == 0) {
    inst.expected.push_back({plain, t, size, 0});
  } else {
    const emu::XsaveArea x(inst.xsave, env.xfeatures);
    const uint64_t bm = byte_mask(x.read_opmask(b.req.aaa), row.mask_elem, size);
    const uint64_t all = size == 64 ? ~uint64_t{0} : (uint64_t{1} << size) - 1;
    if (bm == all) {
      inst.expected.push_back({plain, t, size, 0});
    } else if (bm != 0) {
      inst.expected.push_back({masked, t, size, bm});
    }
  }
  return finish(r, b, inst);
}

}  // namespace mmiotrace::difftest::gen
