/* Memory accesses that may fault, for the agent's signal handler.
 *
 * Every function here is a leaf that touches the stack only through its
 * return address. If one of them faults, the agent's handler (which runs with
 * SA_NODEFER) sees a PC in [mt_safe_begin, mt_safe_end), records the fault and
 * resumes at mt_safe_fixup, which returns 1 to the caller as if the function
 * had returned: the same technique as the kernel's exception tables.
 *
 * Device accesses use one instruction of exactly the width the program's
 * instruction used (a 4-byte MOV for a 4-byte access, one 64-byte vector move
 * for a 64-byte access, a masked store for a masked store), so the device sees
 * the same bus transactions as without the tracer.
 *
 * All return 0 on success. Async-signal-safe.
 */
        .text
        .globl mt_safe_begin, mt_safe_end, mt_safe_fixup
        .hidden mt_safe_begin, mt_safe_end, mt_safe_fixup

#define FUNC(name) .globl name; .hidden name; .type name,@function; .p2align 4; name:

        .p2align 6
mt_safe_begin:

/* int mt_load_N(const void* src, void* dst): *dst = *src, one N-byte load. */
FUNC(mt_load_1)   movb (%rdi),%al;   movb %al,(%rsi);   xorl %eax,%eax; ret
FUNC(mt_load_2)   movw (%rdi),%ax;   movw %ax,(%rsi);   xorl %eax,%eax; ret
FUNC(mt_load_4)   movl (%rdi),%eax;  movl %eax,(%rsi);  xorl %eax,%eax; ret
FUNC(mt_load_8)   movq (%rdi),%rax;  movq %rax,(%rsi);  xorl %eax,%eax; ret
FUNC(mt_load_16)  movdqu (%rdi),%xmm0; movdqu %xmm0,(%rsi); xorl %eax,%eax; ret
FUNC(mt_load_32)  vmovdqu (%rdi),%ymm0; vmovdqu %ymm0,(%rsi); vzeroupper; xorl %eax,%eax; ret
FUNC(mt_load_64)  vmovdqu64 (%rdi),%zmm0; vmovdqu64 %zmm0,(%rsi); vzeroupper; xorl %eax,%eax; ret

/* int mt_store_N(void* dst, const void* src): *dst = *src, one N-byte store. */
FUNC(mt_store_1)  movb (%rsi),%al;   movb %al,(%rdi);   xorl %eax,%eax; ret
FUNC(mt_store_2)  movw (%rsi),%ax;   movw %ax,(%rdi);   xorl %eax,%eax; ret
FUNC(mt_store_4)  movl (%rsi),%eax;  movl %eax,(%rdi);  xorl %eax,%eax; ret
FUNC(mt_store_8)  movq (%rsi),%rax;  movq %rax,(%rdi);  xorl %eax,%eax; ret
FUNC(mt_store_16) movdqu (%rsi),%xmm0; movdqu %xmm0,(%rdi); xorl %eax,%eax; ret
FUNC(mt_store_32) vmovdqu (%rsi),%ymm0; vmovdqu %ymm0,(%rdi); vzeroupper; xorl %eax,%eax; ret
FUNC(mt_store_64) vmovdqu64 (%rsi),%zmm0; vmovdqu64 %zmm0,(%rdi); vzeroupper; xorl %eax,%eax; ret

/* int mt_load_masked(const void* src, void* dst, uint64_t byte_mask):
 * one masked 64-byte load (AVX512BW); only selected bytes are read. */
FUNC(mt_load_masked)
        kmovq %rdx,%k1
        vmovdqu8 (%rdi),%zmm0{%k1}{z}
        vmovdqu8 %zmm0,(%rsi){%k1}
        vzeroupper
        xorl %eax,%eax
        ret

/* int mt_store_masked(void* dst, const void* src, uint64_t byte_mask):
 * one masked 64-byte store (AVX512BW); only selected bytes are written. */
FUNC(mt_store_masked)
        kmovq %rdx,%k1
        vmovdqu8 (%rsi),%zmm0{%k1}{z}
        vmovdqu8 %zmm0,(%rdi){%k1}
        vzeroupper
        xorl %eax,%eax
        ret

/* int mt_copy(void* dst, const void* src, size_t n): byte copy of ordinary memory. */
FUNC(mt_copy)
        movq %rdx,%rcx
        rep movsb
        xorl %eax,%eax
        ret

FUNC(mt_safe_fixup)
        movl $1,%eax
        ret

mt_safe_end:
        .section .note.GNU-stack,"",@progbits
