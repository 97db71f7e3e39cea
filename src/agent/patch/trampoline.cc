// Async-signal-safe: pure computation into caller buffers (and emu::relocate,
// which is too).
#include "agent/patch/trampoline.h"

#include <cpuid.h>

#include <cstring>
#include <initializer_list>

#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

constexpr int kRax = 0, kRcx = 1, kRdx = 2, kRbx = 3, kRsp = 4, kRbp = 5, kRsi = 6, kRdi = 7;
// Bytes between the frame and the program's RSP: 16 registers, RFLAGS, the red zone.
constexpr int64_t kFrameToRsp = 17 * 8 + 128;
// A LOAD/STORE site's frame: only the registers a C function may clobber
// (frame[i] is kCallerSaved[i]), RFLAGS, the red zone. The others are
// untouched by the call and stay live in their registers.
constexpr int kCallerSaved[] = {kRax, kRcx, kRdx, kRsi, kRdi, 8, 9, 10, 11};
constexpr int kCallerSavedCount = static_cast<int>(sizeof kCallerSaved / sizeof kCallerSaved[0]);
constexpr int64_t kAccessFrameToRsp = (kCallerSavedCount + 1) * 8 + 128;
// The saved RFLAGS' two low bytes in a LOAD/STORE frame (frame[9]).
constexpr uint8_t kFlagsByte0 = kCallerSavedCount * 8;
constexpr uint8_t kFlagsByte1 = kCallerSavedCount * 8 + 1;

// LAHF/SAHF in 64-bit mode (CPUID 8000_0001h ECX bit 0; missing only on the
// first x86-64 CPUs).
bool has_sahf() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(0x80000001u, &a, &b, &c, &d) != 0 && (c & 1u) != 0;
}
// The slot of register `r` in a LOAD/STORE frame, or -1 if it is not saved.
int access_slot(int r) {
  for (int i = 0; i < kCallerSavedCount; ++i) {
    if (kCallerSaved[i] == r) return i;
  }
  return -1;
}

// x86-64 machine code into a fixed buffer; `at` is where out[0] will run.
class Emitter {
 public:
  Emitter(uint64_t at, uint8_t* out) : at_(at), out_(out) {}

