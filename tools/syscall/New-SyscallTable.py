#!/usr/bin/env python3
"""Generates src/KernelDebug.Engine/Syscall/SyscallTable.Data.cs.

Inputs (all real data, none copied code):
  - numbers: /usr/include/x86_64-linux-gnu/asm/unistd_64.h and /usr/include/asm-generic/unistd.h (through cpp with
    the __ARCH_WANT_* set arm64's uapi header defines);
  - argument names and C types: the running kernel's tracefs syscalls/sys_enter_*/format (tracefs-syscall-formats.txt);
  - class membership (%file, %desc, ...): the flags column of strace's sysent tables (path given as argv[1..]).
Argument kinds come from the rules below. Rerun after a kernel header update; SyscallTableTests fails until you do.
"""
import re, subprocess, sys, os

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))

def cpp_numbers(header, defines):
    src = '#include <%s>\n' % header
    out = subprocess.run(['gcc', '-E', '-dM', '-x', 'c', '-'] + ['-D' + d for d in defines], input=src,
                         capture_output=True, text=True, check=True).stdout
    macros = {}
    for line in out.splitlines():
        m = re.match(r'#define (__NR3264_\w+|__NR_\w+) (.+)$', line)
        if m: macros[m.group(1)] = m.group(2).strip()
    def ev(v, depth=0):
        v = re.sub(r'(__NR\w+)', lambda m: '(' + str(ev(macros[m.group(1)], depth + 1)) + ')', v)
        return int(eval(v))
    nums = {}
    for k, v in macros.items():
        if k.startswith('__NR_') and k not in ('__NR_syscalls', '__NR_arch_specific_syscall'):
            nums[k[5:]] = ev(v)
    return nums

x64 = cpp_numbers('asm/unistd_64.h', [])
arm = cpp_numbers('asm-generic/unistd.h', ['__ARCH_WANT_RENAMEAT', '__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT',
                                           '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET', '__ARCH_WANT_TIME32_SYSCALLS'])

# strace class flags -> our names
flagmap = {'TD': 'Desc', 'TF': 'File', 'TI': 'Ipc', 'TN': 'Network', 'TP': 'Process', 'TS': 'Signal', 'TM': 'Memory',
           'TST': 'Stat', 'TLST': 'Lstat', 'TFST': 'Fstat', 'TSTA': 'StatLike', 'TSF': 'Statfs', 'TFSF': 'Fstatfs',
           'TSFA': 'StatfsLike', 'PU': 'Pure', 'TC': 'Creds', 'TCL': 'Clock'}
classes, nargs = {}, {}
for path in sys.argv[1:]:
    for m in re.finditer(r'\[[^\]]*\]\s*=\s*\{\s*(\w+),\s*([\w|]+),\s*SEN\(\w+\),\s*"(\w+)"', open(path).read()):
        n, flags, name = m.groups()
        fl = [flagmap[f] for f in flags.split('|') if f in flagmap]
        classes.setdefault(name, fl)
        nargs.setdefault(name, 6 if n == 'MA' else int(n))

formats, cur = {}, None
for line in open(os.path.join(here, 'tracefs-syscall-formats.txt')):
    line = line.rstrip('\n')
    if line.startswith('== '):
        cur = line[3:]; formats[cur] = []
    elif line.strip():
        t, _, n = line.rpartition(' ')
        formats[cur].append((t.strip(), n))

