# Every "### Example N" code block of docs/en-US/<Cmdlet>.md runs here, each in a fresh runspace with the built module
# imported, its location a fixture folder (perf.data, ./myprog, ./console.log, ...), with a time limit, and must end
# without an error. An example this host cannot run is skipped with its reason: a kernel feature it needs (checked
# live, so the same example runs where the feature is there) or a reason in the table below. Whatever an example
# creates in the kernel (instances, probes, recordings) is removed after it, and the test checks that nothing is left.

BeforeDiscovery {
    $docs = Join-Path $PSScriptRoot '../../docs/en-US'
    $script:Examples = foreach ($file in Get-ChildItem $docs -Filter '*.md' | Where-Object Name -notlike 'about_*' | Sort-Object Name) {
        $text = Get-Content $file.FullName -Raw
        foreach ($m in [regex]::Matches($text, '(?m)^### Example (\d+)(?:: *([^\r\n]*))?\r?\n+```\w*\r?\n(.*?)```', 'Singleline')) {
            @{ Key = "$($file.BaseName)#$($m.Groups[1].Value)"; Title = $m.Groups[2].Value.Trim(); Code = $m.Groups[3].Value }
        }
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')

    # Per example: Needs (capabilities that must be available, else skipped with their Detail), Skip (a reason),
    # Replace (text substitutions that put this host's objects in place of the example's placeholders: its pid 1234,
    # nginx, BPF ids...), AllowError (the example shows an error on purpose), Timeout (seconds).
    # Every example's -Duration/-Timeout longer than a second is shortened to one second (the runs stay short).
    $script:Table = @{
        'Clear-KmemleakReport#1'   = @{ Needs = 'Kmemleak' }
        'Enable-TraceEvent#2'      = @{ AllowError = 'shows the kernel rejecting a filter (prev_pid == abc)' }
        # The BPF ids and names are those of a bpftrace this test runs (its program and per-CPU count map).
        'Get-BpfMap#2'             = @{ Needs = 'Bpftrace'; Replace = @{ '-Id 42' = '-Id $BpfProgramId' } }
        'Get-BpfProgram#2'         = @{ Needs = 'Bpftrace'; Replace = @{ '-Id 42' = '-Id $BpfProgramId' } }
        'Clear-FtraceFilter#1'     = @{ Needs = 'FunctionTracer' }
        'Clear-FtraceFilter#2'     = @{ Needs = 'FunctionTracer' }
        'Get-FtraceFilter#1'       = @{ Needs = 'FunctionTracer' }
        'Get-FtraceFilter#2'       = @{ Needs = 'FunctionGraphTracer' }
        'Get-KasanReport#2'        = @{ AllowError = 'must fail on a kernel without KASAN (MemoryErrorDetectorMissing), as on this host; where KASAN is built in it runs clean' }
        'Get-KasanReport#4'        = @{ Skip = 'follows the kernel log until a KASAN or KFENCE report appears; this test triggers none (KernelVm.Memory tests do, in the debug kernel)' }
        'Get-KasanReport#5'        = @{ Skip = 'follows the kernel log until a KASAN or KFENCE report appears; this test triggers none (KernelVm.Memory tests do, in the debug kernel)' }
        'Invoke-KernelDebugHealthCheck#2' = @{ AllowError = 'throws where a memory detector is missing (-RequireDetector makes that a failure), as on this host; where all are built in and quiet it runs clean' }
        'Invoke-KernelDebugHealthCheck#3' = @{ Replace = @{ './workload.sh' = './workload' } }
        'Invoke-KernelDebugHealthCheck#4' = @{ Skip = 'needs PSSessions to a fleet ($sessions); Remoting.Tests.ps1 runs this fan-out over two sshd on loopback' }
        'Get-KernelLog#3'          = @{ Skip = 'follows the kernel log until a USB device logs a message, which nothing here makes happen' }
        'Get-KmemleakReport#1'     = @{ Needs = 'Kmemleak' }
        'Get-KmemleakReport#2'     = @{ Needs = 'Kmemleak' }
        'Get-Kprobe#1'             = @{ Needs = 'Kprobes' }
        'Get-Kprobe#2'             = @{ Needs = 'Kprobes' }
        'Get-LibraryCallTrace#3'   = @{ Replace = @{ 'Get-Process -Name myservice' = 'Get-Process -Id $LivePid' } }
        'Get-TraceHistogram#1'     = @{ Needs = 'HistTriggers' }
        'New-TraceHistogram#1'     = @{ Needs = 'HistTriggers' }
        'New-TraceHistogram#2'     = @{ Needs = 'HistTriggers' }
        'New-TraceHistogram#3'     = @{ Skip = 'a fragment: it continues a session whose $i has a sched_waking trigger setting ts0 (KernelVm.Hist.Tests.ps1 runs this onmax/save case)' }
        'Clear-TraceHistogram#1'   = @{ Needs = 'HistTriggers' }
        'Suspend-TraceHistogram#1' = @{ Needs = 'HistTriggers' }
        'Resume-TraceHistogram#1'  = @{ Needs = 'HistTriggers' }
        'Remove-TraceHistogram#1'  = @{ Needs = 'HistTriggers' }
        'New-SyntheticEvent#1'     = @{ Needs = 'HistTriggers' }
        'Get-SyntheticEvent#1'     = @{ Needs = 'HistTriggers' }
        'Remove-SyntheticEvent#1'  = @{ Needs = 'HistTriggers' }
        'Measure-WakeupLatency#1'  = @{ Needs = 'HistTriggers' }
        'Measure-WakeupLatency#2'  = @{ Needs = 'HistTriggers' }
        'Get-SyscallTrace#2'       = @{ Replace = @{ 'Get-Process -Name sshd' = 'Get-Process -Id $LivePid' } }
        'Get-SyscallTrace#3'       = @{ Replace = @{ '1234' = '$LivePid' } }
        'Invoke-Ftrace#3'          = @{ Needs = 'FunctionGraphTracer' }
        'Invoke-Ftrace#4'          = @{ Needs = 'FunctionGraphTracer' }
        'Invoke-KmemleakScan#1'    = @{ Needs = 'Kmemleak' }
        'Invoke-KmemleakScan#2'    = @{ Needs = 'Kmemleak' }
        'Invoke-SystemTap#1'       = @{ Needs = 'SystemTap' }
        'Invoke-SystemTap#2'       = @{ Needs = 'SystemTap' }
        'Measure-LibraryCall#2'    = @{ Replace = @{ '1234' = '$LivePid' } }
        'Measure-PerfCounter#3'    = @{ Replace = @{ 'Get-Process nginx' = 'Get-Process -Id $LivePid' } }
        'Measure-Syscall#2'        = @{ Replace = @{ '1234' = '$LivePid' } }
        'Get-SyscallTrace#9'       = @{ Needs = 'SyscallEngine' }
        'Measure-Syscall#5'        = @{ Needs = 'MeasureSyscallEngine' }
        'Measure-Syscall#6'        = @{ Needs = 'MeasureSyscallEngine' }
        'New-Eprobe#1'             = @{ Needs = 'Eprobes' }
        'New-Fprobe#1'             = @{ Needs = 'Fprobes' }
        'New-Fprobe#2'             = @{ Needs = 'Fprobes' }
        'New-Kprobe#1'             = @{ Needs = 'Kprobes' }
        'New-Kprobe#2'             = @{ Needs = 'Kprobes'; AllowError = 'shows the kernel rejecting a probe argument (%foo)' }
        'New-Uprobe#1'             = @{ Skip = 'streams until Ctrl+C while someone types lines into an interactive bash (needs a terminal)' }
        'Read-BpfMap#1'            = @{ Needs = 'Bpftrace'; Replace = @{ '-Id 12' = '-Id $BpfMapId' } }
        'Read-BpfMap#2'            = @{ Needs = 'Bpftrace'; Replace = @{ 'my_prog' = '$BpfProgramName' } }
        'Read-BpfMap#3'            = @{ Needs = 'Bpftrace'; Replace = @{ '-Id 14' = '-Id $BpfMapId' } }
        'Remove-FtraceInstance#1'  = @{ Replace = @{ 'kerneldebug_4242_1' = '$i' } }
        'Remove-Kprobe#1'          = @{ Needs = 'Kprobes' }
        'Remove-Kprobe#2'          = @{ Needs = 'Kprobes' }
        'Set-FtraceFilter#1'       = @{ Needs = 'FunctionTracer' }
        'Set-FtraceFilter#2'       = @{ Needs = 'FunctionTracer' }
        'Set-FtraceTracer#1'       = @{ Needs = 'FunctionGraphTracer' }
        'Set-KmemleakOption#1'     = @{ Needs = 'Kmemleak' }
        'Set-KmemleakOption#2'     = @{ Needs = 'Kmemleak' }
        'Set-KmemleakOption#3'     = @{ Skip = 'turns kmemleak off until the next boot' }
        'Start-PerfRecord#2'       = @{ Replace = @{ 'Get-Process nginx' = 'Get-Process -Id $LivePid' } }
        'Stop-PerfRecord#1'        = @{ Replace = @{ 'Start-Sleep 5' = 'Start-Sleep 1' } }
        'Stop-PerfRecord#2'        = @{ Replace = @{ '-Id 3' = '-Id $r.Id' } }
        'Test-KernelDebugCapability#1' = @{ Skip = 'a Pester It block: it runs inside a test file under Invoke-Pester, as Capability.Tests.ps1 does' }
        'Watch-PerfTop#2'          = @{ Skip = 'a live view without -Duration: it refreshes until Ctrl+C' }
    }

    $script:Capabilities = @{}
    foreach ($c in Get-KernelDebugCapability) { $Capabilities[$c.Name] = $c }

    # The fixture folder every example starts in.
    $script:Fixture = Join-Path ([IO.Path]::GetTempPath()) "kd-examples-$PID"
    New-Item -ItemType Directory -Path $Fixture, (Join-Path $Fixture 'build') -Force | Out-Null
    & gcc -O1 -fno-omit-frame-pointer -g -o (Join-Path $Fixture 'myprog') (Join-Path $RepoRoot 'tests/fixtures/perf/workload.c') '-DUNUSED'
    Copy-Item (Join-Path $Fixture 'myprog') (Join-Path $Fixture 'build/app')
    Copy-Item /usr/bin/env (Join-Path $Fixture 'app')
    Set-Content (Join-Path $Fixture 'workload') "#!/bin/sh`nexec /bin/true"
    Set-Content (Join-Path $Fixture 'hello.c') "int main(void) { return 0; }"
    Set-Content (Join-Path $Fixture 'input.txt') 'input'
    Set-Content (Join-Path $Fixture 'big.log') ((1..2000 | ForEach-Object { "line $_" }) -join "`n")
    Set-Content (Join-Path $Fixture 'Makefile') "all:`n`t/bin/true"
    & chmod +x (Join-Path $Fixture 'workload')
    $memory = Join-Path $RepoRoot 'tests/fixtures/memory'
    Copy-Item (Join-Path $memory 'kasan-syzbot-4.19-global-oob-console.txt') (Join-Path $Fixture 'console.log')
    Copy-Item (Join-Path $memory 'kasan-6.1-lkdtm.txt') (Join-Path $Fixture 'kasan.txt')
    Copy-Item (Join-Path $memory 'kmemleak-doc.txt') (Join-Path $Fixture 'kmemleak.txt')
    Copy-Item (Join-Path $RepoRoot 'tests/fixtures/ftrace/tracedat/sched-syscalls-v7-zstd.dat') (Join-Path $Fixture 'trace.dat')
    Copy-Item (Join-Path $RepoRoot 'tests/fixtures/ftrace/hist/kd-debug-6.1-execname.hist') (Join-Path $Fixture 'hist.txt')
    Push-Location $Fixture
    try { $null = Start-PerfRecord -Command ./myprog -CallGraph FramePointer -Wait -ProgressAction SilentlyContinue } finally { Pop-Location }

    # The process the -ProcessId examples attach to, making socket and malloc calls in a loop. Started through sh,
    # so that it is not a child of this process (ptrace refuses those: .NET reaps its own children).
    $script:LivePid = [int](& /bin/sh -c 'python3 -c "import socket, time; [(socket.socket().close(), time.sleep(0.05)) for _ in iter(int, 1)]" </dev/null >/dev/null 2>&1 & echo $!')
    # A BPF program and per-CPU map that stay loaded while the examples run: a bpftrace counting getpid calls.
    $script:Bpftrace = $null
    $prog = $map = $null
    if ($Capabilities['Bpftrace'].Available) {
        $lastId = (Get-BpfProgram | Measure-Object Id -Maximum).Maximum
        $log = Join-Path $Fixture 'bpftrace.out'
        $script:Bpftrace = Start-Process bpftrace -ArgumentList '-e', '"tracepoint:syscalls:sys_enter_getpid { @calls = count(); }"' -RedirectStandardOutput $log -PassThru
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not $prog -and [DateTime]::UtcNow -lt $deadline -and -not $Bpftrace.HasExited) {
            Start-Sleep -Milliseconds 200
            $prog = Get-BpfProgram | Where-Object { $_.Id -gt $lastId -and $_.MapIds } | Where-Object { Get-BpfMap -Id $_.MapIds | Where-Object Type -like 'percpu*' } | Select-Object -First 1
        }
        if ($prog) { $map = Get-BpfMap -Id $prog.MapIds | Where-Object Type -like 'percpu*' | Select-Object -First 1 }
    }
    $script:Variables = @{
        LivePid = $LivePid; BpfProgramId = $prog.Id; BpfProgramName = $prog.Name; BpfMapId = $map.Id
    }

    function script:Get-KernelObjects([string] $Code) {
        # What an example could leave behind: this process's instances (and one it names), and its dynamic events:
        # those of this process's group, and those it names in the module's default group (other sessions' are not ours).
        $named = { param($name) $Code -match "(?<![\w-])$([regex]::Escape($name))(?![\w-])" }
        @(Get-FtraceInstance | Where-Object { $_.OwnerProcessId -eq $PID -or (& $named $_.Name) } | ForEach-Object { "instance $($_.Name)" }) +
        @(Get-DynamicEvent -Owned | Where-Object { $_.Group -eq "kerneldebug_$PID" -or ($_.Group -eq 'kerneldebug' -and (& $named $_.Name)) } |
            ForEach-Object { "event $($_.Group)/$($_.Name)" })
    }

    function script:Remove-KernelObjects([string[]] $Names) {
        Get-DynamicEvent -Owned | Where-Object { "event $($_.Group)/$($_.Name)" -in $Names } | Remove-DynamicEvent -Force -ErrorAction Continue
        Get-FtraceInstance | Where-Object { "instance $($_.Name)" -in $Names } | Remove-FtraceInstance -ErrorAction Continue
    }

    function script:Invoke-Example([hashtable] $Example, [hashtable] $Entry) {
        $code = $Example.Code
        if ($Entry.Replace) { foreach ($k in $Entry.Replace.Keys) { $code = $code.Replace($k, $Entry.Replace[$k]) } }
        $code = [regex]::Replace($code, '-(Duration|Timeout) \d\d:\d\d:\d\d', '-$1 00:00:01')
        # Variables the example uses without making them: an instance $i, a recording $r.
        $prelude = [Text.StringBuilder]::new()
        if ($code -match '\$i\b' -and $code -notmatch '\$i\s*=') { [void]$prelude.AppendLine('$i = New-FtraceInstance') }
        if ($code -match '\$r\b' -and $code -notmatch '\$r\s*=') { [void]$prelude.AppendLine('$r = Start-PerfRecord -Command ./myprog -Path prelude.data') }
        # The module's Should operator, dot-sourced as about_KernelDebug_HealthChecks tells users to.
        if ($code -match 'HaveNoMemoryErrors') { [void]$prelude.AppendLine(". (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')") }
        [void]$prelude.AppendLine('function Invoke-MyLoadTest { Start-Sleep -Milliseconds 300 }  # stands for the user''s load test')

        $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        # Examples with a Should operator or the health-check suite need Pester, as a user running them has it.
        if ($code -match '\bShould\b|Invoke-KernelDebugHealthCheck') { $iss.ImportPSModule((Join-Path (Get-Module Pester | Select-Object -First 1).ModuleBase 'Pester.psd1')) }
        $iss.ImportPSModule($env:KERNELDEBUG_MODULE_PATH)
        $rs = [Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($iss)
        $rs.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        try {
            $rs.SessionStateProxy.Path.SetLocation($Fixture) | Out-Null
            foreach ($k in $Variables.Keys) { $rs.SessionStateProxy.SetVariable($k, $Variables[$k]) }
            $rs.SessionStateProxy.SetVariable('ProgressPreference', 'SilentlyContinue')
            $null = $ps.AddScript($prelude.ToString() + $code + "`n" +
                '$r | Where-Object State -eq Running | Stop-PerfRecord; if ($i -and (Get-FtraceInstance | Where-Object Name -eq $i.Name)) { Remove-FtraceInstance $i }')
            $async = $ps.BeginInvoke()
            $limit = if ($Entry.Timeout) { $Entry.Timeout } else { 60 }
            $finished = $async.AsyncWaitHandle.WaitOne([TimeSpan]::FromSeconds($limit))
            if (-not $finished) { $ps.Stop() }
            $errors = @()
            try { $null = $ps.EndInvoke($async) } catch { $errors += $_.Exception.InnerException ?? $_.Exception }
            # A native program's stderr lines (perf record's summary) arrive as errors in a hosted runspace: not the example's.
            $errors += @($ps.Streams.Error | Where-Object FullyQualifiedErrorId -ne 'NativeCommandError' | Where-Object { $_.Exception -isnot [Management.Automation.RemoteException] })
            [pscustomobject]@{ Finished = $finished; Errors = $errors; Code = $code; Limit = $limit }
        }
        finally {
            $ps.Dispose()
            $rs.Dispose()
        }
    }
}

AfterAll {
    if ($LivePid) { Stop-Process -Id $LivePid -ErrorAction Ignore }
    if ($Bpftrace) { Stop-Process -Id $Bpftrace.Id -ErrorAction Ignore; $Bpftrace.WaitForExit(10000) | Out-Null }
    # Whatever an example (or a failed one) left: this process's dynamic events and instances.
    Get-DynamicEvent -Group "kerneldebug_$PID" | Remove-DynamicEvent -Force -ErrorAction Continue
    Get-FtraceInstance | Where-Object OwnerProcessId -eq $PID | Remove-FtraceInstance -ErrorAction Continue
    if ($Fixture) { Remove-Item $Fixture -Recurse -Force -ErrorAction Ignore }
}

Describe 'Help examples' {
    It '<Key>: <Title>' -ForEach $Examples {
        $entry = $Table[$Key] ?? @{}
        if ($entry.Skip) { Set-ItResult -Skipped -Because $entry.Skip; return }
        foreach ($need in @($entry.Needs)) {
            if ($need -and -not $Capabilities[$need].Available) {
                Set-ItResult -Skipped -Because "needs $need, which this host lacks: $($Capabilities[$need].Detail)"
                return
            }
        }
        $before = Get-KernelObjects $Code
        $run = Invoke-Example $_ $entry
        # What the example made and kept (a probe, a named instance) is removed here, also when it failed.
        $made = @(Get-KernelObjects $Code | Where-Object { $_ -notin $before })
        if ($made) { Remove-KernelObjects $made }
        $left = @(Get-KernelObjects $Code | Where-Object { $_ -notin $before })

        $run.Finished | Should -BeTrue -Because "the example should end within $($run.Limit) s: $($run.Code)"
        if (-not $entry.AllowError) {
            $run.Errors | Should -BeNullOrEmpty -Because "the example should run without an error: $($run.Code)"
        }
        $left | Should -BeNullOrEmpty -Because 'what an example creates in the kernel can be removed'
    }
}