  void b(uint8_t v) {
    if (n_ < kMaxTrampoline) {
      out_[n_++] = v;
    } else {
      ok_ = false;
    }
  }
  void bytes(std::initializer_list<uint8_t> v) {
    for (uint8_t x : v) b(x);
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b(static_cast<uint8_t>(v >> (8 * i)));
  }
  void push(int r) {
    if (r >= 8) b(0x41);
    b(static_cast<uint8_t>(0x50 + (r & 7)));
  }
  void pop(int r) {
    if (r >= 8) b(0x41);
    b(static_cast<uint8_t>(0x58 + (r & 7)));
  }
  void movabs(int r, uint64_t v) {
    b(static_cast<uint8_t>(0x48 | (r >= 8 ? 1 : 0)));
    b(static_cast<uint8_t>(0xb8 + (r & 7)));
    u64(v);
  }
  // lea disp(base, index, scale), %rsi; base/index -1: none.
  void lea_rsi(int base, int index, unsigned scale, int32_t disp) {
    b(static_cast<uint8_t>(0x48 | (index >= 8 ? 2 : 0) | (base >= 8 ? 1 : 0)));
    b(0x8d);
    const unsigned ss = scale == 8 ? 3 : scale == 4 ? 2 : scale == 2 ? 1 : 0;
    const unsigned idx = index < 0 ? 4 : static_cast<unsigned>(index & 7);
    if (base < 0) {
      b(0x34);                                          // mod 00, reg rsi, rm SIB
      b(static_cast<uint8_t>(ss << 6 | idx << 3 | 5));  // no base: disp32
    } else {
      b(0xb4);  // mod 10 (disp32), reg rsi, rm SIB
      b(static_cast<uint8_t>(ss << 6 | idx << 3 | (base & 7)));
    }
    u32(static_cast<uint32_t>(disp));
  }
  // jmp/jcc rel32 to an absolute target.
  void rel32_to(uint64_t target) {
    const int64_t rel = static_cast<int64_t>(target - (here() + 4));
    if (rel < INT32_MIN || rel > INT32_MAX) ok_ = false;
    u32(static_cast<uint32_t>(rel));
  }
  void jmp(uint64_t target) {
    b(0xe9);
    rel32_to(target);
  }
  // A LOAD/STORE frame back, RSP back over the red zone: the caller-saved
  // registers, and of the flags those the agent's code may have changed,
  // the arithmetic ones (OF by an ADD that overflows or not, then SF, ZF,
  // AF, PF and CF by SAHF from the saved image's low byte; POPFQ costs
  // ~20 ns here, a third of the goal). The others (TF, AC, ID, ...) are
  // left alone by that code. DF was cleared for the call: with DF set in the
  // saved flags it is the full POPFQ (`slow`, emitted by restore_access_slow;
  // the rel8 to it at *jnz_slow, to be patched). Without LAHF/SAHF in 64-bit
  // mode, always POPFQ (*jnz_slow is then ~0u).
  void restore_access_fast(bool sahf, unsigned* jnz_slow) {
    *jnz_slow = ~0u;
    if (!sahf) {
      restore_access_slow();
      return;
    }
    bytes({0xf6, 0x44, 0x24, kFlagsByte1, 0x04});  // testb $0x04,73(%rsp): DF (bit 10)
    b(0x75);                                       // jnz slow (rel8)
    *jnz_slow = n_;
    b(0);
    bytes({0x0f, 0xb6, 0x44, 0x24, kFlagsByte1});  // movzbl 73(%rsp),%eax: bits 8-15
    bytes({0xc1, 0xe8, 0x03});                     // shr $3,%eax: OF (bit 11) to bit 0
    bytes({0x83, 0xe0, 0x01});                     // and $1,%eax
    bytes({0x04, 0x7f});                           // add $0x7f,%al: OF = that bit
    bytes({0x8a, 0x64, 0x24, kFlagsByte0});        // mov 72(%rsp),%ah: SF ZF AF PF CF
    b(0x9e);                                       // sahf
    for (int r : kCallerSaved) pop(r);
    bytes({0x48, 0x8d, 0xa4, 0x24, 0x88, 0, 0, 0});  // lea 136(%rsp),%rsp: the flags' slot, the red zone
  }
  void restore_access_slow() {
    for (int r : kCallerSaved) pop(r);
    b(0x9d);                                         // popfq
    bytes({0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0});  // lea 128(%rsp),%rsp
  }
  // Points the rel8 at `at` (if any) to here.
  void land_rel8(unsigned at) {
    if (at == ~0u) return;
    if (at >= n_) {  // the jump itself did not fit
      ok_ = false;
      return;
    }
    const unsigned rel = n_ - (at + 1);
    if (rel > 127) ok_ = false;
    out_[at] = static_cast<uint8_t>(rel);
  }
  // The registers and flags back from the frame, RSP back over the red zone.
  void restore() {
    for (int r : {kRax, kRcx, kRdx, kRbx}) pop(r);
    bytes({0x48, 0x8d, 0x64, 0x24, 0x08});  // lea 8(%rsp),%rsp: RSP's slot
    for (int r = kRbp; r <= 15; ++r) pop(r);
    b(0x9d);                                         // popfq
    bytes({0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0});  // lea 128(%rsp),%rsp
  }
  uint64_t here() const { return at_ + n_; }
  unsigned size() const { return n_; }
  bool ok() const { return ok_; }
  uint8_t* at_offset(unsigned off) { return out_ + off; }

 private:
  uint64_t at_;
  uint8_t* out_;
  unsigned n_ = 0;
  bool ok_ = true;
};

// %rsi = the operand's address as the instruction would compute it, with
// `frame_to_rsp` bytes pushed below the program's RSP.
bool emit_address(Emitter& e, const SiteCode& s, int64_t frame_to_rsp) {
  const emu::PatchPlan& p = *s.plan;
  if (p.rip_relative) {
    e.movabs(kRsi, s.pc + s.insn_len + static_cast<uint64_t>(p.disp));
    return true;
  }
  if (p.base < 0 && p.index < 0) {
    e.movabs(kRsi, static_cast<uint64_t>(p.disp));  // absolute (moffs, or disp32 without base)
    return true;
  }
  int64_t disp = p.disp;
  if (p.base == kRsp) disp += frame_to_rsp;  // the program's RSP is above the frame
  if (disp < INT32_MIN || disp > INT32_MAX) return false;
  e.lea_rsi(p.base, p.index, p.scale, static_cast<int32_t>(disp));
  return true;
}

