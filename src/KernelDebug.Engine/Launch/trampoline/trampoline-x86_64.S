/* The launch trampoline, x86_64. argv: [name, mode, path, args...]; mode "s" reads a seccomp filter from fd 3.
 * 0. prctl(PR_SET_PDEATHSIG, SIGKILL): the command dies with the tracer, even a SIGKILLed one (kept across execve).
 * 1. kill(getpid(), SIGSTOP): the launcher sees the stop and attaches (ptrace) or opens counters (perf).
 * 2. mode "s": prctl(PR_SET_NO_NEW_PRIVS), read the sock_filter array from fd 3, seccomp(SET_MODE_FILTER), close(3).
 * 3. fd 4 (the exec-status pipe) is made close-on-exec; execve(argv[2], &argv[2], envp).
 * 4. On failure: write the errno to fd 4 and exit with it. No libc, no relocations: position independent. */
    .intel_syntax noprefix
    .globl _start
_start:
    mov rbx, rsp
    mov eax, 157                /* prctl(PR_SET_PDEATHSIG, SIGKILL) */
    mov edi, 1
    mov esi, 9
    syscall
    mov eax, 39                 /* getpid */
    syscall
    mov edi, eax
    mov esi, 19                 /* SIGSTOP */
    mov eax, 62                 /* kill */
    syscall
    mov eax, 72                 /* fcntl(4, F_SETFD, FD_CLOEXEC) */
    mov edi, 4
    mov esi, 2
    mov edx, 1
    syscall
    mov rax, [rbx+16]           /* argv[1] */
    cmp byte ptr [rax], 0x73    /* 's' */
    jne 1f
    mov eax, 157                /* prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) */
    mov edi, 38
    mov esi, 1
    xor edx, edx
    xor r10d, r10d
    xor r8d, r8d
    syscall
    test rax, rax
    jnz 2f
    sub rsp, 65600
    xor eax, eax                /* read(3, rsp+16, 65536) */
    mov edi, 3
    lea rsi, [rsp+16]
    mov edx, 65536
    syscall
    test rax, rax
    js 2f
    shr rax, 3                  /* sock_fprog.len = bytes / sizeof(struct sock_filter) */
    mov word ptr [rsp], ax
    lea rcx, [rsp+16]
    mov [rsp+8], rcx
    mov eax, 317                /* seccomp(SECCOMP_SET_MODE_FILTER, 0, &fprog) */
    mov edi, 1
    xor esi, esi
    mov rdx, rsp
    syscall
    test rax, rax
    jnz 2f
    mov eax, 3                  /* close(3) */
    mov edi, 3
    syscall
1:
    mov rcx, [rbx]              /* argc */
    lea rdx, [rbx+rcx*8+16]     /* envp */
    mov rdi, [rbx+24]           /* argv[2] */
    lea rsi, [rbx+24]
    mov eax, 59                 /* execve */
    syscall
2:
    neg rax                     /* errno */
    mov r12, rax
    push rax
    mov eax, 1                  /* write(4, &errno, 4) */
    mov edi, 4
    mov rsi, rsp
    mov edx, 4
    syscall
    mov rdi, r12
    mov eax, 231                /* exit_group(errno) */
    syscall
