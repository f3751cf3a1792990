BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
    $script:HasGcc = [bool](Get-Command gcc -ErrorAction Ignore)
    $script:HasLtrace = [bool](Get-Command ltrace -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-libcall-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null
    # A deterministic program: 7 malloc, 5 free, 3 getenv (one set, two unset), no stdio (whose buffers would malloc inside libc).
    $source = Join-Path $Work 'prog.c'
    Set-Content $source @'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    void *p[7];
    for (int i = 0; i < 7; i++) p[i] = malloc(16 + i);
    for (int i = 0; i < 5; i++) free(p[i]);
    const char *h = getenv("KD_LIBCALL_TEST");
    for (int i = 0; i < 2; i++) if (getenv("KD_NO_SUCH_VAR_XYZ")) return 2;
    if (h) write(1, h, strlen(h));
    return 0;
}
'@
    if (Get-Command gcc -ErrorAction Ignore) {
        # Lazy binding through the PLT (what ltrace sees), and BIND_NOW without a PLT (calls through the GOT: ltrace sees nothing).
        & gcc -O0 '-Wl,-z,lazy' -o (Join-Path $Work 'lazy') $source
        & gcc -O0 -fno-plt '-Wl,-z,now' -o (Join-Path $Work 'now') $source
    }
    $script:Lazy = Join-Path $Work 'lazy'
    $script:Now = Join-Path $Work 'now'
    $env:KD_LIBCALL_TEST = 'kd-value-42'

    # ltrace -c's table as function → calls.
    function Get-LtraceCount([string] $Program) {
        $log = Join-Path $Work 'ltrace.txt'
        & ltrace -c -o $log $Program | Out-Null
        $counts = @{}
        foreach ($line in Get-Content $log) {
            if ($line -match '^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\S+)\s*$' -and $Matches[2] -ne 'total') { $counts[$Matches[2]] = [int]$Matches[1] }
        }
        $counts
    }
    function Get-OwnProbes { @(Get-Content (Join-Path $TraceFs 'uprobe_events') | Where-Object { $_ -match "kerneldebug_$PID/" }) }
    function Get-OwnInstances { @(Get-ChildItem (Join-Path $TraceFs 'instances') -Name | Where-Object { $_ -like "kerneldebug_$($PID)_*" }) }
}

AfterAll {
    Remove-Item Env:KD_LIBCALL_TEST -ErrorAction Ignore
    Remove-Item -Recurse -Force $Work -ErrorAction Ignore
}

