BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:CanPtrace = Test-KernelDebugCapability Ptrace
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
    $script:HasGcc = [bool](Get-Command gcc -CommandType Application -ErrorAction Ignore)
    $script:HasScript = [bool](Get-Command script -CommandType Application -ErrorAction Ignore)
    $script:HasBpftrace = [bool](Get-Command bpftrace -CommandType Application -ErrorAction Ignore)
    # The cmdlets that start a program with -Command, and what each needs besides it.
    $script:LaunchCmdlets = @(
        @{ Cmdlet = 'Get-SyscallTrace' }, @{ Cmdlet = 'Measure-Syscall' },
        @{ Cmdlet = 'Get-LibraryCallTrace' }, @{ Cmdlet = 'Measure-LibraryCall' },
        @{ Cmdlet = 'Measure-PerfCounter' }, @{ Cmdlet = 'Start-PerfRecord' }, @{ Cmdlet = 'Invoke-Ftrace' }
    )
    $script:Contexts = @(@{ Context = 'Start-Job' }, @{ Context = 'Start-ThreadJob' }, @{ Context = 'ForEach-Object -Parallel' })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-streams-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null
    # A program that writes to both streams: out:<tag> on stdout, err:<tag> on stderr; with 'stdin' it first echoes
    # each stdin line as in:<line>; a third argument adds that many 50-byte lines to stdout. Dynamically linked, so
    # the library-call cmdlets find puts in its libc.
    $source = Join-Path $Work 'streams.c'
    Set-Content $source @'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "x";
    char line[256], out[300];
    if (argc > 2 && strcmp(argv[2], "stdin") == 0)
        while (fgets(line, sizeof line, stdin)) { line[strcspn(line, "\n")] = 0; printf("in:%s\n", line); }
    snprintf(out, sizeof out, "out:%s", tag);
    puts(out);
    fflush(stdout);
    fprintf(stderr, "err:%s\n", tag);
    long n = argc > 3 ? atol(argv[3]) : 0;
    for (long i = 0; i < n; i++) printf("line %08ld .........................................\n", i);
    return 0;
}
'@
    if (Get-Command gcc -CommandType Application -ErrorAction Ignore) { & gcc -O0 -o (Join-Path $Work 'streams') $source }
    $script:Prog = Join-Path $Work 'streams'

    # Runs each -Command cmdlet on the program and reports what reached -InformationVariable (as plain strings, so a
    # job hands them back intact). Text, not a script block: ForEach-Object -Parallel takes no script block by $using.
    $script:RunAllText = @'
param($ModulePath, $Prog, $Tag, $Work)
Import-Module $ModulePath
foreach ($name in 'Get-SyscallTrace', 'Measure-Syscall', 'Get-LibraryCallTrace', 'Measure-LibraryCall', 'Measure-PerfCounter', 'Start-PerfRecord', 'Invoke-Ftrace') {
    $extra = switch ($name) {
        'Get-LibraryCallTrace' { @{ Function = 'puts' } }
        'Measure-LibraryCall' { @{ Function = 'puts' } }
        'Measure-PerfCounter' { @{ Event = 'task-clock' } }
        'Start-PerfRecord' { @{ Path = (Join-Path $Work "$Tag.data"); Wait = $true } }
        'Invoke-Ftrace' { @{ Event = 'sched:sched_process_exit' } }
        default { @{} }
    }
    $info = $null; $problems = $null
    $out = @(& $name -Command $Prog -ArgumentList "$Tag-$name" @extra -InformationVariable info -ErrorVariable problems -ErrorAction SilentlyContinue)
    [pscustomobject]@{
        Cmdlet = $name
        Objects = $out.Count
        Stdout = @($info | Where-Object { $_.Tags -contains 'stdout' } | ForEach-Object { "$($_.MessageData)" })
        Stderr = @($info | Where-Object { $_.Tags -contains 'stderr' } | ForEach-Object { "$($_.MessageData)" })
        Errors = @($problems | ForEach-Object { "$_" })
    }
}
'@
    $script:RunAll = [scriptblock]::Create($RunAllText)
    $script:Results = @{}
}