OVERRIDES = {
    ('open', 'flags'): 'OpenFlags', ('openat', 'flags'): 'OpenFlags', ('open', 'mode'): 'Mode', ('openat', 'mode'): 'Mode',
    ('creat', 'mode'): 'Mode',
    ('mmap', 'prot'): 'Prot', ('mmap', 'flags'): 'MapFlags', ('mmap', 'fd'): 'Fd', ('mmap', 'off'): 'Hex',
    ('mprotect', 'prot'): 'Prot', ('pkey_mprotect', 'prot'): 'Prot',
    ('clone', 'clone_flags'): 'CloneFlags', ('unshare', 'unshare_flags'): 'CloneFlags', ('setns', 'flags'): 'CloneFlags',
    ('ioctl', 'cmd'): 'Ioctl', ('ioctl', 'arg'): 'Hex', ('fcntl', 'cmd'): 'FcntlCmd', ('lseek', 'whence'): 'Whence',
    ('access', 'mode'): 'AccessMode', ('faccessat', 'mode'): 'AccessMode', ('faccessat2', 'mode'): 'AccessMode',
    ('newfstatat', 'flag'): 'AtFlags', ('unlinkat', 'flag'): 'AtFlags', ('faccessat2', 'flags'): 'AtFlags',
    ('statx', 'flags'): 'AtFlags', ('fchownat', 'flag'): 'AtFlags', ('linkat', 'flags'): 'AtFlags',
    ('utimensat', 'flags'): 'AtFlags', ('fchmodat2', 'flags'): 'AtFlags', ('execveat', 'flags'): 'AtFlags',
    ('read', 'buf'): 'OutBuf', ('pread64', 'buf'): 'OutBuf', ('readlink', 'buf'): 'OutBuf', ('readlinkat', 'buf'): 'OutBuf',
    ('recvfrom', 'ubuf'): 'OutBuf', ('getcwd', 'buf'): 'OutBuf',
    ('write', 'buf'): 'InBuf', ('pwrite64', 'buf'): 'InBuf', ('sendto', 'buff'): 'InBuf',
    ('pipe', 'fildes'): 'FdPair', ('pipe2', 'fildes'): 'FdPair', ('pipe2', 'flags'): 'OpenFlags',
    ('socketpair', 'usockvec'): 'FdPair',
    ('execve', 'argv'): 'Argv', ('execve', 'envp'): 'Envp', ('execveat', 'argv'): 'Argv', ('execveat', 'envp'): 'Envp',
    ('socket', 'family'): 'AddressFamily', ('socketpair', 'family'): 'AddressFamily',
    ('socket', 'type'): 'SocketType', ('socketpair', 'type'): 'SocketType',
    ('rt_sigprocmask', 'how'): 'SigHow', ('dup3', 'flags'): 'OpenFlags', ('accept4', 'flags'): 'SocketType',
    ('brk', 'brk'): 'Ptr', ('arch_prctl', 'arg2'): 'Hex', ('fchmodat', 'mode'): 'Mode', ('fchmod', 'mode'): 'Mode',
    ('chmod', 'mode'): 'Mode', ('mkdir', 'mode'): 'Mode', ('mkdirat', 'mode'): 'Mode', ('mknod', 'mode'): 'Mode',
    ('mknodat', 'mode'): 'Mode', ('umask', 'mask'): 'Octal', ('fchmodat2', 'mode'): 'Mode',
    ('wait4', 'stat_addr'): 'WaitStatus', ('prctl', 'option'): 'Int', ('wait4', 'options'): 'WaitOptions',
    ('waitid', 'options'): 'WaitOptions', ('arch_prctl', 'option'): 'ArchPrctl', ('prlimit64', 'resource'): 'Resource',
    ('getrlimit', 'resource'): 'Resource', ('setrlimit', 'resource'): 'Resource', ('getrandom', 'flags'): 'GrndFlags',
    ('getrandom', 'ubuf'): 'OutBuf', ('futex', 'op'): 'FutexOp', ('rt_sigprocmask', 'nset'): 'SigSet',
    ('rt_sigprocmask', 'oset'): 'OutSigSet', ('rt_sigsuspend', 'unewset'): 'SigSet', ('rseq', 'rseq_len'): 'Hex',
    ('rseq', 'sig'): 'Hex',
}
# Output arguments that are only meaningful at exit.
EXIT_KINDS = {'OutBuf', 'Stat', 'FdPair', 'OutSockaddr', 'WaitStatus', 'OutSigSet'}