Describe 'Get-LibraryCallTrace' -Skip:(-not ($HasUprobes -and $HasGcc)) {
    It 'sees every call of a BIND_NOW, PLT-less program: 7 malloc, 5 free, 3 getenv, in order' {
        $calls = @(Get-LibraryCallTrace -Command $Now -Library libc -Function malloc, free, getenv)
        ($calls | Where-Object Function -eq malloc).Count | Should -Be 7
        ($calls | Where-Object Function -eq free).Count | Should -Be 5
        ($calls | Where-Object Function -eq getenv).Count | Should -Be 3
        ($calls.Function -join ' ') | Should -Be ((@('malloc') * 7 + @('free') * 5 + @('getenv') * 3) -join ' ')
        $calls[0].Library | Should -Be 'libc.so.6'
        $calls | ForEach-Object { $_.ProcessId | Should -Be $calls[0].ProcessId; $_.ThreadId | Should -Be $_.ProcessId }
    }

    It 'decodes arguments and return values by prototype, and pairs entry with return (malloc''s pointer is what free gets)' {
        $calls = @(Get-LibraryCallTrace -Command $Now -Function malloc, free, getenv)
        $mallocs = @($calls | Where-Object Function -eq malloc)
        $mallocs.ForEach({ $_.Arguments[0].Value }) | Should -Be (16..22 | ForEach-Object { [uint64]$_ })
        $mallocs[0].Arguments[0].Name | Should -Be 'size'
        $frees = @($calls | Where-Object Function -eq free)
        $frees.ForEach({ $_.Arguments[0].Raw }) | Should -Be ($mallocs[0..4].ForEach({ $_.ReturnRaw }))
        $frees[0].ReturnValue | Should -BeNullOrEmpty
        $g = @($calls | Where-Object Function -eq getenv)
        $g[0].Arguments[0].Name | Should -Be 'name'
        $g[0].Arguments[0].Value | Should -Be 'KD_LIBCALL_TEST'
        $g[0].Arguments[0].Raw | Should -BeGreaterThan 0
        $g[0].ReturnValue | Should -Be 'kd-value-42'
        $g[1].Arguments[0].Value | Should -Be 'KD_NO_SUCH_VAR_XYZ'
        $g[1].ReturnValue | Should -BeNullOrEmpty
        $g[1].ReturnRaw | Should -Be 0
        $g[1].ReturnText | Should -Be 'NULL'
        $calls | ForEach-Object { $_.Duration | Should -BeGreaterThan ([TimeSpan]::Zero) }
        $g[0].ToString() | Should -Be 'getenv("KD_LIBCALL_TEST") = "kd-value-42"'
    }

    It 'pairs calls per thread and names the process of each thread' {
        $threaded = Join-Path $Work 'threads.c'
        Set-Content $threaded @'
#include <pthread.h>
#include <stdlib.h>
static void *work(void *n) { for (long i = 0; i < (long)n; i++) free(malloc(100 + i)); return 0; }
int main(void) {
    pthread_t t[2];
    pthread_create(&t[0], 0, work, (void *)3L);
    pthread_create(&t[1], 0, work, (void *)4L);
    pthread_join(t[0], 0); pthread_join(t[1], 0);
    return 0;
}
'@
        $exe = Join-Path $Work 'threads'
        & gcc -O0 -pthread -o $exe $threaded
        $calls = @(Get-LibraryCallTrace -Command $exe -Function malloc | Where-Object { $_.Arguments[0].Value -ge 100 })
        $calls.Count | Should -Be 7
        $byThread = @($calls | Group-Object ThreadId | Sort-Object Count)
        $byThread.Count | Should -Be 2
        @($byThread | ForEach-Object Count) | Should -Be @(3, 4)
        @($calls.ProcessId | Sort-Object -Unique).Count | Should -Be 1
        $calls | ForEach-Object { $_.ThreadId | Should -Not -Be $_.ProcessId; $_.ReturnRaw | Should -BeGreaterThan 0 }
    }

    It 'completes -Function with the functions the library exports' {
        $line = 'Get-LibraryCallTrace -Command /bin/true -Function getenv'
        $names = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $names | Should -Contain 'getenv'
        $names | ForEach-Object { $_ | Should -BeLike 'getenv*' }
    }

    It 'expands -Function globs against the exported symbols, and refuses too many or none' {
        $calls = @(Get-LibraryCallTrace -Command $Now -Function 'geten?')
        $calls.Count | Should -Be 3
        { Get-LibraryCallTrace -Command $Now -Function 'str*', 'mem*', 'w*' -ErrorAction Stop } | Should -Throw -ErrorId 'TooManyLibraryFunctions,KernelDebug.Commands.GetLibraryCallTraceCommand'
        { Get-LibraryCallTrace -Command $Now -Function 'kd_no_such_function' -ErrorAction Stop } | Should -Throw -ErrorId 'LibraryFunctionNotFound,KernelDebug.Commands.GetLibraryCallTraceCommand'
        { Get-LibraryCallTrace -Command $Now -Function malloc -Library libkd_no_such -ErrorAction Stop } | Should -Throw -ErrorId 'LibraryNotFound,KernelDebug.Commands.GetLibraryCallTraceCommand'
    }

    It 'traces a running process by -ProcessId for -Duration' {
        $p = Start-Process -FilePath /bin/sh -ArgumentList '-c "while true; do /bin/true; sleep 0.05; done"' -PassThru
        try {
            Start-Sleep -Milliseconds 200
            $calls = @(Get-LibraryCallTrace -ProcessId $p.Id -Function getenv, malloc -Duration '00:00:01.5')
            $calls.Count | Should -BeGreaterThan 0
            # set_event_pid with event-fork: the shell and the children it forks, nothing else.
            ($calls | Where-Object ThreadId -eq $p.Id).Count | Should -BeGreaterThan 0
            # Filtered to the target's tree: this PowerShell's own (frequent) malloc calls are not there.
            $calls.ThreadId | Should -Not -Contain $PID
        }
        finally { Stop-Process -Id $p.Id -ErrorAction Ignore }
    }

    It 'traces an indirect function (IFUNC: glibc''s strlen) at the implementation the resolver picks, not at the resolver' {
        $source = Join-Path $Work 'ifunc.c'
        Set-Content $source @'
#include <string.h>
int main(int argc, char **argv) { size_t n = 0; for (int i = 1; i < argc; i++) n += strlen(argv[i]); return n == 0; }
'@
        $program = Join-Path $Work 'ifunc'
        & gcc -O0 -fno-builtin -o $program $source
        $calls = @(Get-LibraryCallTrace -Command $program -ArgumentList abc, hello, x -Function strlen -WarningVariable warnings)
        $warnings | Should -BeNullOrEmpty
        $calls.Count | Should -Be 3
        $calls.ForEach({ $_.Arguments[0].Value }) | Should -Be @('abc', 'hello', 'x')
        $calls.ForEach({ $_.ReturnValue }) | Should -Be @(3, 5, 1)
    }

    It 'removes its probes and instance when stopped mid-run (Ctrl+C)' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddCommand('Import-Module').AddArgument($env:KERNELDEBUG_MODULE_PATH).AddStatement().
                AddCommand('Get-LibraryCallTrace').AddParameter('Command', '/bin/sleep').AddParameter('ArgumentList', @('30')).AddParameter('Function', @('malloc', 'free'))
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while ((Get-OwnProbes).Count -lt 4 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            (Get-OwnProbes).Count | Should -Be 4
            @(Get-OwnInstances).Count | Should -Be 1
            $ps.Stop()
            try { $null = $ps.EndInvoke($async) } catch { }
        }
        finally { $ps.Dispose() }
        Get-OwnProbes | Should -BeNullOrEmpty
        Get-OwnInstances | Should -BeNullOrEmpty
    }

    It 'leaves no probes or instances behind, also after an error' {
        { Get-LibraryCallTrace -Command /nonexistent-kd-program -Function malloc } | Should -Throw
        Get-OwnProbes | Should -BeNullOrEmpty
        Get-OwnInstances | Should -BeNullOrEmpty
    }
}