AfterAll {
    Get-Job | Where-Object Name -like 'kd-streams-*' | Remove-Job -Force -ErrorAction Ignore
    Remove-Item -Recurse -Force $Work -ErrorAction Ignore
}

Describe 'The program''s streams without a terminal' -Skip:(-not ($CanPtrace -and $HasUprobes -and $HasGcc)) {
    BeforeAll {
        $modulePath = $env:KERNELDEBUG_MODULE_PATH
        $job = Start-Job -Name kd-streams-job -ScriptBlock $RunAll -ArgumentList $modulePath, $Prog, 'job', $Work
        $thread = Start-ThreadJob -Name kd-streams-thread -ScriptBlock $RunAll -ArgumentList $modulePath, $Prog, 'thread', $Work
        $script:Results['ForEach-Object -Parallel'] = @('parallel' | ForEach-Object -Parallel {
                & ([scriptblock]::Create($using:RunAllText)) $using:modulePath $using:Prog $_ $using:Work
            })
        foreach ($j in $job, $thread) { $null = $j | Wait-Job -Timeout 300 }
        $script:JobStates = @{ 'Start-Job' = "$($job.State)"; 'Start-ThreadJob' = "$($thread.State)"; 'ForEach-Object -Parallel' = 'Completed' }
        $script:Results['Start-Job'] = @(Receive-Job $job)
        $script:Results['Start-ThreadJob'] = @(Receive-Job $thread)
        $script:Tags = @{ 'Start-Job' = 'job'; 'Start-ThreadJob' = 'thread'; 'ForEach-Object -Parallel' = 'parallel' }
    }

    It '<Context> completes and hands back only the result objects' -ForEach $Contexts {
        $JobStates[$Context] | Should -Be 'Completed'
        $r = $Results[$Context]
        $r | Should -HaveCount 7 -Because 'the job''s output holds our objects and nothing the programs wrote'
        $r | ForEach-Object { $_.PSObject.Properties.Name | Should -Contain 'Cmdlet' }
    }

    It '<Cmdlet> in <Context>: stdout and stderr arrive in -InformationVariable, tagged' -ForEach @(
        foreach ($c in $Contexts) { foreach ($l in $LaunchCmdlets) { @{ Context = $c.Context; Cmdlet = $l.Cmdlet } } }
    ) {
        $row = $Results[$Context] | Where-Object Cmdlet -eq $Cmdlet
        $row | Should -Not -BeNullOrEmpty
        $row.Errors | Should -BeNullOrEmpty
        $tag = "$($Tags[$Context])-$Cmdlet"
        @($row.Stdout) | Should -Be @("out:$tag")
        @($row.Stderr) | Should -Be @("err:$tag")
    }

    It 'a pwsh whose output is redirected (-NonInteractive) writes none of the programs'' output to its own stdout or stderr' {
        Set-Content (Join-Path $Work 'runall.ps1') $RunAllText
        $script = Join-Path $Work 'redirected.ps1'
        Set-Content $script '& (Join-Path $PSScriptRoot runall.ps1) @args | ForEach-Object { "{0} {1} {2}" -f $_.Cmdlet, @($_.Stdout).Count, @($_.Stderr).Count }'
        $raw = @(Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', $script, $env:KERNELDEBUG_MODULE_PATH, $Prog, 'raw', $Work) 2>&1 | ForEach-Object { "$_" })
        $raw | Should -Be @('Get-SyscallTrace 1 1', 'Measure-Syscall 1 1', 'Get-LibraryCallTrace 1 1', 'Measure-LibraryCall 1 1', 'Measure-PerfCounter 1 1', 'Start-PerfRecord 1 1', 'Invoke-Ftrace 1 1')
        ($raw -join "`n") | Should -Not -Match 'out:raw|err:raw'
    }

    It '<Cmdlet> reads 1 MB of stdout without stalling the tracer' -ForEach @(
        @{ Cmdlet = 'Get-SyscallTrace'; Extra = @{ Syscall = 'write' } }, @{ Cmdlet = 'Get-LibraryCallTrace'; Extra = @{ Function = 'puts' } },
        @{ Cmdlet = 'Measure-PerfCounter'; Extra = @{ Event = 'task-clock' } }, @{ Cmdlet = 'Invoke-Ftrace'; Extra = @{ Event = 'sched:sched_process_exit' } }
    ) {
        $objects = @(& $Cmdlet -Command $Prog -ArgumentList big, x, 20000 @Extra -InformationVariable info)
        $lines = @($info | Where-Object { $_.Tags -contains 'stdout' })
        $lines.Count | Should -Be 20001
        "$($lines[-1].MessageData)" | Should -BeLike 'line 00019999 *'
        @($info | Where-Object { $_.Tags -contains 'stderr' }).Count | Should -Be 1
        $objects.Count | Should -BeGreaterThan 0
        if ($Cmdlet -eq 'Get-SyscallTrace') {
            # Every write of the program was traced, each of them complete (the pipe never made the tracer drop one).
            $written = ($objects | Where-Object { $_.Name -eq 'write' -and $_.Arguments[0].Raw -eq 1 } | Measure-Object -Property ReturnValue -Sum).Sum
            $written | Should -Be ((20000 * ("$($lines[-1].MessageData)".Length + 1)) + 'out:big'.Length + 1)
        }
    }
}

Describe 'Redirection parameters' -Skip:(-not ($CanPtrace -and $HasGcc)) {
    It '<Cmdlet> writes -RedirectStandardOutput and -RedirectStandardError files and nothing to the Information stream' -ForEach $LaunchCmdlets {
        if ($Cmdlet -like '*LibraryCall*' -and -not (Test-KernelDebugCapability Uprobes)) { Set-ItResult -Skipped -Because 'uprobes are not available'; return }
        $extra = switch ($Cmdlet) {
            'Get-LibraryCallTrace' { @{ Function = 'puts' } } 'Measure-LibraryCall' { @{ Function = 'puts' } }
            'Measure-PerfCounter' { @{ Event = 'task-clock' } } 'Start-PerfRecord' { @{ Path = (Join-Path $Work "redir.data"); Wait = $true } }
            'Invoke-Ftrace' { @{ Event = 'sched:sched_process_exit' } } default { @{} }
        }
        $out = Join-Path $Work "$Cmdlet.out"; $err = Join-Path $Work "$Cmdlet.err"
        $null = & $Cmdlet -Command $Prog -ArgumentList $Cmdlet -RedirectStandardOutput $out -RedirectStandardError $err @extra -InformationVariable info
        Get-Content $out | Should -Be "out:$Cmdlet"
        Get-Content $err | Should -Be "err:$Cmdlet"
        $info | Where-Object { $_.Tags -contains 'stdout' -or $_.Tags -contains 'stderr' } | Should -BeNullOrEmpty
    }

    It 'resolves relative paths against the PowerShell location, feeds -RedirectStandardInput, and shares one file for both streams' {
        Set-Content (Join-Path $Work 'in.txt') "first`nsecond"
        Push-Location $Work
        try {
            $null = Get-SyscallTrace -Command $Prog -ArgumentList both, stdin -RedirectStandardInput in.txt -RedirectStandardOutput both.txt -RedirectStandardError both.txt
        }
        finally { Pop-Location }
        @(Get-Content (Join-Path $Work 'both.txt')) | Should -Be @('in:first', 'in:second', 'out:both', 'err:both')
    }

    It 'captures only the stream that is not redirected' {
        $err = Join-Path $Work 'only.err'
        $null = Measure-Syscall -Command $Prog -ArgumentList only -RedirectStandardError $err -InformationVariable info
        @($info | ForEach-Object { "$($_.Tags -join ',')=$($_.MessageData)" }) | Should -Be @('stdout=out:only')
        Get-Content $err | Should -Be 'err:only'
    }

    It '-DiscardOutput sends both streams to /dev/null, and a named file still gets its stream' {
        $null = Measure-Syscall -Command $Prog -ArgumentList gone -DiscardOutput -InformationVariable info
        $info | Should -BeNullOrEmpty
        $err = Join-Path $Work 'discard.err'
        $null = Measure-Syscall -Command $Prog -ArgumentList kept -DiscardOutput -RedirectStandardError $err -InformationVariable info
        $info | Should -BeNullOrEmpty
        Get-Content $err | Should -Be 'err:kept'
    }

    It 'gives stdin /dev/null without a terminal (the program reads end of file, not this process''s input)' {
        $null = Measure-Syscall -Command $Prog -ArgumentList nul, stdin -InformationVariable info
        @($info | ForEach-Object { "$($_.MessageData)" }) | Should -Be @('out:nul', 'err:nul')
    }

    It 'refuses a -RedirectStandardInput file that does not exist, before starting anything' {
        $missing = Join-Path $Work 'no-such-input.txt'
        { Measure-Syscall -Command $Prog -RedirectStandardInput $missing -ErrorAction Stop } | Should -Throw -ErrorId 'PathNotFound,*' -ExpectedMessage "*$missing*"
    }

    It 'refuses the redirections with -ProcessId (they belong to -Command)' {
        { Get-SyscallTrace -ProcessId $PID -RedirectStandardOutput x.txt -ErrorAction Stop } | Should -Throw -ErrorId 'AmbiguousParameterSet,*'
    }
}

Describe 'The terminal rule' -Skip:(-not ($CanPtrace -and $HasGcc -and $HasScript)) {
    It 'at a console the program keeps the terminal; a thread job and ForEach-Object -Parallel in the same process capture' {
        # script(1) gives the child pwsh a real terminal.
        $ps1 = Join-Path $Work 'tty.ps1'
        Set-Content $ps1 @"
Import-Module '$env:KERNELDEBUG_MODULE_PATH'
`$null = Measure-Syscall -Command '$Prog' -ArgumentList console -InformationVariable a
"console captured: `$(`$a.Count)"
`$j = Start-ThreadJob { Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$null = Measure-Syscall -Command '$Prog' -ArgumentList threadjob -InformationVariable a; "threadjob captured: `$((`$a | % MessageData) -join ',')" }
`$j | Wait-Job | Receive-Job
1 | ForEach-Object -Parallel { Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$null = Measure-Syscall -Command '$Prog' -ArgumentList parallel -InformationVariable a; "parallel captured: `$((`$a | % MessageData) -join ',')" }
"@
        $self = [Environment]::ProcessPath
        $pwsh = if ((Split-Path $self -Leaf) -eq 'dotnet') { "$self $(Join-Path $PSHOME 'pwsh.dll')" } else { $self }
        $env:TERM = 'dumb'
        $text = (& script -qec "$pwsh -NoProfile -NonInteractive -File $ps1" /dev/null) -join "`n" -replace "`r", ''
        $text | Should -Match '(?m)^out:console$' -Because 'the console''s program wrote to the terminal'
        $text | Should -Match '(?m)^err:console$'
        $text | Should -Match 'console captured: 0'
        $text | Should -Match 'threadjob captured: out:threadjob,err:threadjob'
        $text | Should -Match 'parallel captured: out:parallel,err:parallel'
        $text | Should -Not -Match '(?m)^out:(threadjob|parallel)'
    }
}

Describe 'Invoke-Bpftrace -Command without a terminal' -Skip:(-not $HasBpftrace) {
    It 'keeps the command''s output off the job''s own streams: the job completes with the output as information' {
        $job = Start-Job -ScriptBlock {
            param($m) Import-Module $m
            $out = @(Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_execve /pid == cpid/ { printf("exec\n"); }' -Command /usr/bin/echo -ArgumentList kd-bpf-job -InformationVariable info -WarningAction SilentlyContinue)
            [pscustomobject]@{ Objects = $out.Count; Info = @($info | ForEach-Object { "$($_.Tags -join ',')=$($_.MessageData)" }) }
        } -ArgumentList $env:KERNELDEBUG_MODULE_PATH
        $null = $job | Wait-Job -Timeout 120
        $job.State | Should -Be 'Completed'
        $r = @(Receive-Job $job)
        $r | Should -HaveCount 1
        $r[0].Info | Should -Contain 'PSHOST,stdout=kd-bpf-job'
        Remove-Job $job -Force
    }
}

Describe 'One parameter set for -Command everywhere' {
    It '<Cmdlet> declares Command, ArgumentList and the redirections the same way' -ForEach $LaunchCmdlets {
        $reference = (Get-Command Get-SyscallTrace).Parameters
        $ours = (Get-Command $Cmdlet).Parameters
        foreach ($name in 'Command', 'ArgumentList', 'RedirectStandardInput', 'RedirectStandardOutput', 'RedirectStandardError', 'DiscardOutput') {
            $ours.Keys | Should -Contain $name
            $a = $reference[$name]; $b = $ours[$name]
            $b.ParameterType | Should -Be $a.ParameterType -Because $name
            ($b.Aliases -join ',') | Should -Be ($a.Aliases -join ',') -Because $name
            $pa = $a.ParameterSets['Command']; $pb = $b.ParameterSets['Command']
            $pb | Should -Not -BeNullOrEmpty -Because "$name is in the Command set"
            $b.ParameterSets.Keys | Should -Be @('Command') -Because "$name belongs to -Command only"
            "$($pb.Position) $($pb.IsMandatory) $($pb.ValueFromRemainingArguments)" | Should -Be "$($pa.Position) $($pa.IsMandatory) $($pa.ValueFromRemainingArguments)" -Because $name
        }
        if ($ours.ContainsKey('ProcessId')) {
            $p = $ours['ProcessId']
            $p.ParameterType | Should -Be ([int[]])
            ($p.Aliases -join ',') | Should -Be 'Id,Pid'
            $p.ParameterSets['ProcessId'].ValueFromPipelineByPropertyName | Should -BeTrue
        }
    }

    It '<Cmdlet> binds a positional command with its arguments, dashes included: <Cmdlet> prog -la' -ForEach $LaunchCmdlets -Skip:(-not ($CanPtrace -and $HasUprobes -and $HasGcc)) {
        $extra = switch ($Cmdlet) {
            'Get-LibraryCallTrace' { @{ Function = 'puts' } } 'Measure-LibraryCall' { @{ Function = 'puts' } }
            'Measure-PerfCounter' { @{ Event = 'task-clock' } } 'Start-PerfRecord' { @{ Path = (Join-Path $Work 'bind.data'); Wait = $true } }
            'Invoke-Ftrace' { @{ Event = 'sched:sched_process_exit' } } default { @{} }
        }
        $null = & $Cmdlet @extra -InformationVariable info $Prog -la
        @($info | Where-Object { $_.Tags -contains 'stdout' } | ForEach-Object MessageData) | Should -Be @('out:-la')
    }
}

Describe 'One error rule: one bad target among many is a non-terminating error, and the rest goes on' {
    BeforeAll {
        # A live process that is not a child of this pwsh (.NET reaps its own children), and a pid that is gone.
        $pidFile = Join-Path $Work 'live.pid'
        Start-Process /bin/sh -ArgumentList '-c', "`"(while :; do echo x > /dev/null; sleep 0.05; done) >/dev/null 2>&1 & echo `$! > $pidFile`"" -Wait
        $script:Live = [int](Get-Content $pidFile)
        $ended = [System.Diagnostics.Process]::Start('/bin/true'); $ended.WaitForExit()
        $script:Gone = $ended.Id
        Start-Sleep -Milliseconds 200
        # Runs a command with -ErrorAction SilentlyContinue; returns its output and its errors (a terminating error fails the test).
        function Invoke-Rule([scriptblock] $Command) {
            $Error.Clear()
            $out = @(& $Command)
            [pscustomobject]@{ Output = $out; Errors = @($Error | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }) }
        }
    }
    AfterAll { Stop-Process -Id $Live -Force -ErrorAction Ignore }

    It '-ProcessId of <Cmdlet>: one ObjectNotFound for the gone pid, the live one measured' -ForEach @(
        @{ Cmdlet = 'Get-SyscallTrace'; Extra = @{ Duration = '00:00:01' }; Needs = 'Ptrace' }
        @{ Cmdlet = 'Measure-Syscall'; Extra = @{ Duration = '00:00:01' }; Needs = 'Ptrace' }
        @{ Cmdlet = 'Get-LibraryCallTrace'; Extra = @{ Duration = '00:00:01'; Function = 'malloc' }; Needs = 'Uprobes' }
        @{ Cmdlet = 'Measure-LibraryCall'; Extra = @{ Duration = '00:00:01'; Function = 'malloc' }; Needs = 'Uprobes' }
        @{ Cmdlet = 'Measure-PerfCounter'; Extra = @{ Duration = '00:00:00.5'; Event = 'task-clock' }; Needs = 'PerfEvents' }
        @{ Cmdlet = 'Start-PerfRecord'; Extra = @{ Duration = '00:00:00.5'; Path = (Join-Path ([IO.Path]::GetTempPath()) "kd-rule-$PID.data"); Wait = $true }; Needs = 'PerfEvents' }
    ) {
        if (-not (Test-KernelDebugCapability $Needs)) { Set-ItResult -Skipped -Because "$Needs is not available on this host"; return }
        $r = Invoke-Rule { & $Cmdlet -ProcessId $Live, $Gone @Extra -ErrorAction SilentlyContinue }
        $r.Errors | Should -HaveCount 1
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ProcessNotFound,*'
        $r.Errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        "$($r.Errors[0].TargetObject)" | Should -Be "$Gone"
        $r.Output.Count | Should -BeGreaterThan 0 -Because "process $Live was traced"
        if ($Cmdlet -eq 'Get-SyscallTrace') { $r.Output | ForEach-Object { $_.ProcessId | Should -Be $Live } }
        if ($Cmdlet -eq 'Start-PerfRecord') { $r.Output[0].Samples | Should -BeGreaterOrEqual 0; Remove-Item $Extra.Path -ErrorAction Ignore }
    }

    It '-Path of <Cmdlet>: one ObjectNotFound for the missing file, the other file read' -ForEach @(
        @{ Cmdlet = 'Get-KernelLog' }, @{ Cmdlet = 'Get-KasanReport' }, @{ Cmdlet = 'Get-KmemleakReport' }
    ) {
        $good = Join-Path $Work 'good.log'
        Set-Content $good '[    1.000000] kd-rule line'
        $missing = Join-Path $Work 'missing.log'
        $r = Invoke-Rule { & $Cmdlet -Path $good, $missing -ErrorAction SilentlyContinue }
        $r.Errors | Should -HaveCount 1
        $r.Errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        "$($r.Errors[0].TargetObject)" | Should -Be $missing
        if ($Cmdlet -eq 'Get-KernelLog') { $r.Output.Message | Should -Be 'kd-rule line' }
    }

    It 'Get-PerfSample: a missing file among piped paths is an error of its own' -Skip:(-not (Test-KernelDebugCapability PerfEvents)) {
        $data = Join-Path $Work 'rule.data'
        $null = Start-PerfRecord -Command /bin/true -Path $data -Wait -DiscardOutput
        $r = Invoke-Rule { (Join-Path $Work 'missing.data'), $data | Get-PerfSample -ErrorAction SilentlyContinue }
        $r.Errors | Should -HaveCount 1
        $r.Errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It '-Name of <Cmdlet>: one TraceEventNotFound for the bogus event, the real one handled' -ForEach @(
        @{ Cmdlet = 'Get-TraceEvent' }, @{ Cmdlet = 'Enable-TraceEvent' }, @{ Cmdlet = 'Disable-TraceEvent' }
    ) {
        $instance = New-FtraceInstance -Name "kerneldebug_$($PID)_rule"
        try {
            $extra = if ($Cmdlet -eq 'Get-TraceEvent') { @{} } else { @{ Instance = $instance.Name } }
            $r = Invoke-Rule { & $Cmdlet -Name sched:sched_switch, kd_bogus:kd_nothing @extra -ErrorAction SilentlyContinue }
            $r.Errors | Should -HaveCount 1
            $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'TraceEventNotFound,*'
            "$($r.Errors[0].TargetObject)" | Should -Be 'kd_bogus:kd_nothing'
            $expected = switch ($Cmdlet) { 'Enable-TraceEvent' { '1' } 'Disable-TraceEvent' { '0' } default { $null } }
            if ($expected) { (Get-Content (Join-Path $TraceFs "instances/$($instance.Name)/events/sched/sched_switch/enable")) | Should -Be $expected }
            else { $r.Output.Name | Should -Contain 'sched_switch' }
        }
        finally { Remove-FtraceInstance -Name $instance.Name -Confirm:$false }
    }

    It 'instance names of <Cmdlet>: one FtraceInstanceNotFound, the real instance handled' -ForEach @(
        @{ Cmdlet = 'Get-FtraceInstance' }, @{ Cmdlet = 'Remove-FtraceInstance' }
    ) {
        $instance = New-FtraceInstance -Name "kerneldebug_$($PID)_rule2"
        try {
            $confirm = if ($Cmdlet -like 'Remove-*') { @{ Confirm = $false } } else { @{} }
            $r = Invoke-Rule { & $Cmdlet -Name "kerneldebug_$($PID)_nosuch", $instance.Name -ErrorAction SilentlyContinue @confirm }
            $r.Errors | Should -HaveCount 1
            $r.Errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            "$($r.Errors[0].TargetObject)" | Should -Be "kerneldebug_$($PID)_nosuch"
            if ($Cmdlet -eq 'Remove-FtraceInstance') { Test-Path (Join-Path $TraceFs "instances/$($instance.Name)") | Should -BeFalse }
            else { $r.Output.Name | Should -Be $instance.Name }
        }
        finally { Remove-FtraceInstance -Name $instance.Name -Confirm:$false -ErrorAction Ignore }
    }

    It 'probe names of <Cmdlet>: one ProbeNotFound per name that matches nothing, the real probe handled' -ForEach @(
        @{ Cmdlet = 'Get-Uprobe' }, @{ Cmdlet = 'Remove-Uprobe' }
    ) -Skip:(-not ($HasUprobes -and $HasGcc)) {
        $group = "kerneldebug_$PID"
        $null = New-Uprobe -Name kdrule -Path $Prog -Symbol main -Group $group
        try {
            $confirm = if ($Cmdlet -like 'Remove-*') { @{ Confirm = $false } } else { @{} }
            $r = Invoke-Rule { & $Cmdlet -Group $group -Name kdrule_nosuch1, kdrule, kdrule_nosuch2 -ErrorAction SilentlyContinue @confirm }
            $r.Errors | Should -HaveCount 2
            @($r.Errors.TargetObject | Sort-Object) | Should -Be @('kdrule_nosuch1', 'kdrule_nosuch2')
            $r.Errors | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'ProbeNotFound,*' }
            if ($Cmdlet -eq 'Remove-Uprobe') { Get-Uprobe -Group $group -Name kdrule -ErrorAction SilentlyContinue | Should -BeNullOrEmpty }
            else { $r.Output.Name | Should -Be 'kdrule' }
        }
        finally { Remove-Uprobe -Group $group -Name kdrule -Force -Confirm:$false -ErrorAction Ignore }
    }

    It 'terminates when the whole command cannot run, whatever -ErrorAction says: <What>' -ForEach @(
        @{ What = 'a bad parameter combination'; Command = { Start-PerfRecord -Command /bin/true -Frequency 99 -Period 1000 -Path x.data -ErrorAction SilentlyContinue }; Id = 'FrequencyAndPeriod,*' }
        @{ What = 'a program that does not exist'; Command = { Measure-Syscall -Command kd-no-such-program -ErrorAction SilentlyContinue }; Id = 'CommandNotFound,*' }
        @{ What = 'a missing kernel feature (kprobes)'; Command = { Get-Kprobe -ErrorAction SilentlyContinue }; Id = 'KprobeNotSupported,*'; Needs = 'Kprobes' }
    ) {
        if ($Needs -and (Test-KernelDebugCapability $Needs)) { Set-ItResult -Skipped -Because "$Needs is available here: nothing is missing"; return }
        $Command | Should -Throw -ErrorId $Id
    }
}
