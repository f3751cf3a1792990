BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HavePerf = [bool](Get-Command perf -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # perf's own resolution of an event name: the first perf_event_attr that perf stat -vv prints.
    function Get-PerfAttr([string] $Event) {
        $text = & perf stat -vv -e $Event /bin/true 2>&1 | Out-String
        $attr = @{ Type = [uint32]0; Config = [uint64]0; ExcludeKernel = $false; ExcludeUser = $false }
        $seen = $false
        foreach ($line in ($text -split "`n")) {
            if ($line -match '^perf_event_attr:') { if ($seen) { break }; $seen = $true }
            elseif ($line -match '^\s+type\s+(\d+)') { $attr.Type = [uint32]$Matches[1] }
            elseif ($line -match '^\s+config\s+0x([0-9a-f]+)') { $attr.Config = [Convert]::ToUInt64($Matches[1], 16) }
            elseif ($line -match '^\s+exclude_kernel\s+1') { $attr.ExcludeKernel = $true }
            elseif ($line -match '^\s+exclude_user\s+1') { $attr.ExcludeUser = $true }
        }
        $attr
    }
}

Describe 'Get-PerfEvent' {
    It 'lists the software events perf list shows' -Skip:(-not $HavePerf) {
        $perfNames = & perf list sw 2>&1 | Where-Object { $_ -match '\[Software event\]' } | ForEach-Object { ($_.Trim() -split '\s+')[0] }
        $ours = (Get-PerfEvent -Type Software).Name
        ($ours | Sort-Object) | Should -Be ($perfNames | Sort-Object)
    }

    It 'lists the tracepoints of a group as perf list does' -Skip:(-not $HavePerf) {
        $perfNames = & perf list 'sched:*' 2>&1 | Where-Object { $_ -match '\[Tracepoint event\]' } | ForEach-Object { ($_.Trim() -split '\s+')[0] }
        $ours = Get-PerfEvent -Name 'sched:*'
        ($ours.Name | Sort-Object) | Should -Be ($perfNames | Sort-Object)
        $ours | Where-Object Name -eq 'sched:sched_switch' | ForEach-Object {
            $_.Config | Should -Be ([uint64](Get-Content "$TraceFs/events/sched/sched_switch/id"))
            $_.Supported | Should -BeTrue
        }
    }

    It 'opens the software events and reports hardware counters as the capability probe does' {
        (Get-PerfEvent task-clock).Supported | Should -BeTrue
        $cycles = Get-PerfEvent cycles
        $cycles.Supported | Should -Be (Test-KernelDebugCapability PerfHardwareCounters)
        if (-not $cycles.Supported) { $cycles.Reason | Should -Match 'ENOENT|EOPNOTSUPP|ENODEV' }
    }

    It 'resolves <Event> to the attr perf uses' -Skip:(-not $HavePerf) -ForEach @(
        @{ Event = 'L1-dcache-load-misses' }, @{ Event = 'LLC-stores' }, @{ Event = 'dTLB-prefetch-misses' }, @{ Event = 'r1a8' },
        @{ Event = 'page-faults' }, @{ Event = 'cs' }, @{ Event = 'branches' }, @{ Event = 'sched:sched_switch' }, @{ Event = 'software/config=3/' },
        @{ Event = 'msr/tsc/' }, @{ Event = 'task-clock:u' }, @{ Event = 'sched:sched_wakeup:k' }
    ) {
        $expected = Get-PerfAttr $Event
        $ours = [KernelDebug.Perf.PerfEventCatalog]::Parse($Event)
        $ours.TypeId | Should -Be $expected.Type
        $ours.Config | Should -Be $expected.Config
        $ours.ExcludeKernel | Should -Be $expected.ExcludeKernel
        $ours.ExcludeUser | Should -Be $expected.ExcludeUser
        $info = Get-PerfEvent -Name $Event
        $info.Name | Should -Be $Event
        $info.Config | Should -Be $expected.Config
    }

    It 'reports an unknown event, tracepoint or PMU as ObjectNotFound' {
        foreach ($bad in 'no-such-event', 'sched:no_such_tracepoint', 'nopmu/config=1/') {
            Get-PerfEvent -Name $bad -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -BeLike 'PerfEventNotFound*'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
    }

    It 'rejects malformed events as InvalidArgument' {
        foreach ($bad in 'software/config=zz/', 'software/nosuchterm=1/', 'cycles:q', 'L1-icache-stores', "sched:sched_switch`nx") {
            Get-PerfEvent -Name $bad -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument' -Because $bad
        }
    }

    It 'filters by type and takes names from the pipeline' {
        $c = Get-PerfEvent -Type Cache
        $c.Name | Should -Contain 'L1-dcache-load-misses'
        $c.Type | Sort-Object -Unique | Should -Be 'Cache'
        ([pscustomobject]@{ Name = 'context-switches' } | Get-PerfEvent).Config | Should -Be 3
    }

    It 'completes event names' {
        $line = 'Get-PerfEvent -Name sched:sched_sw'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'sched:sched_switch'
    }
}