Describe 'Probe placement (x86_64)' -Skip:(-not ($HasUprobes -and $HasGcc -and [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture -eq 'X64')) {
    BeforeAll {
        # Functions whose first instruction the kernel single-steps (test, endbr64, sub) or emulates (push), and one
        # entered past its first instruction by a jump from another function: its probe must stay at the entry.
        $source = Join-Path $Work 'placement.c'
        Set-Content $source @'
__asm__(
    ".text\n"
    ".globl kd_push\n .type kd_push,@function\nkd_push:\n push %rbp\n pop %rbp\n mov %rdi,%rax\n ret\n .size kd_push,.-kd_push\n"
    ".globl kd_test\n .type kd_test,@function\nkd_test:\n test %rdi,%rdi\n je 1f\n1: mov %rdi,%rax\n ret\n .size kd_test,.-kd_test\n"
    ".globl kd_endbr\n .type kd_endbr,@function\nkd_endbr:\n endbr64\n push %rbx\n pop %rbx\n mov %rdi,%rax\n ret\n .size kd_endbr,.-kd_endbr\n"
    ".globl kd_entered\n .type kd_entered,@function\nkd_entered:\n test %rdi,%rdi\n.Lkd_inside:\n je 1f\n1: mov %rdi,%rax\n ret\n .size kd_entered,.-kd_entered\n"
    ".globl kd_tail\n .type kd_tail,@function\nkd_tail:\n xor %eax,%eax\n cmp %rax,%rdi\n jmp .Lkd_inside\n .size kd_tail,.-kd_tail\n"
    ".globl kd_sub\n .type kd_sub,@function\nkd_sub:\n sub $8,%rsp\n add $8,%rsp\n jmp 1f\n1: mov %rdi,%rax\n ret\n .size kd_sub,.-kd_sub\n"
    ".globl kd_argreg\n .type kd_argreg,@function\nkd_argreg:\n mov $7,%esi\n jmp 1f\n1: mov %rdi,%rax\n ret\n .size kd_argreg,.-kd_argreg\n"
);
long kd_push(long), kd_test(long), kd_endbr(long), kd_entered(long), kd_tail(long), kd_sub(long), kd_argreg(long);
int main(void) {
    long s = 0;
    for (long i = 1; i <= 3; i++) s += kd_push(i);
    for (long i = 1; i <= 4; i++) s += kd_test(100 + i);
    for (long i = 1; i <= 5; i++) s += kd_endbr(i);
    for (long i = 1; i <= 2; i++) s += kd_entered(i);
    for (long i = 1; i <= 3; i++) s += kd_tail(i);
    for (long i = 1; i <= 2; i++) s += kd_sub(i);
    s += kd_argreg(1);
    return s == 0;
}
'@
        $script:Placement = Join-Path $Work 'placement'
        & gcc -O1 -rdynamic -o $Placement $source
        $script:PlacementLog = Measure-LibraryCall -Command $Placement -Library $Placement -Function kd_* -Verbose 4>&1
    }

    It 'moves a probe past a safe prefix to an emulated instruction, and keeps it at the entry otherwise' {
        $verbose = @($PlacementLog | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $verbose | Should -Contain 'kd_push: probes at +0 (push, emulated by the kernel).'
        $verbose | Should -Contain 'kd_test: probes at +3 (je, emulated by the kernel).'
        $verbose | Should -Contain 'kd_endbr: probes at +4 (push, emulated by the kernel).'
        # A jump from kd_tail lands at +3: moving there would count kd_tail's calls as kd_entered's.
        $verbose | Should -Contain 'kd_entered: probes at +0 (test, single-stepped out of line).'
        $verbose | Should -Contain 'kd_sub: probes at +0 (sub, single-stepped out of line).'
        $verbose | Should -Contain 'kd_argreg: probes at +0 (mov, single-stepped out of line).'
    }

    It 'still counts each call exactly once' {
        $counts = @{}
        $PlacementLog | Where-Object { $_ -is [KernelDebug.LibraryCallSummary] } | ForEach-Object { $counts[$_.Function] = $_.Calls }
        $counts['kd_push'] | Should -Be 3
        $counts['kd_test'] | Should -Be 4
        $counts['kd_endbr'] | Should -Be 5
        $counts['kd_entered'] | Should -Be 2
        $counts['kd_tail'] | Should -Be 3
        $counts['kd_sub'] | Should -Be 2
        $counts['kd_argreg'] | Should -Be 1
    }

    It 'fetches the arguments and return value at a moved probe' {
        $calls = @(Get-LibraryCallTrace -Command $Placement -Library $Placement -Function kd_test)
        $calls.Count | Should -Be 4
        $calls.ForEach({ $_.Arguments[0].Raw }) | Should -Be @(101, 102, 103, 104)
        $calls.ForEach({ $_.ReturnRaw }) | Should -Be @(101, 102, 103, 104)
    }
}

Describe 'Orphan sweep' -Skip:(-not $HasUprobes) {
    BeforeAll {
        function Get-ProbesOf([int] $Owner) { @(Get-Content (Join-Path $TraceFs 'uprobe_events') | Where-Object { $_ -match "kerneldebug_$Owner/" }) }
        function Get-InstancesOf([int] $Owner) { @(Get-ChildItem (Join-Path $TraceFs 'instances') -Name | Where-Object { $_ -like "kerneldebug_$($Owner)_*" }) }
        function Start-ChildPwsh([string] $Command) {
            # As Invoke-ChildPwsh, but not waited for.
            $self = [Environment]::ProcessPath
            $info = [Diagnostics.ProcessStartInfo]::new($self)
            if ((Split-Path $self -Leaf) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
            foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $Command) { $info.ArgumentList.Add($a) }
            $info.RedirectStandardOutput = $true
            [Diagnostics.Process]::Start($info)
        }
    }

    It 'removes the probes and instance of a pwsh killed mid-trace (SIGKILL), and keeps those of live processes' {
        $sleeper = Start-Process /bin/sleep -ArgumentList 120 -PassThru
        $live = $reused = $null
        try {
            $child = Start-ChildPwsh "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Get-LibraryCallTrace -ProcessId $($sleeper.Id) -Function malloc, free | Out-Null"
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (((Get-ProbesOf $child.Id).Count -lt 4 -or (Get-InstancesOf $child.Id).Count -lt 1) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            (Get-ProbesOf $child.Id).Count | Should -Be 4
            $orphans = @(Get-InstancesOf $child.Id)
            $orphans.Count | Should -Be 1
            $child.Kill()   # SIGKILL: no cleanup runs in the child
            $child.WaitForExit()
            (Get-ProbesOf $child.Id).Count | Should -Be 4 -Because 'a killed session cannot clean up'

            # An instance of a live process (the sleeper, started before it was made) stays; one made before the sleeper
            # started (backdated) was another process's that had the same pid, and goes.
            $live = New-Item -ItemType Directory (Join-Path $TraceFs "instances/kerneldebug_$($sleeper.Id)_1")
            $reused = New-Item -ItemType Directory (Join-Path $TraceFs "instances/kerneldebug_$($sleeper.Id)_2")
            $reused.LastWriteTimeUtc = [DateTime]::UtcNow.AddDays(-1)
            $log = @(Measure-LibraryCall -Command /bin/true -Function malloc -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
            $log | Should -Contain "Removed the instance $($orphans[0]) left by process $($child.Id), which is gone."
            @($log | Where-Object { $_ -like "Removed the probe kerneldebug_$($child.Id)/* left by process $($child.Id), which is gone." }).Count | Should -Be 4
            Get-ProbesOf $child.Id | Should -BeNullOrEmpty
            Get-InstancesOf $child.Id | Should -BeNullOrEmpty
            Test-Path $live.FullName | Should -BeTrue
            $log | Should -Contain "Removed the instance kerneldebug_$($sleeper.Id)_2 left by process $($sleeper.Id), whose pid now belongs to a process started after it was made."
            Test-Path $reused.FullName | Should -BeFalse
        }
        finally {
            foreach ($made in $live, $reused) { if ($made -and (Test-Path $made.FullName)) { [IO.Directory]::Delete($made.FullName) } }
            Stop-Process -Id $sleeper.Id -ErrorAction Ignore
        }
    }
}

Describe 'Measure-LibraryCall' -Skip:(-not ($HasUprobes -and $HasGcc -and $HasLtrace)) {
    It 'counts calls as ltrace -c does on the lazy-binding build' {
        $theirs = Get-LtraceCount $Lazy
        $theirs['malloc'] | Should -Be 7
        $ours = @(Measure-LibraryCall -Command $Lazy -Function malloc, free, getenv)
        foreach ($f in 'malloc', 'free', 'getenv') { ($ours | Where-Object Function -eq $f).Calls | Should -Be $theirs[$f] -Because $f }
        [Math]::Round(($ours | Measure-Object Percent -Sum).Sum) | Should -Be 100
        $ours | ForEach-Object { $_.AverageTime.Ticks | Should -Be ([long][Math]::Truncate($_.TotalTime.Ticks / $_.Calls)) }
    }

    It 'counts the BIND_NOW, PLT-less build where ltrace sees nothing' {
        (Get-LtraceCount $Now).Count | Should -Be 0
        $ours = @(Measure-LibraryCall -Command $Now -Function malloc, free, getenv)
        ($ours | Where-Object Function -eq malloc).Calls | Should -Be 7
        ($ours | Where-Object Function -eq free).Calls | Should -Be 5
        ($ours | Where-Object Function -eq getenv).Calls | Should -Be 3
        Get-OwnProbes | Should -BeNullOrEmpty
        Get-OwnInstances | Should -BeNullOrEmpty
    }
}
