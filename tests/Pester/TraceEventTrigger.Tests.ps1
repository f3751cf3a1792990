# Event triggers, live in instances of this test: what the kernel lists in the trigger file is the oracle.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    function Read-Trigger($i, [string] $Event) { @((Get-Content "$TraceFs/instances/$($i.Name)/events/$($Event -replace ':', '/')/trigger") | Where-Object { $_ -notmatch '^#' }) }
    $script:Available = ((Get-Content "$TraceFs/events/sched/sched_switch/trigger")[1] -replace '^#\s*').Split(' ', [StringSplitOptions]::RemoveEmptyEntries)
}

Describe 'Event triggers' -Skip:(-not $HasInstances) {
    BeforeEach { $script:i = New-FtraceInstance }
    AfterEach { Remove-FtraceInstance $i }

    It 'adds traceoff with a count, which the kernel runs: the instance stops and the count is spent' {
        $t = New-TraceEventTrigger $i sched:sched_switch TraceOff -Count 1
        $t.PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceEventTrigger'
        $t.Type | Should -Be TraceOff
        $t.Instance | Should -Be $i.Name
        Enable-TraceEvent sched:sched_switch -Instance $i
        1..20 | ForEach-Object { Start-Sleep -Milliseconds 10 }
        (Get-Content "$TraceFs/instances/$($i.Name)/tracing_on").Trim() | Should -Be '0' -Because 'the trigger turned tracing off'
        $now = Get-TraceEventTrigger $i sched:sched_switch
        $now.Definition | Should -Be (Read-Trigger $i sched:sched_switch)
        $now.Count | Should -Be 0
    }

    It 'adds stacktrace and enable_event with counts and filters, lists them as the trigger file does, and removes them' {
        New-TraceEventTrigger $i sched:sched_switch StackTrace -Count 3 -Filter 'prev_pid == 1' | Out-Null
        New-TraceEventTrigger $i sched:sched_switch EnableEvent -TargetEvent sched:sched_wakeup -Count 2 -Filter 'next_pid == 1' | Out-Null
        New-TraceEventTrigger $i sched:sched_switch DisableEvent -TargetEvent sched:sched_waking | Out-Null
        $file = Read-Trigger $i sched:sched_switch
        $file | Should -Contain 'stacktrace:count=3 if prev_pid == 1'
        $file | Should -Contain 'enable_event:sched:sched_wakeup:count=2 if next_pid == 1'
        $file | Should -Contain 'disable_event:sched:sched_waking:unlimited'
        $list = @(Get-TraceEventTrigger $i)
        $list.Count | Should -Be 3
        ($list | Sort-Object Definition).Definition | Should -Be ($file | Sort-Object)
        $en = $list | Where-Object Type -eq EnableEvent
        $en.TargetEvent | Should -Be 'sched:sched_wakeup'
        $en.Filter | Should -Be 'next_pid == 1'
        ($list | Where-Object Type -eq DisableEvent).Count | Should -BeNullOrEmpty
        # The kernel puts the target event in soft mode ('0*') while a trigger may switch it.
        (Get-Content "$TraceFs/instances/$($i.Name)/events/sched/sched_wakeup/enable").Trim() | Should -Be '0*'
        Get-TraceEventTrigger $i sched:sched_switch -Type StackTrace | Remove-TraceEventTrigger
        Read-Trigger $i sched:sched_switch | Should -Not -Contain 'stacktrace:count=3 if prev_pid == 1'
        Remove-TraceEventTrigger $i sched:sched_switch
        Read-Trigger $i sched:sched_switch | Should -BeNullOrEmpty
        (Get-Content "$TraceFs/instances/$($i.Name)/events/sched/sched_wakeup/enable").Trim() | Should -Be '0'
    }

    It 'refuses a bad filter with the kernel''s error_log message and position' {
        $e = { New-TraceEventTrigger $i sched:sched_switch TraceOn -Filter 'prev_pid == abc' -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerFilterInvalid*' -PassThru
        $e.Exception.Message | Should -Match 'did you forget quotes'
        # The kernel's caret, as Enable-TraceEvent reports it for the same filter.
        $e.Exception.Position | Should -Be 13
        $e.CategoryInfo.Category | Should -Be InvalidArgument
        Read-Trigger $i sched:sched_switch | Should -BeNullOrEmpty
    }

    It 'refuses, before writing, a second traceon/traceoff, a missing target, a target on traceon, the top level and hist' {
        New-TraceEventTrigger $i sched:sched_switch TraceOn | Out-Null
        { New-TraceEventTrigger $i sched:sched_switch TraceOff -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerExists*'
        { New-TraceEventTrigger $i sched:sched_switch EnableEvent -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerTargetMissing*'
        { New-TraceEventTrigger $i sched:sched_switch StackTrace -TargetEvent sched:sched_wakeup -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerTargetInvalid*'
        { New-TraceEventTrigger $i sched:sched_switch EnableEvent -TargetEvent nosuch:event -ErrorAction Stop } | Should -Throw -ErrorId 'TraceEventNotFound*'
        { New-TraceEventTrigger / sched:sched_switch TraceOn -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerOnTopLevel*'
        { New-TraceEventTrigger $i sched:sched_switch Hist -ErrorAction Stop } | Should -Throw
        { New-TraceEventTrigger $i sched:sched_switch TraceOn -Count 0 -ErrorAction Stop } | Should -Throw
        Read-Trigger $i sched:sched_switch | Should -Be @('traceon:unlimited')
    }

    It 'says which trigger types this kernel lacks (here: <_>)' -ForEach @('snapshot') {
        if ($_ -in $Available) { Set-ItResult -Skipped -Because "this kernel has the $_ trigger" ; return }
        $e = { New-TraceEventTrigger $i sched:sched_switch Snapshot -ErrorAction Stop } | Should -Throw -ErrorId 'TriggerTypeNotAvailable*' -PassThru
        $e.Exception.Message | Should -Match 'CONFIG_TRACER_SNAPSHOT'
        $e.CategoryInfo.Category | Should -Be NotImplemented
    }

    It 'makes nothing with -WhatIf' {
        New-TraceEventTrigger $i sched:sched_switch TraceOff -WhatIf | Should -BeNullOrEmpty
        Read-Trigger $i sched:sched_switch | Should -BeNullOrEmpty
        New-TraceEventTrigger $i sched:sched_switch TraceOff | Out-Null
        Remove-TraceEventTrigger $i sched:sched_switch -WhatIf
        Read-Trigger $i sched:sched_switch | Should -Be @('traceoff:unlimited')
    }

    It 'removes its triggers when the process that made them exits' {
        $module = $env:KERNELDEBUG_MODULE_PATH
        $out = Invoke-ChildPwsh @('-NoProfile', '-Command', "Import-Module '$module'; `$t = New-TraceEventTrigger '$($i.Name)' sched:sched_switch StackTrace -Filter 'prev_pid == 1'; `$t.Definition")
        $out | Should -Be 'stacktrace:unlimited if prev_pid == 1'
        Read-Trigger $i sched:sched_switch | Should -BeNullOrEmpty
    }
}
