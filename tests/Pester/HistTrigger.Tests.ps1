# Hist trigger definitions, synthetic events and the wakeup-latency histogram. This host has no hist triggers or
# synthetic events: the definitions are checked against the kernel's own selftests (the error kind and the caret
# column of tools/testing/selftests/ftrace/test.d/trigger/trigger-hist-syntax-errors.tc and the inter-event ones),
# tables against real and kernel-format hist files, and the cmdlets live for their missing-feature errors. The live
# path runs in the debug-kernel VM (KernelVm.Hist.Tests.ps1).
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasHist = Test-KernelDebugCapability HistTriggers
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasSynth = Test-Path (Join-Path ([KernelDebug.Host.KernelFileSystems]::GetTraceFs($null)) 'synthetic_events')
    # trigger-hist-syntax-errors.tc: the kernel's error position is where '^' stands.
    $script:SelftestCases = @(
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:sort=common_pid,^junk'; Kind = 'InvalidSortField'; Sort = @('common_pid', 'junk'); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:^sort='; Kind = 'EmptyAssignment'; Sort = @(''); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:^sort=common_pid,'; Kind = 'EmptySortField'; Sort = @('common_pid', ''); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:sort=common_pid.^junk'; Kind = 'InvalidSortModifier'; Sort = @('common_pid.junk'); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req,bytes_alloc:^sort=common_pid,bytes_req,bytes_alloc'; Kind = 'TooManySortFields'; Sort = @('common_pid', 'bytes_req', 'bytes_alloc'); Values = @('bytes_req', 'bytes_alloc') }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HistDir = Join-Path $RepoRoot 'tests/fixtures/ftrace/hist'
    function Get-FixtureFormat([string] $System, [string] $Name) {
        [KernelDebug.TraceEventFormat]::Parse($System, (Get-Content -Raw (Join-Path $HistDir "formats/$($System)_$Name.format")))
    }
    $script:Kmalloc = Get-FixtureFormat kmem kmalloc
    $script:Switch = Get-FixtureFormat sched sched_switch
    $script:Waking = Get-FixtureFormat sched sched_waking
    function New-Spec([hashtable] $h) {
        $s = [KernelDebug.HistTriggerSpec]::new()
        foreach ($kv in $h.GetEnumerator()) {
            if ($kv.Key -in 'Keys', 'Values', 'Sort', 'Variables', 'Actions') { $s.($kv.Key) = [string[]] @($kv.Value) } else { $s.($kv.Key) = $kv.Value }
        }
        $s
    }
    function Test-Definition([hashtable] $Spec, $Format = $Kmalloc, $Events = $null, $Synth = $null) {
        $lookup = if ($Events) { [Func[string, string, bool]] { param($s, $e) "$s.$e" -in $Events } } else { $null }
        $synthFn = if ($Synth) { [Func[string, Nullable[int]]] { param($n) if ($Synth.ContainsKey($n)) { [int] $Synth[$n] } else { $null } } } else { $null }
        [KernelDebug.Ftrace.HistTriggers]::Build((New-Spec $Spec), $Format, $lookup, $synthFn)
    }
}