def kind(sc, t, n, args):
    k = OVERRIDES.get((sc, n))
    if k: return k
    names = [a[1] for a in args]
    if n in ('dfd', 'olddfd', 'newdfd'): return 'AtFd'
    if n in ('fd', 'oldfd', 'newfd', 'fd_in', 'fd_out', 'in_fd', 'out_fd', 'epfd', 'ufd', 'fildes', 'pidfd', 'ruleset_fd') \
            and '*' not in t: return 'Fd'
    if t == 'const char *' and (re.search(r'name|path|file|dir|root|put_old|library|special', n) or n in ('old', 'new', 'oldname', 'newname')) \
            and n not in ('_description', 'name_ptr') and not (n == 'name' and 'xattr' in sc): return 'Path'
    if t == 'const char *': return 'Str'
    if t == 'struct sockaddr *':
        nxt = args[names.index(n) + 1] if names.index(n) + 1 < len(args) else None
        return 'OutSockaddr' if nxt and nxt[0].endswith('*') else 'Sockaddr'
    if t in ('struct stat *', 'struct __old_kernel_stat *'): return 'Stat'
    if n in ('sig', 'signum') : return 'Signal'
    if t == 'umode_t': return 'Mode'
    if '*' in t: return 'Ptr'
    if re.search(r'flags?$', n): return 'Hex'
    if re.search(r'len$|^count$', n) and '*' not in t: return 'UInt'
    if re.search(r'addr|start$|^tls$|newsp', n): return 'Ptr'
    if t.startswith('unsigned') or t in ('size_t', 'u32', '__u32', 'u64', 'uid_t', 'gid_t', 'qid_t', 'key_serial_t', 'aio_context_t', 'const __u32'):
        return 'UInt'
    return 'Int'

def buflen(sc, n, args):
    names = [a[1] for a in args]
    i = names.index(n)
    if 'sockaddr' in dict((b, a) for a, b in args)[n]: return names[i + 1]
    for cand in ('count', 'len', 'size', 'bufsiz', 'nbytes'):
        if cand in names: return cand
    return names[i + 1] if i + 1 < len(names) else ''

RET_HEX = {'mmap', 'brk', 'mremap', 'shmat'}
all_names = sorted(set(x64) | set(arm), key=lambda n: (x64.get(n, 10000 + arm.get(n, 0)), n))
rows = []
for name in all_names:
    fmt = formats.get(name) or formats.get('new' + name) or (formats.get(name[:-2]) if name.endswith('64') else None)
    if fmt is None:
        n = nargs.get(name, 6 if name not in nargs else nargs[name])
        specs = ['arg%d:Hex' % i for i in range(nargs.get(name, 0))]
    else:
        specs = []
        for t, n in fmt:
            k = kind(name, t, n, fmt)
            if k in ('InBuf', 'OutBuf', 'Sockaddr', 'OutSockaddr'):
                k += '(' + buflen(name, n, fmt) + ')' if k != 'OutBuf' or name not in ('getcwd',) else ''
            specs.append('%s:%s' % (n.lstrip('_'), k))
    cl = '|'.join('SyscallClass.' + c for c in classes.get(name, [])) or 'SyscallClass.None'
    extra = ', returnsAddress: true' if name in RET_HEX else ''
    if name == 'clone':  # aarch64 (CLONE_BACKWARDS): tls before child_tidptr
        extra += ', arm64Arguments: "clone_flags:CloneFlags newsp:Ptr parent_tidptr:Ptr tls:Ptr child_tidptr:Ptr"'
    rows.append('        new("%s", %d, %d, %s, "%s"%s),' % (
        name, x64.get(name, -1), arm.get(name, -1), cl, ' '.join(specs), extra))

out = '''// <auto-generated> by tools/syscall/New-SyscallTable.py from the installed kernel headers, the kernel's tracefs
// syscall formats and strace's class membership. Do not edit by hand; SyscallTableTests checks the numbers. </auto-generated>
namespace KernelDebug.Syscall;

public static partial class SyscallTable
{
    // name, x86_64 number, aarch64 number (-1: not on that architecture), strace classes, "argument:Kind ..."
    private static readonly SyscallInfo[] Entries =
    {
%s
    };
}
''' % '\n'.join(rows)
dest = os.path.join(root, 'src/KernelDebug.Engine/Syscall/SyscallTable.Data.cs')
os.makedirs(os.path.dirname(dest), exist_ok=True)
open(dest, 'w').write(out)
print('%d syscalls (%d x86_64, %d aarch64) -> %s' % (len(rows), len(x64), len(arm), dest))
