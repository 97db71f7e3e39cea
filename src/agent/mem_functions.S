/* memcpy, memmove, memset and memcmp for the agent's own code, hidden in the
 * agent (calls from its code, and from the emu and common libraries linked
 * into it, bind here, not to libc's).
 *
 * Why: a patched site's trampoline (agent/patch/trampoline.h) calls into the
 * agent for a plain load or store without saving the program's vector
 * registers, so the code it reaches must not touch them. The agent is built
 * with -mgeneral-regs-only for that; libc's string functions use SSE/AVX
 * registers (and VZEROUPPER, which clears the upper halves of all of them).
 * These use general registers and REP MOVSB/STOSB only.
 *
 * Small copies (up to 32 bytes) load everything before storing, so memmove
 * shares them. The direction flag is clear on entry (the ABI; a trampoline
 * clears it before calling in). Async-signal-safe: no memory but the
 * arguments. */
        .text
#define FUNC(name) .globl name; .hidden name; .type name,@function; .p2align 4; name:

/* void* memcpy(void* dst, const void* src, size_t n) */
FUNC(memcpy)
        movq %rdi,%rax
        cmpq $32,%rdx
        ja 9f
1:      /* n <= 32: overlapping loads, then the stores */
        cmpq $8,%rdx
        jb 3f
        movq (%rsi),%r8
        movq -8(%rsi,%rdx),%r9
        cmpq $16,%rdx
        jbe 2f
        movq 8(%rsi),%r10
        movq -16(%rsi,%rdx),%r11
        movq %r10,8(%rdi)
        movq %r11,-16(%rdi,%rdx)
2:      movq %r8,(%rdi)
        movq %r9,-8(%rdi,%rdx)
        ret
3:      cmpq $4,%rdx
        jb 4f
        movl (%rsi),%r8d
        movl -4(%rsi,%rdx),%r9d
        movl %r8d,(%rdi)
        movl %r9d,-4(%rdi,%rdx)
        ret
4:      testq %rdx,%rdx
        jz 5f
        /* 1-3 bytes: the first, the middle and the last */
        movq %rdx,%rcx
        shrq $1,%rcx
        movzbl (%rsi),%r8d
        movzbl (%rsi,%rcx),%r9d
        movzbl -1(%rsi,%rdx),%r10d
        movb %r8b,(%rdi)
        movb %r9b,(%rdi,%rcx)
        movb %r10b,-1(%rdi,%rdx)
5:      ret
9:      movq %rdx,%rcx
        rep movsb
        ret
        .size memcpy, .-memcpy

/* void* memmove(void* dst, const void* src, size_t n) */
FUNC(memmove)
        movq %rdi,%rax
        cmpq $32,%rdx
        jbe 1b                  /* memcpy's small path: loads before stores */
        movq %rdi,%rcx
        subq %rsi,%rcx
        cmpq %rdx,%rcx
        jb 2f                   /* dst in (src, src + n): copy backwards */
        movq %rdx,%rcx
        rep movsb
        ret
2:      leaq -1(%rsi,%rdx),%rsi
        leaq -1(%rdi,%rdx),%rdi
        movq %rdx,%rcx
        std
        rep movsb
        cld
        ret
        .size memmove, .-memmove

/* void* memset(void* dst, int c, size_t n) */
FUNC(memset)
        movq %rdi,%r8
        movzbl %sil,%eax
        movq %rdx,%rcx
        rep stosb
        movq %r8,%rax
        ret
        .size memset, .-memset

/* int memcmp(const void* a, const void* b, size_t n) */
FUNC(memcmp)
        xorl %eax,%eax
        testq %rdx,%rdx
        jz 2f
1:      movzbl (%rdi),%eax
        movzbl (%rsi),%ecx
        subl %ecx,%eax
        jnz 2f
        incq %rdi
        incq %rsi
        decq %rdx
        jnz 1b
2:      ret
        .size memcmp, .-memcmp

        .section .note.GNU-stack,"",@progbits