Describe 'Hist trigger definitions' {
    It 'refuses <Line> as the kernel''s selftest expects: <Kind> at the caret' -ForEach $SelftestCases {
        $r = Test-Definition @{ Keys = @('common_pid'); Values = $Values; Sort = $Sort }
        $r.Item1 | Should -Be ($Line -replace '\^')
        $r.Item2.Kind | Should -Be $Kind
        $r.Item2.Position | Should -Be $Line.IndexOf('^')
        $r.Item2.Command | Should -Be ($Line -replace '\^')
    }

    It 'writes keys, modifiers, values, variables, sort, size, name, pause, actions and the filter in one line' {
        $r = Test-Definition @{ Keys = @('common_pid.execname', 'bytes_req.log2'); Values = @('bytes_alloc.hex'); Sort = @('bytes_req.descending')
            Size = 4096; Name = 'kerneldebug_t'; Paused = $true; Filter = 'bytes_req > 256' }
        $r.Item2 | Should -BeNullOrEmpty
        $r.Item1 | Should -Be 'hist:keys=common_pid.execname,bytes_req.log2:vals=bytes_alloc.hex:sort=bytes_req.descending:size=4096:name=kerneldebug_t:pause if bytes_req > 256'
    }

    It 'accepts the kernel selftests'' inter-event definitions (trigger-onmatch-action-hist.tc, the wakeup-latency plan)' {
        (Test-Definition @{ Keys = @('pid'); Variables = @('ts0=common_timestamp.usecs'); Filter = 'comm=="ping"' } $Waking).Item2 | Should -BeNullOrEmpty
        $r = Test-Definition @{ Keys = @('next_pid'); Variables = @('wakeup_lat=common_timestamp.usecs-$ts0')
            Actions = @('onmatch(sched.sched_waking).wakeup_latency($wakeup_lat,next_pid,next_comm)') } $Switch @('sched.sched_waking') @{ wakeup_latency = 3 }
        $r.Item2 | Should -BeNullOrEmpty
        $r.Item1 | Should -Be 'hist:keys=next_pid:wakeup_lat=common_timestamp.usecs-$ts0:onmatch(sched.sched_waking).wakeup_latency($wakeup_lat,next_pid,next_comm)'
        $plan = [KernelDebug.Ftrace.WakeupLatency]::Plan('kerneldebug_wl', $null)
        $plan.Count | Should -Be 3
        (Test-Definition @{ Keys = $plan[0].Item3.Keys; Variables = $plan[0].Item3.Variables } $Waking).Item1 | Should -Be 'hist:keys=pid:ts0=common_timestamp.usecs'
        $r = Test-Definition @{ Keys = $plan[1].Item3.Keys; Variables = $plan[1].Item3.Variables; Actions = $plan[1].Item3.Actions } $Switch @('sched.sched_waking') @{ kerneldebug_wl = 3 }
        $r.Item2 | Should -BeNullOrEmpty
        $r.Item1 | Should -Be 'hist:keys=next_pid:wakeup_lat=common_timestamp.usecs-$ts0:onmatch(sched.sched_waking).trace(kerneldebug_wl,next_pid,next_comm,$wakeup_lat)'
    }

    It 'refuses <Why>: <Kind> at column <At>' -ForEach @(
        @{ Why = 'an unknown field'; Spec = @{ Keys = @('common_pid', 'nosuch') }; Kind = 'FieldNotFound'; At = 21 }
        @{ Why = 'an unknown modifier'; Spec = @{ Keys = @('bytes_req.junk') }; Kind = 'BadFieldModifier'; At = 20 }
        @{ Why = '.execname off common_pid'; Spec = @{ Keys = @('bytes_req.execname') }; Kind = 'BadFieldModifier'; At = 20 }
        @{ Why = '.usecs off common_timestamp'; Spec = @{ Keys = @('bytes_req.usecs') }; Kind = 'BadFieldModifier'; At = 20 }
        @{ Why = '.buckets without a size'; Spec = @{ Keys = @('bytes_req.buckets') }; Kind = 'BadFieldModifier'; At = 20 }
        @{ Why = '.buckets=0'; Spec = @{ Keys = @('bytes_req.buckets=0') }; Kind = 'BadFieldModifier'; At = 20 }
        @{ Why = 'a variable as key'; Spec = @{ Keys = @('$ts0') }; Kind = 'InvalidRefKey'; At = 10 }
        @{ Why = 'four keys'; Spec = @{ Keys = @('common_pid', 'bytes_req', 'bytes_alloc', 'node') }; Kind = 'BadKeyCount'; At = 5 }
        @{ Why = 'no key'; Spec = @{ Keys = @() }; Kind = 'BadKeyCount'; At = 5 }
        @{ Why = 'a size the kernel cannot round to 128..131072'; Spec = @{ Keys = @('node'); Size = 262144 }; Kind = 'BadSize'; At = 20 }
        @{ Why = 'a variable defined twice'; Spec = @{ Keys = @('node'); Variables = @('a=bytes_req', 'a=bytes_alloc') }; Kind = 'DuplicateVar'; At = 27 }
        @{ Why = 'an empty assignment'; Spec = @{ Keys = @('node'); Variables = @('a=') }; Kind = 'EmptyAssignment'; At = 15 }
        @{ Why = 'an unknown field in an expression'; Spec = @{ Keys = @('node'); Variables = @('a=bytes_req-nosuch') }; Kind = 'FieldNotFound'; At = 27 }
        @{ Why = 'onmax of a field, not a variable'; Spec = @{ Keys = @('node'); Actions = @('onmax(bytes_req).save(node)') }; Kind = 'OnxNotVar'; At = 21 }
        @{ Why = 'save() under onmatch (trigger-action-hist-xfail.tc)'; Spec = @{ Keys = @('node'); Actions = @('onmatch(sched.sched_wakeup).save(node)') }; Kind = 'ActionMismatch'; At = 43 }
        @{ Why = 'snapshot() under onmatch (trigger-action-hist-xfail.tc)'; Spec = @{ Keys = @('node'); Actions = @('onmatch(sched.sched_wakeup).snapshot()') }; Kind = 'ActionMismatch'; At = 43 }
        @{ Why = 'save() without fields'; Spec = @{ Keys = @('node'); Variables = @('m=bytes_req'); Actions = @('onmax($m).save()') }; Kind = 'NoSaveParams'; At = 37 }
        @{ Why = 'onmatch without a system'; Spec = @{ Keys = @('node'); Actions = @('onmatch(sched_wakeup).trace(x)') }; Kind = 'SubsysNotFound'; At = 23 }
        @{ Why = 'an unknown handler'; Spec = @{ Keys = @('node'); Actions = @('onmin($m).save(node)') }; Kind = 'ActionNotFound'; At = 15 }
        @{ Why = 'a newline in a key'; Spec = @{ Keys = @("node`nhist:keys=x") }; Kind = 'UnsafeCharacter'; At = 14 }
        @{ Why = 'a colon in a key'; Spec = @{ Keys = @('node:clear') }; Kind = 'UnsafeCharacter'; At = 14 }
    ) {
        $r = Test-Definition $Spec
        $r.Item2.Kind | Should -Be $Kind
        $r.Item2.Position | Should -Be $At -Because "the caret goes under the part at fault:`n$($r.Item2.CaretText)"
    }

    It 'refuses onmatch of an event that does not exist, a missing synthetic event, and a wrong parameter count' {
        $base = @{ Keys = @('next_pid'); Variables = @('l=common_timestamp.usecs-$ts0') }
        (Test-Definition ($base + @{ Actions = @('onmatch(sched.nosuch).trace(s,next_pid)') }) $Switch @('sched.sched_waking') @{ s = 1 }).Item2.Kind | Should -Be InvalidSubsysEvent
        (Test-Definition ($base + @{ Actions = @('onmatch(sched.sched_waking).trace(nosuch,next_pid)') }) $Switch @('sched.sched_waking') @{ s = 1 }).Item2.Kind | Should -Be SynthEventNotFound
        $r = Test-Definition ($base + @{ Actions = @('onmatch(sched.sched_waking).trace(s,next_pid,$l)') }) $Switch @('sched.sched_waking') @{ s = 1 }
        $r.Item2.Kind | Should -Be SynthCountMismatch
        $r.Item2.KernelName | Should -Be 'SYNTH_COUNT_MISMATCH'
        $e = $r.Item2.ToException('validation')
        $e.ErrorId | Should -Be 'HistSynthCountMismatch'
        $e.Message | Should -Match "Param count doesn't match synthetic event field count"
    }

    It 'puts :clear, :pause and :cont before the filter, where the kernel reads them' {
        [KernelDebug.Ftrace.HistTriggers]::Command('hist:keys=pid:vals=hitcount:sort=hitcount:size=2048 if comm == "ping"', 'clear') |
            Should -Be 'hist:keys=pid:vals=hitcount:sort=hitcount:size=2048:clear if comm == "ping"'
        [KernelDebug.Ftrace.HistTriggers]::Command('hist:keys=pid:vals=hitcount:sort=hitcount:size=2048', 'pause') | Should -Be 'hist:keys=pid:vals=hitcount:sort=hitcount:size=2048:pause'
    }

    It 'finds the kernel''s error_log entry for a refused hist command (tracing_log_err''s layout) and maps its text to the kind' {
        $cmd = 'hist:keys=common_pid:vals=bytes_req:sort=common_pid,junk'
        $before = "[   10.000001] hist:kmem:kmalloc: error: Couldn't find field`n  Command: hist:keys=nosuch`n                      ^`n"
        $after = $before + "[   12.345678] hist:kmem:kmalloc: error: Sort field must be a key or a val`n  Command: $cmd`n" + (' ' * (11 + 50)) + "^`n"
        $e = [KernelDebug.Ftrace.HistTriggers]::FindNew($before, $after, $cmd)
        $e.Command | Should -Be $cmd
        $e.Position | Should -Be 50
        [KernelDebug.HistErrors]::FromText($e.Message) | Should -Be InvalidSortField
        [KernelDebug.HistErrors]::FromText('Hist trigger already exists') | Should -Be TriggerEexist
    }
}