// The original instruction, relocated to run here (ordinary memory, or the
// fault path), then the jump back after the site; the trampoline ends there.
bool emit_copy_and_return(Emitter& e, const SiteCode& s, Built* built) {
  built->copy_offset = e.size();
  uint8_t copy[16];
  const size_t n = emu::relocate(s.insn, s.insn_len, s.pc, e.here(), copy, sizeof copy);
  if (n == 0) return false;
  for (size_t i = 0; i < n; ++i) e.b(copy[i]);
  built->copy_len = static_cast<unsigned>(n);
  e.jmp(s.pc + s.insn_len);
  built->size = e.size();
  return e.ok();
}

// A LOAD or STORE site: mt_patch_access(patch, address, register) returns
// {new register value, status} in RAX:RDX (trampoline.h).
bool build_access_site(const SiteCode& s, uint8_t* out, Built* built) {
  const emu::PatchPlan& p = *s.plan;
  const bool load = p.kind == emu::PatchKind::LOAD;
  if (p.reg > 15 || (load && p.reg == kRsp)) return false;
  Emitter e(s.at, out);
  e.bytes({0x48, 0x8d, 0x64, 0x24, 0x80});                                   // lea -128(%rsp),%rsp
  e.b(0x9c);                                                                 // pushfq
  for (int i = kCallerSavedCount - 1; i >= 0; --i) e.push(kCallerSaved[i]);  // frame[0] = RAX ... frame[8] = R11
  e.b(0xfc);                                                                 // cld: the ABI's direction flag
  if (!emit_address(e, s, kAccessFrameToRsp)) return false;
  // %rdx = the register's contents as they were (argument 3): from the
  // frame if saved there (RSI may hold the address by now), else live.
  const int reg = p.reg;
  const int slot = access_slot(reg);
  if (load || !p.has_imm) {
    if (reg == kRsp) {
      e.bytes({0x48, 0x8d, 0x94, 0x24});  // lea disp32(%rsp),%rdx: the program's RSP
      e.u32(static_cast<uint32_t>(kAccessFrameToRsp));
    } else if (slot >= 0) {
      e.bytes({0x48, 0x8b, 0x54, 0x24, static_cast<uint8_t>(slot * 8)});  // mov slot*8(%rsp),%rdx
    } else {
      e.b(static_cast<uint8_t>(0x48 | (reg >= 8 ? 4 : 0)));  // mov %reg,%rdx
      e.b(0x89);
      e.b(static_cast<uint8_t>(0xc0 | (reg & 7) << 3 | kRdx));
    }
  }
  e.bytes({0x48, 0x89, 0xe0});        // mov %rsp,%rax
  e.bytes({0x48, 0x83, 0xe4, 0xf0});  // and $-16,%rsp
  e.push(kRax);                       // the frame's address, twice: RSP stays 16-byte aligned
  e.push(kRax);
  e.movabs(kRdi, s.patch);
  e.movabs(kRax, s.entry_function);
  e.bytes({0xff, 0xd0});              // call *%rax
  e.bytes({0x48, 0x8b, 0x24, 0x24});  // mov (%rsp),%rsp: back to the frame
  e.bytes({0x85, 0xd2});              // test %edx,%edx
  e.bytes({0x0f, 0x85});              // jnz ordinary
  const unsigned jnz_at = e.size();
  e.u32(0);
  if (load) {
    if (slot >= 0) {
      e.bytes({0x48, 0x89, 0x44, 0x24, static_cast<uint8_t>(slot * 8)});  // mov %rax,slot*8(%rsp)
    } else {
      e.b(static_cast<uint8_t>(0x48 | (reg >= 8 ? 1 : 0)));  // mov %rax,%reg
      e.b(0x89);
      e.b(static_cast<uint8_t>(0xc0 | (reg & 7)));
    }
  }
  const bool sahf = has_sahf();
  unsigned to_slow = 0;
  e.restore_access_fast(sahf, &to_slow);
  e.jmp(s.pc + s.insn_len);
  if (to_slow != ~0u) {
    e.land_rel8(to_slow);
    e.restore_access_slow();
    e.jmp(s.pc + s.insn_len);
  }
  const unsigned ordinary = e.size();
  const uint32_t rel = ordinary - (jnz_at + 4);
  memcpy(e.at_offset(jnz_at), &rel, 4);
  e.restore_access_fast(sahf, &to_slow);
  if (to_slow != ~0u) {
    e.b(0xeb);  // jmp copy (rel8)
    const unsigned over = e.size();
    e.b(0);
    e.land_rel8(to_slow);
    e.restore_access_slow();
    e.land_rel8(over);
  }
  return emit_copy_and_return(e, s, built);
}

}  // namespace

