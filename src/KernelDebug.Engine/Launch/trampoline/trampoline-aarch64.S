/* The launch trampoline, aarch64: the same steps as trampoline-x86_64.S (see there), generic syscall numbers. */
    .globl _start
_start:
    mov x19, sp
    mov x0, #1                  /* prctl(PR_SET_PDEATHSIG, SIGKILL) */
    mov x1, #9
    mov x8, #167
    svc #0
    mov x8, #172                /* getpid */
    svc #0
    mov x1, #19                 /* SIGSTOP */
    mov x8, #129                /* kill */
    svc #0
    mov x0, #4                  /* fcntl(4, F_SETFD, FD_CLOEXEC) */
    mov x1, #2
    mov x2, #1
    mov x8, #25
    svc #0
    ldr x0, [x19, #16]          /* argv[1] */
    ldrb w0, [x0]
    cmp w0, #0x73               /* 's' */
    b.ne 1f
    mov x0, #38                 /* prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) */
    mov x1, #1
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x8, #167
    svc #0
    cbnz x0, 2f
    sub sp, sp, #16, lsl #12    /* 65536 */
    sub sp, sp, #64
    mov x0, #3                  /* read(3, sp+16, 65536) */
    add x1, sp, #16
    mov x2, #65536
    mov x8, #63
    svc #0
    tbnz x0, #63, 2f
    lsr x0, x0, #3
    strh w0, [sp]
    add x1, sp, #16
    str x1, [sp, #8]
    mov x0, #1                  /* seccomp(SECCOMP_SET_MODE_FILTER, 0, &fprog) */
    mov x1, #0
    mov x2, sp
    mov x8, #277
    svc #0
    cbnz x0, 2f
    mov x0, #3                  /* close(3) */
    mov x8, #57
    svc #0
1:
    ldr x3, [x19]               /* argc */
    add x2, x19, x3, lsl #3
    add x2, x2, #16             /* envp */
    ldr x0, [x19, #24]          /* argv[2] */
    add x1, x19, #24
    mov x8, #221                /* execve */
    svc #0
2:
    neg x20, x0                 /* errno */
    sub sp, sp, #16
    str w20, [sp]
    mov x0, #4                  /* write(4, &errno, 4) */
    mov x1, sp
    mov x2, #4
    mov x8, #64
    svc #0
    mov x0, x20
    mov x8, #94                 /* exit_group(errno) */
    svc #0