Describe 'Synthetic event definitions' {
    It 'writes name and fields as synthetic_events takes them, and reads its listing back' {
        [KernelDebug.Ftrace.SyntheticEvents]::Definition('kerneldebug_wakeup_lat', [string[]] @('pid_t pid', 'char comm[16]', 'u64  lat;')) |
            Should -Be 'kerneldebug_wakeup_lat pid_t pid; char comm[16]; u64 lat'
        $e = [KernelDebug.Ftrace.SyntheticEvents]::Parse("kerneldebug_wakeup_lat`tpid_t pid; char comm[16]; u64 lat`n")
        $e.Name | Should -Be 'kerneldebug_wakeup_lat'
        $e.Fields | Should -Be @('pid_t pid', 'char comm[16]', 'u64 lat')
        $e.FullName | Should -Be 'synthetic:kerneldebug_wakeup_lat'
        ([KernelDebug.Ftrace.SyntheticEvents]::Parse("s:synthetic/kerneldebug_x u64 lat`n")).Name | Should -Be 'kerneldebug_x'
    }

    It 'uses dynamic_events "s:" only where the README documents it' {
        [KernelDebug.Ftrace.SyntheticEvents]::HasDynamicEventsSyntax("  s:[synthetic/]<event> <field> [<field>]`n") | Should -BeTrue
        [KernelDebug.Ftrace.SyntheticEvents]::HasDynamicEventsSyntax("  p[:[<group>/][<event>]] <place> [<args>]`n") | Should -BeFalse
    }

    It 'refuses <Why>' -ForEach @(
        @{ Why = 'a name without the kerneldebug prefix'; Name = 'wakeup_lat'; Fields = @('u64 lat') }
        @{ Why = 'a name that is no identifier'; Name = 'kerneldebug-x'; Fields = @('u64 lat') }
        @{ Why = 'a field without a type'; Name = 'kerneldebug_x'; Fields = @('lat') }
        @{ Why = 'a second definition smuggled in a field'; Name = 'kerneldebug_x'; Fields = @("u64 lat`nkerneldebug_y u64 a") }
        @{ Why = 'no field'; Name = 'kerneldebug_x'; Fields = @() }
    ) {
        { [KernelDebug.Ftrace.SyntheticEvents]::Definition($Name, [string[]] $Fields) } | Should -Throw
    }
}

