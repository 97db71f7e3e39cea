/* mt_call_on_stack(top, fn, arg): calls fn(arg) with RSP at `top` (16-byte
 * aligned, the high end of a stack the caller owns), and returns on the
 * caller's stack. The fault handler uses it to run on the agent's own
 * per-thread stack when the program's alternate signal stack has too little
 * room left (fault_handler.cc).
 *
 * Async-signal-safe: no memory but the two stacks. */
        .text
        .globl mt_call_on_stack
        .hidden mt_call_on_stack
        .type mt_call_on_stack,@function
        .p2align 4
mt_call_on_stack:
        .cfi_startproc
        pushq %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        movq %rsp, %rbp
        .cfi_def_cfa_register %rbp
        movq %rdi, %rsp
        movq %rdx, %rdi
        call *%rsi
        movq %rbp, %rsp
        .cfi_def_cfa_register %rsp
        popq %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        ret
        .cfi_endproc
        .size mt_call_on_stack, .-mt_call_on_stack
        .section .note.GNU-stack,"",@progbits