bool build_site(const SiteCode& s, uint8_t* out, Built* built) {
  if (s.plan->kind == emu::PatchKind::LOAD || s.plan->kind == emu::PatchKind::STORE) {
    return build_access_site(s, out, built);
  }
  Emitter e(s.at, out);
  const bool vector = s.emulate;
  e.bytes({0x48, 0x8d, 0x64, 0x24, 0x80});  // lea -128(%rsp),%rsp
  e.b(0x9c);                                // pushfq
  for (int r = 15; r >= 0; --r) e.push(r);  // frame[0] = RAX ... frame[15] = R15 (RSP's slot unused)
  e.b(0xfc);                                // cld: the ABI's direction flag for the agent's code
  if (!emit_address(e, s, kFrameToRsp)) return false;
  e.bytes({0x48, 0x89, 0xe3});        // mov %rsp,%rbx (the frame; RBX is in it)
  e.bytes({0x48, 0x83, 0xe4, 0xf0});  // and $-16,%rsp
  if (vector) {
    e.bytes({0x48, 0x81, 0xec});  // sub $size,%rsp
    e.u32(s.xsave_size);
    e.bytes({0x48, 0x83, 0xe4, 0xc0});  // and $-64,%rsp
    e.bytes({0x31, 0xc0});              // xor %eax,%eax
    // XSAVE writes only XSTATE_BV of the header; XRSTOR wants the rest zero.
    for (uint32_t off = 512; off < 576; off += 8) {
      e.bytes({0x48, 0x89, 0x84, 0x24});  // mov %rax,off(%rsp)
      e.u32(off);
    }
    e.b(0xb8);  // mov $mask_lo,%eax
    e.u32(static_cast<uint32_t>(s.xsave_mask));
    e.b(0xba);  // mov $mask_hi,%edx
    e.u32(static_cast<uint32_t>(s.xsave_mask >> 32));
    e.bytes({0x48, 0x0f, 0xae, 0x24, 0x24});  // xsave64 (%rsp)
    e.bytes({0x48, 0x89, 0xe1});              // mov %rsp,%rcx: argument 4
  } else {
    e.bytes({0x31, 0xc9});  // xor %ecx,%ecx
  }
  e.bytes({0x48, 0x89, 0xda});  // mov %rbx,%rdx: argument 3, the frame (after XSAVE, which takes EDX:EAX)
  e.movabs(kRdi, s.patch);
  e.movabs(kRax, s.entry_function);
  e.bytes({0xff, 0xd0});  // call *%rax
  if (vector) {
    e.bytes({0x89, 0xc5});  // mov %eax,%ebp
    e.b(0xb8);
    e.u32(static_cast<uint32_t>(s.xsave_mask));
    e.b(0xba);
    e.u32(static_cast<uint32_t>(s.xsave_mask >> 32));
    e.bytes({0x48, 0x0f, 0xae, 0x2c, 0x24});  // xrstor64 (%rsp)
    e.bytes({0x89, 0xe8});                    // mov %ebp,%eax
  }
  e.bytes({0x48, 0x89, 0xdc});  // mov %rbx,%rsp
  e.bytes({0x85, 0xc0});        // test %eax,%eax
  e.bytes({0x0f, 0x85});        // jnz ordinary
  const unsigned jnz_at = e.size();
  e.u32(0);
  e.restore();
  e.jmp(s.pc + s.insn_len);
  const unsigned ordinary = e.size();
  const uint32_t rel = ordinary - (jnz_at + 4);
  memcpy(e.at_offset(jnz_at), &rel, 4);
  e.restore();
  return emit_copy_and_return(e, s, built);
}

bool build_evictee(uint64_t at, uint64_t pc, const uint8_t* insn, uint8_t len, uint8_t* out, Built* built) {
  Emitter e(at, out);
  uint8_t copy[16];
  const size_t n = emu::relocate(insn, len, pc, at, copy, sizeof copy);
  if (n == 0) return false;
  for (size_t i = 0; i < n; ++i) e.b(copy[i]);
  built->copy_offset = 0;
  built->copy_len = static_cast<unsigned>(n);
  e.jmp(pc + len);
  built->size = e.size();
  return e.ok();
}

bool build_jump(uint64_t at, uint64_t target, uint8_t* out) {
  Emitter e(at, out);
  e.jmp(target);
  return e.ok();
}

}  // namespace mmiotrace::agent::patch