Describe 'Wakeup latency tables' {
    It 'groups a pid,comm,lat.log2 table per task with log2 upper bounds' {
        $h = Get-TraceHistogram -Path (Join-Path $HistDir 'wakeup-latency-log2.hist')
        $h.Hits | Should -Be 223
        $w = [KernelDebug.Ftrace.WakeupLatency]::Summarize($h)
        $w.Count | Should -Be 3
        $w[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.WakeupLatencyHistogram'
        $w[0].Command | Should -Be 'kworker/0:1'
        $w[0].ProcessId | Should -Be 412
        $w[0].MaxMicroseconds | Should -Be 128
        $w[0].Count | Should -Be 49
        $w[0].Buckets.UpToMicroseconds | Should -Be @(2, 4, 8, 128)
        ($w | Measure-Object Count -Sum).Sum | Should -Be $h.Hits
    }
}

Describe 'Hist cmdlets where the kernel lacks hist triggers' -Skip:($HasHist -or -not $HasInstances) {
    BeforeAll { $script:i = New-FtraceInstance }
    AfterAll { Remove-FtraceInstance $i }

    It 'New-TraceHistogram says hist triggers are missing and how to get them' {
        $e = { New-TraceHistogram $i sched/sched_switch -Key next_pid.execname -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggersMissing*' -PassThru
        $e.CategoryInfo.Category | Should -Be NotImplemented
        $e.Exception.Message | Should -Match 'CONFIG_HIST_TRIGGERS'
        (Get-Content "$TraceFs/instances/$($i.Name)/events/sched/sched_switch/trigger" | Where-Object { $_ -notmatch '^#' }) | Should -BeNullOrEmpty
    }

    It '<Cmdlet> says so too' -ForEach @(@{ Cmdlet = 'Clear-TraceHistogram' }, @{ Cmdlet = 'Suspend-TraceHistogram' }, @{ Cmdlet = 'Resume-TraceHistogram' }, @{ Cmdlet = 'Remove-TraceHistogram' }) {
        { & $Cmdlet -Instance $i -Event sched:sched_switch -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggersMissing*'
    }

    It 'New-SyntheticEvent and Measure-WakeupLatency say synthetic events are missing, and leave no instance behind' -Skip:$HasSynth {
        { New-SyntheticEvent kerneldebug_wakeup_lat -Field 'pid_t pid', 'u64 lat' -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggersMissing*'
        $before = @(Get-FtraceInstance | Where-Object Name -like "kerneldebug_$($PID)_*").Name
        { Measure-WakeupLatency -Duration 0.1 -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggersMissing*'
        @(Get-FtraceInstance | Where-Object Name -like "kerneldebug_$($PID)_*").Name | Should -Be $before
    }
}
