#!/usr/bin/env python3
"""Writes the emulator fuzzer's seed corpus (tests/fuzz/corpus/) in the input
layout documented at the top of tests/fuzz/emu_fuzzer.cc. Each seed is one
table row with registers that make it do something: an access that succeeds,
one that faults, a REP that runs for a while, a masked AVX-512 store...

    tests/fuzz/make_corpus.py            # rewrites tests/fuzz/corpus/*
"""
import os
import struct

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
NO_FAULTS = 0x0F          # byte 17: fault nibble 15 = no page faults
ALL_XSAVE = 3             # byte 16: every XSAVE component the host has


def seed(code, regs=None, xsave=0, mem=NO_FAULTS, fault_after=0, rip=0x401000, rflags=0x202,
         kregs=None, rep_chunk=None, xstate_bv=0xE7):
    b = bytearray(285)
    code = bytes(code)
    assert 1 <= len(code) <= 15
    b[0] = len(code) - 1                      # length = 1 + byte % 15
    b[1:1 + len(code)] = code
    b[16] = xsave | (8 if rep_chunk is not None else 0)
    b[17] = mem
    b[18] = fault_after
    b[19] = 48                                # disassembly buffer size
    struct.pack_into('<Q', b, 20, 0x1234567890ABCDEF)   # memory contents seed
    struct.pack_into('<QQQQ', b, 28, rip, rflags, 0x7F0000001000, 0)
    gpr = [0x1000 * (i + 1) for i in range(16)]
    for r, v in (regs or {}).items():
        gpr[r] = v
    struct.pack_into('<16Q', b, 60, *gpr)
    struct.pack_into('<Q', b, 188, xstate_bv)
    k = [0] * 8
    for i, v in (kregs or {}).items():
        k[i] = v
    struct.pack_into('<8Q', b, 196, *k)
    struct.pack_into('<Q', b, 260, 0x5EED)    # vector registers' bytes
    b[276] = rep_chunk or 0
    struct.pack_into('<Q', b, 277, 0x7F0000200000)     # plan_generic's stub address
    return bytes(b)


SEEDS = {
    'mov_store_m64': seed([0x48, 0x89, 0x03], {RBX: 0x20000}),             # mov %rax,(%rbx)
    'mov_load_fault': seed([0x8b, 0x0e], {RSI: 0x12ffe}, mem=0x3),         # mov (%rsi),%ecx, page 3 faults
    'mov_moffs_fs': seed([0x64, 0x48, 0xa1] + [0x10, 0, 0, 0, 0, 0, 0, 0]),  # mov %fs:0x10,%rax
    'movzx_rip': seed([0x0f, 0xb7, 0x05, 0x00, 0x10, 0x00, 0x00]),       # movzwl 0x1000(%rip),%eax
    'rep_movsb': seed([0xf3, 0xa4], {RCX: 100, RSI: 0x10000, RDI: 0x18000}),
    'rep_stosq_a32_fault': seed([0x67, 0xf3, 0x48, 0xab], {RCX: 0xFFFF00000040, RDI: 0x12FF0},
                                mem=0x3, rep_chunk=7),                   # runs into page 3
    'rep_movsq_huge': seed([0xf3, 0x48, 0xa5], {RCX: 1 << 62, RSI: 0x10000, RDI: 0x50000},
                           fault_after=200),
    'lods_df': seed([0xad], {RSI: 0x10003}, rflags=0x602),               # lodsl with DF=1
    'movaps_misaligned': seed([0x0f, 0x28, 0x06], {RSI: 0x10008}, xsave=ALL_XSAVE),
    'movdqa_no_xsave': seed([0x66, 0x0f, 0x6f, 0x06], {RSI: 0x10000}),   # refused: no XSAVE area
    'vmovdqu8_masked_store': seed([0x62, 0xf1, 0x7f, 0x49, 0x7f, 0x07], {RDI: 0x12FE0},
                                  xsave=ALL_XSAVE, kregs={1: 0x0000FFFF0000FFFF}, mem=0x3),
    'vmovdqa64_zero_mask_load': seed([0x62, 0xf1, 0xfd, 0xc9, 0x6f, 0x16], {RSI: 0x10008},
                                     xsave=ALL_XSAVE, kregs={1: 0}),     # {z}, no element selected
    'vmovdqu_ymm_init_state': seed([0xc5, 0xfe, 0x6f, 0x06], {RSI: 0x10001}, xsave=ALL_XSAVE,
                                   xstate_bv=0x1),                        # AVX component in init state
    'lock_add': seed([0xf0, 0x01, 0x02], {RDX: 0x10000}),                # lock add %eax,(%rdx)
    'cmpxchg16b': seed([0xf0, 0x48, 0x0f, 0xc7, 0x0e], {RSI: 0x10000}),
    'repe_cmpsb': seed([0xf3, 0xa6], {RCX: 50, RSI: 0x10000, RDI: 0x10000}),
    'fxsave_generic': seed([0x0f, 0xae, 0x07], {RDI: 0x10000}),          # generic path: refused (state-sized)
    'addps_generic': seed([0x0f, 0x58, 0x06], {RSI: 0x10000}),           # generic path candidate
    'bad_bytes': seed([0x0f, 0xff, 0xff, 0xff]),
    # One more per family of the table (docs/emulated-instructions.md), refusals included.
    'mov_imm_m16_gs': seed([0x65, 0x66, 0xc7, 0x44, 0x24, 0x08, 0x34, 0x12], {RSP: 0x10000}),
    'movsx_m8_rex': seed([0x40, 0x0f, 0xbe, 0x34, 0x8b], {RBX: 0x10000, RCX: 3}),
    'movsxd_m32': seed([0x48, 0x63, 0x06], {RSI: 0x10000}),
    'movsxd_r16_refused': seed([0x66, 0x63, 0x06], {RSI: 0x10000}),
    'movnti_m64': seed([0x48, 0x0f, 0xc3, 0x07], {RDI: 0x10000}),
    'repne_stos_refused': seed([0xf2, 0xaa], {RCX: 4, RDI: 0x10000}),
    'prefetcht0': seed([0x0f, 0x18, 0x0e], {RSI: 0xFFFF800000000000}),
    'movq_xmm_m64_rexw': seed([0x66, 0x48, 0x0f, 0x6e, 0x06], {RSI: 0x10000}, xsave=1),
    'vmovq_evex_m64': seed([0x62, 0xe1, 0xfe, 0x08, 0x7e, 0x46, 0x01], {RSI: 0x10000}, xsave=ALL_XSAVE),
    'vmovntdq_zmm_a32': seed([0x67, 0x62, 0xf1, 0x7d, 0x48, 0xe7, 0x07], {RDI: 0x10040}, xsave=ALL_XSAVE),
    'vmovupd_zmm31_k7': seed([0x62, 0x61, 0xfd, 0x4f, 0x11, 0x7c, 0x24, 0x01], {RSP: 0x10000},
                             xsave=ALL_XSAVE, kregs={7: 0x81}),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
