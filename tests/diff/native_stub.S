// Native execution of one generated instruction for the differential tester.
//
// dt_native_enter() saves the host's callee-saved registers and stack
// pointer, loads the vector/opmask state (XRSTOR from dt_in_xsave with the
// components in DT_RFBM), RFLAGS (POPFQ on a private stack) and all sixteen
// general registers (RSP last) from dt_in_gpr/dt_in_rflags, then jumps to the
// generated instruction at dt_insn_addr. Everything is addressed RIP-relative
// through globals, so that no register is needed to hold a pointer.
//
// The code page puts `jmp *0(%rip); .quad dt_native_exit` right after the
// instruction: dt_native_exit stores the sixteen registers (RSP first
// touched only by the store), switches to the private stack, saves RFLAGS and
// the vector state (XSAVE into dt_out_xsave) and returns to the host.
//
// Whatever the instruction does to RSP, nothing is pushed between the load
// and the save: RSP may hold any value while the instruction runs. A fault in
// the instruction is delivered on the signal alternate stack and leaves with
// siglongjmp (native.cc).

#define DT_RFBM 0xe7  // x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM (not PKRU, not AMX)

        .section .note.GNU-stack, "", @progbits

        .bss
        .balign 64
        .globl dt_in_gpr, dt_out_gpr
        .hidden dt_in_gpr, dt_out_gpr
dt_in_gpr:      .zero 128
dt_out_gpr:     .zero 128
        .globl dt_in_rflags, dt_out_rflags, dt_in_xsave, dt_out_xsave
        .globl dt_insn_addr, dt_private_rsp, dt_host_rsp
        .hidden dt_in_rflags, dt_out_rflags, dt_in_xsave, dt_out_xsave
        .hidden dt_insn_addr, dt_private_rsp, dt_host_rsp
dt_in_rflags:   .quad 0
dt_out_rflags:  .quad 0
dt_in_xsave:    .quad 0   // pointer to a 64-byte aligned standard-format XSAVE image
dt_out_xsave:   .quad 0   // same, written by XSAVE after the instruction
dt_insn_addr:   .quad 0   // where the generated instruction is
dt_private_rsp: .quad 0   // top of the private stack used around the instruction
dt_host_rsp:    .quad 0

        .text
        .globl dt_native_enter
        .hidden dt_native_enter
        .type dt_native_enter, @function
dt_native_enter:
        push %rbp
        push %rbx
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, dt_host_rsp(%rip)
        mov dt_in_xsave(%rip), %rcx
        mov $DT_RFBM, %eax
        xor %edx, %edx
        xrstor64 (%rcx)
        mov dt_private_rsp(%rip), %rsp
        pushq dt_in_rflags(%rip)
        popfq
        mov dt_in_gpr+0*8(%rip), %rax
        mov dt_in_gpr+1*8(%rip), %rcx
        mov dt_in_gpr+2*8(%rip), %rdx
        mov dt_in_gpr+3*8(%rip), %rbx
        mov dt_in_gpr+5*8(%rip), %rbp
        mov dt_in_gpr+6*8(%rip), %rsi
        mov dt_in_gpr+7*8(%rip), %rdi
        mov dt_in_gpr+8*8(%rip), %r8
        mov dt_in_gpr+9*8(%rip), %r9
        mov dt_in_gpr+10*8(%rip), %r10
        mov dt_in_gpr+11*8(%rip), %r11
        mov dt_in_gpr+12*8(%rip), %r12
        mov dt_in_gpr+13*8(%rip), %r13
        mov dt_in_gpr+14*8(%rip), %r14
        mov dt_in_gpr+15*8(%rip), %r15
        mov dt_in_gpr+4*8(%rip), %rsp
        jmp *dt_insn_addr(%rip)
        .size dt_native_enter, .-dt_native_enter

        .globl dt_native_exit
        .hidden dt_native_exit
        .type dt_native_exit, @function
dt_native_exit:
        mov %rax, dt_out_gpr+0*8(%rip)
        mov %rcx, dt_out_gpr+1*8(%rip)
        mov %rdx, dt_out_gpr+2*8(%rip)
        mov %rbx, dt_out_gpr+3*8(%rip)
        mov %rsp, dt_out_gpr+4*8(%rip)
        mov %rbp, dt_out_gpr+5*8(%rip)
        mov %rsi, dt_out_gpr+6*8(%rip)
        mov %rdi, dt_out_gpr+7*8(%rip)
        mov %r8, dt_out_gpr+8*8(%rip)
        mov %r9, dt_out_gpr+9*8(%rip)
        mov %r10, dt_out_gpr+10*8(%rip)
        mov %r11, dt_out_gpr+11*8(%rip)
        mov %r12, dt_out_gpr+12*8(%rip)
        mov %r13, dt_out_gpr+13*8(%rip)
        mov %r14, dt_out_gpr+14*8(%rip)
        mov %r15, dt_out_gpr+15*8(%rip)
        mov dt_private_rsp(%rip), %rsp
        pushfq
        popq dt_out_rflags(%rip)
        cld
        mov dt_out_xsave(%rip), %rcx
        mov $DT_RFBM, %eax
        xor %edx, %edx
        xsave64 (%rcx)
        mov dt_host_rsp(%rip), %rsp
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbx
        pop %rbp
        ret
        .size dt_native_exit, .-dt_native_exit
