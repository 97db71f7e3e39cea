/* dlopen(), interposed: the entry that decides whether the agent may call the
 * real dlopen itself (and then record the code it mapped) or must jump to it
 * with the program's return address untouched (interpose_dlopen.cc).
 *
 * glibc's dlopen looks at its return address to find the calling object: its
 * RUNPATH/RPATH to search, its namespace, and the origin that "$ORIGIN" in the
 * file name stands for. A call from the agent would make the agent the caller.
 * So the entry asks mt_dlopen_route(file, mode, return address) where to go
 * and jumps there with the stack as the program left it: to the real dlopen
 * (a tail call: dlopen sees the program's return address), or to
 * mt_dlopen_recording, when the caller makes no difference.
 *
 * Normal context. */
        .text
        .globl dlopen
        .type dlopen,@function
        .p2align 4
dlopen:
        .cfi_startproc
        pushq %rdi
        .cfi_adjust_cfa_offset 8
        pushq %rsi
        .cfi_adjust_cfa_offset 8
        subq $8, %rsp                 /* 16-byte alignment for the call */
        .cfi_adjust_cfa_offset 8
        movq 24(%rsp), %rdx           /* the program's return address */
        call mt_dlopen_route
        addq $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq %rsi
        .cfi_adjust_cfa_offset -8
        popq %rdi
        .cfi_adjust_cfa_offset -8
        jmp *%rax
        .cfi_endproc
        .size dlopen, .-dlopen

        .section .note.GNU-stack,"",@progbits
