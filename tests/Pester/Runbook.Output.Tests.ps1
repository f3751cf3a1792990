# Runbook output: every output type of the module keeps its documented nested members as objects through remoting's
# serializer (PSSerializer honours the types' SerializationDepth as a remoting session does), and flattens to a
# readable Export-Csv row and ConvertTo-Json -EnumsAsStrings document. The types come from the cmdlets' OutputType,
# so a new output type without a sample and a member list here fails.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:OutputTypes = @(Get-Command -Module KernelDebug | ForEach-Object { $_.OutputType.Type } |
            Where-Object { $_ -and $_.Namespace -like 'KernelDebug*' } | Sort-Object FullName -Unique |
            ForEach-Object { @{ Type = $_.FullName } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Add-Type -Path (Join-Path (Split-Path $env:KERNELDEBUG_MODULE_PATH) 'KernelDebug.Engine.dll')
    $script:G = "kerneldebug_$PID"
    $script:Libc = @('/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib64/libc.so.6') | Where-Object { Test-Path $_ } | Select-Object -First 1
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures'
    $script:Samples = @{}
    $script:Missing = @{}
    function Add-Sample {
        param([Parameter(ValueFromPipeline)] $InputObject)
        process {
            if ($null -eq $InputObject) { return }
            $n = $InputObject.GetType().FullName
            if (-not $Samples.ContainsKey($n)) { $Samples[$n] = [System.Collections.Generic.List[object]]::new() }
            if ($Samples[$n].Count -lt 50) { $Samples[$n].Add($InputObject) }
        }
    }
    function Get-Samples([string] $Area, [scriptblock] $Script) {
        # One source of samples; a failure is kept as the reason its types have none.
        try { & $Script 2>$null | Add-Sample } catch { $Missing[$Area] = $_.Exception.Message }
    }

    # The real kernel and tools where this host allows them.
    Get-Samples Capability { Get-KernelDebugCapability | Select-Object -First 3 }
    Get-Samples BpfEngine {
        $o = Import-BpfObject -BuiltIn kd_events
        try { $o; $o | Start-BpfProgram -Name kd_getppid } finally { Remove-BpfObject $o }
    }
    # A record no BTF type decodes, as Receive-BpfEvent makes it.
    Add-Sample ([KernelDebug.Bpf.BpfEventDecoder]::new($null, $null, 'events').Decode([byte[]](1, 2, 3), 1))
    Get-Samples HealthCheck { Invoke-KernelDebugHealthCheck -Check Capabilities -RequiredCapability TraceEvents, Kprobes }
    # -StackTrace and -DecodeFd nest frames and descriptors in a SyscallEvent (first: a type keeps its first samples only).
    Get-Samples Syscall { Get-SyscallTrace -Command /bin/echo -ArgumentList hi -Syscall write -StackTrace -DecodeFd -DiscardOutput }
    # SyscallSignal records come from the ptrace engine only (the BPF engine sees no signal deliveries).
    Get-Samples Syscall { Get-SyscallTrace -Engine Ptrace -Command /bin/sh -ArgumentList '-c', '/bin/true; exit 3' }
    Get-Samples Syscall { Measure-Syscall -Command /bin/true }
    Get-Samples LibraryCall { Get-LibraryCallTrace -Command /usr/bin/env -ArgumentList 'TZ=UTC', '/bin/date' -Library libc -Function getenv }
    Get-Samples LibraryCall { Measure-LibraryCall -Command /usr/bin/env -ArgumentList 'TZ=UTC', '/bin/date' -Library libc -Function getenv }
    $script:PerfData = Join-Path $TestDrive 'runbook.data'
    Get-Samples Perf {
        $null = Start-PerfRecord -Command /bin/sh -ArgumentList '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' -CallGraph FramePointer -Path $PerfData -Wait
        # The recording as Get-PerfRecord lists it (the same PerfRecording type).
        Get-PerfRecord | Select-Object -Last 1
        Get-PerfSample -Path $PerfData
        Get-PerfReport -Path $PerfData -Top 3
        # The hottest user-space symbol with a name, annotated; the recording compared with itself.
        $hot = Get-PerfReport -Path $PerfData -SortBy Dso, Symbol | Where-Object { -not $_.Kernel -and $_.Symbol -notlike '0x*' } | Select-Object -First 1
        Get-PerfAnnotation -Path $PerfData -Symbol $hot.Symbol | Where-Object Samples
        Compare-PerfReport -ReferencePath $PerfData -DifferencePath $PerfData | Select-Object -First 3
        Measure-PerfCounter -Event task-clock -Command /bin/true
        Get-PerfEvent | Select-Object -First 3
    }
    Get-Samples Ftrace {
        Invoke-Ftrace -Event sched:sched_process_exec, sched:sched_wakeup -Command /bin/sh -ArgumentList '-c', '/bin/true'
        Get-TraceEvent -Name sched:sched_wakeup
        Get-FtraceInstance -IncludeTopLevel | Select-Object -First 1
        Get-FtraceTracer | Select-Object -First 1
    }
    # Function tracers are refused here: the calls come from the debug-kernel VM's recorded output.
    $fn = Get-Content -Raw (Join-Path $Fixtures 'ftrace/function-tracers/verify-output.txt')
    [KernelDebug.Ftrace.FunctionTrace]::ParseFunctionText($fn) | Select-Object -First 3 | Add-Sample
    [KernelDebug.Ftrace.FunctionTrace]::ParseGraphText($fn) | ForEach-Object { $_; $_.Descendants() } | Where-Object { $_.Children.Count -and $_.IsComplete } | Select-Object -First 3 | Add-Sample
    Add-Sample ([KernelDebug.FtraceFilterEntry]@{ Value = 'vfs_read'; Instance = 'kerneldebug_sample' })
    [KernelDebug.Ftrace.TraceHistogramParser]::Parse((Get-Content -Raw (Join-Path $Fixtures 'ftrace/hist/recvfrom-execname-size.hist')), $null, $null) | Add-Sample
    [KernelDebug.Ftrace.SyntheticEvents]::Parse("kerneldebug_wakeup_lat`tpid_t pid; char comm[16]; u64 lat`n") | Add-Sample
    [KernelDebug.Ftrace.WakeupLatency]::Summarize(([KernelDebug.Ftrace.TraceHistogramParser]::Parse((Get-Content -Raw (Join-Path $Fixtures 'ftrace/hist/wakeup-latency-log2.hist')), $null, $null))[0]) | Add-Sample
    [KernelDebug.Ftrace.EventTriggers]::Parse("enable_event:sched:sched_wakeup:count=2 if prev_pid == 1`n", 'kerneldebug_sample', 'sched', 'sched_switch') | Add-Sample
    Get-Samples Probes { New-Uprobe -Name sername -Path $Libc -Symbol getenv -Group $G -Argument 'name=+0(%di):string' }
    Get-Samples KernelLog { Get-KernelLog | Select-Object -Last 20 }
    Get-Samples Memory {
        Get-KmemleakReport -Path (Join-Path $Fixtures 'memory/kmemleak-6.1-test-module.txt'), (Join-Path $Fixtures 'memory/kmemleak-doc.txt')
        Get-KasanReport -Path (Join-Path $Fixtures 'memory/kasan-6.1-lkdtm.txt')
    }
    if (Test-KernelDebugCapability Bpftrace) {
        Get-Samples Bpftrace { Invoke-Bpftrace -Expression 'BEGIN { printf("hello %d\n", 1); @n = count(); @k[1, "a"] = 3; @h = hist(5); @h = hist(100); @s = stats(4); print((1, "x")); exit(); }' }
        # A bpftrace that holds a program, a map with entries and a link while the Bpf cmdlets list them.
        $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source)
        foreach ($a in '-e', 'tracepoint:syscalls:sys_enter_getppid { @kdcalls[tid] = count(); } interval:s:30 { exit(); }') { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        $bt = [System.Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            do {
                Start-Sleep -Milliseconds 200
                $null = & /bin/bash -c ':'   # bash reads its PPID with getppid
                $prog = Get-BpfProgram -Instructions | Where-Object { $bt.Id -in $_.ProcessIds -and $_.MapIds.Count } | Select-Object -First 1
            } until ($prog -or [DateTime]::UtcNow -gt $deadline)
            if ($prog) {
                $prog | Add-Sample
                $map = Get-BpfMap | Where-Object { $bt.Id -in $_.ProcessIds -and $_.Type -like '*hash*' } | Select-Object -First 1
                $map | Add-Sample
                $null = & /bin/bash -c ':'
                if ($map) { Read-BpfMap -Id $map.Id | Add-Sample }
                Get-BpfLink | Add-Sample
            }
        }
        finally { if (-not $bt.HasExited) { $bt.Kill($true) }; $bt.WaitForExit() }
        Get-BpfBtf | Select-Object -First 2 | Add-Sample
        # bpftrace attaches tracepoints through perf events, which make no link, and this bpftool cannot attach: without
        # another loader's link the type's shape is checked on one built as Get-BpfLink builds a raw_tracepoint link.
        if (-not $Samples['KernelDebug.BpfLink']) {
            $details = [KernelDebug.ItemDictionary[string, object]]::new()
            $details['BtfObjectId'] = [uint32]1; $details['BtfTypeId'] = [uint32]42
            Add-Sample ([KernelDebug.BpfLink]@{ Id = 7; Type = 'raw_tracepoint'; ProgramId = 12; Target = 'sched_switch'; Details = $details })
        }
    }
    else { $Missing['Bpftrace'] = 'bpftrace cannot run on this host (Get-KernelDebugCapability Bpftrace)' }
    if (Get-Command stap -CommandType Application -ErrorAction Ignore) {
        Get-Samples SystemTap { Invoke-SystemTap -Stage 1 -Script 'probe begin { printf("hi\n"); exit() }' }
    }
    else { $Missing['SystemTap'] = 'stap is not installed' }

    # The documented members of each type, read as scriptblocks from an object ($_); the first sample on which they
    # all have a value is the one checked. Nested members are what remoting used to turn into text.
    $script:Members = @{
        'KernelDebug.Capability'          = { $_.Name }, { $_.Available }, { $_.Detail }
        'KernelDebug.HealthCheckResult'   = { $_.ComputerName }, { $_.Check }, { $_.Name }, { $_.Result }, { $_.Reason }, { $_.Duration }
        'KernelDebug.SyscallEvent'        = { $_.Arguments[1].Value }, { $_.Arguments[0].Name }, { $_.Arguments[0].Raw }, { $_.Duration }, { $_.Timestamp }, { if ($_.StackTrace) { $_.StackTrace[0].Symbol } }, { if ($_.StackTrace) { $_.StackTrace[0].Address } }, { if ($_.Arguments.Count) { $_.Arguments[0].Descriptor.Target } }
        'KernelDebug.SyscallSignal'       = { $_.Signal }, { $_.Code }, { $_.Timestamp }
        'KernelDebug.SyscallProcessExit'  = { $_.ExitCode }, { $_.ProcessId }
        'KernelDebug.SyscallSummary'      = { $_.Name }, { $_.Calls }, { $_.TotalTime }
        'KernelDebug.LibraryCall'         = { $_.Arguments[0].Value }, { $_.Arguments[0].Text }, { $_.Function }, { $_.ReturnText }
        'KernelDebug.LibraryCallSummary'  = { $_.Function }, { $_.Calls }
        'KernelDebug.PerfSample'          = { $_.CallChain[0].Symbol }, { $_.CallChain[0].Ip }, { $_.CallChain[0].Dso }, { $_.Time }, { $_.TimeSeconds }
        'KernelDebug.PerfHotspot'         = { $_.Symbol }, { $_.Overhead }, { $_.Event }
        'KernelDebug.PerfAnnotatedInstruction' = { $_.Address }, { $_.Samples }, { $_.Percent }, { $_.Instruction }, { $_.Symbol }
        'KernelDebug.PerfDiffEntry'       = { $_.Symbol }, { $_.Baseline }, { $_.Delta }, { $_.Ratio }, { $_.Compute }
        'KernelDebug.PerfRecording'       = { $_.Path }, { $_.State }, { $_.StartTime }, { $_.Samples }, { $_.Lost }, { $_.Id }
        'KernelDebug.PerfCounterResult'   = { $_.Event }, { $_.Value }, { $_.TimeEnabled }
        'KernelDebug.PerfEventInfo'       = { $_.Name }, { $_.Type }
        'KernelDebug.TraceRecord'         = { $_.Fields.comm }, { $_.Fields.pid }, { $_.comm_field }, { $_.Comm }, { $_.ProcessId }, { $_.Time }
        'KernelDebug.TraceEventInfo'      = { $_.Fields[0].Name }, { $_.Fields[0].Type }, { $_.Format.Name }
        'KernelDebug.FtraceInstance'      = { $_.Name }, { $_.BufferSizeKb }
        'KernelDebug.FtraceTracer'        = { $_.Name }
        'KernelDebug.FtraceFilterEntry'   = { $_.Value }, { $_.Kind }
        'KernelDebug.TraceEventTrigger'   = { $_.Type }, { $_.Count }, { $_.Filter }, { $_.TargetEvent }, { $_.Definition }
        'KernelDebug.TraceHistogram'      = { $_.Buckets[0].Keys.common_pid }, { $_.Buckets[0].Labels.common_pid }, { $_.Buckets[0].HitCount }, { $_.Entries }, { $_.Trigger }
        'KernelDebug.SyntheticEvent'      = { $_.Name }, { $_.Fields[0] }, { $_.FullName }, { $_.Definition }
        'KernelDebug.WakeupLatencyHistogram' = { $_.ProcessId }, { $_.Command }, { $_.Buckets[0].UpToMicroseconds }, { $_.Buckets[0].Count }, { $_.MaxMicroseconds }
        'KernelDebug.FunctionCall'        = { $_.Function }, { $_.Parent }
        'KernelDebug.FunctionGraphCall'   = { $_.Function }, { $_.Children[0].Function }, { $_.Duration }
        'KernelDebug.ProbeDefinition'     = { $_.Arguments[0].Name }, { $_.Arguments[0].Fetch }, { $_.Kind }
        'KernelDebug.KernelLogEntry'      = { $_.Message }, { $_.Timestamp }, { $_.Level }
        'KernelDebug.KmemleakObject'      = { $_.Backtrace[0].Symbol }, { $_.Backtrace[0].Offset }, { $_.AllocatedIn.Address }, { $_.HexDump }
        'KernelDebug.MemoryErrorReport'   = { $_.CallTrace[0].Symbol }, { $_.AllocatedBy.Stack[0].Symbol }, { $_.AllocatedBy.Caller.Symbol }, { $_.Object.Cache }, { $_.Detector }
        'KernelDebug.BpfProgram'          = { $_.Instructions[0].Text }, { $_.MapIds[0] }, { $_.LoadTime }
        'KernelDebug.BpfMap'              = { $_.Name }, { $_.ProcessIds[0] }
        'KernelDebug.BpfLink'             = { $_.Type }, { $_.ProgramId }, { $_.Details.Count }
        'KernelDebug.BpfBtf'              = { $_.Name }, { $_.Size }
        'KernelDebug.BpfMapEntry'         = { $_.Key }, { $_.MapName }
        'KernelDebug.BpftraceText'        = { $_.Text }
        'KernelDebug.BpftraceMap'         = { $_.Name }, { $_.Entries.Count }
        'KernelDebug.BpftraceHistogram'   = { $_.Buckets[0].Range }, { $_.Buckets[0].Count }
        'KernelDebug.BpftraceStats'       = { $_.Count }, { $_.Average }
        'KernelDebug.SystemTapOutput'     = { $_.Text }, { $_.Stage }
        'KernelDebug.Bpf.BpfObject'       = { $_.Name }, { $_.LoadTime }
        'KernelDebug.Bpf.BpfAttachment'   = { $_.ProgramName }, { $_.Target }, { $_.LinkIds[0] }
        'KernelDebug.Bpf.BpfRawEvent'     = { $_.Map }, { $_.Size }
    }
    # Types whose only source needs a tool or feature this host may lack.
    $script:NeedsArea = @{
        'KernelDebug.BpfProgram' = 'Bpftrace'; 'KernelDebug.BpfMap' = 'Bpftrace'; 'KernelDebug.BpfLink' = 'Bpftrace'
        'KernelDebug.BpfBtf' = 'Bpftrace'; 'KernelDebug.BpfMapEntry' = 'Bpftrace'; 'KernelDebug.BpftraceText' = 'Bpftrace'
        'KernelDebug.BpftraceMap' = 'Bpftrace'; 'KernelDebug.BpftraceHistogram' = 'Bpftrace'; 'KernelDebug.BpftraceStats' = 'Bpftrace'
        'KernelDebug.SystemTapOutput' = 'SystemTap'
        'KernelDebug.Bpf.BpfObject' = 'BpfEngine'; 'KernelDebug.Bpf.BpfAttachment' = 'BpfEngine'
    }

    function Get-Value($Object, [scriptblock] $Member) { @($Object | ForEach-Object $Member) }
    function Get-Checked([string] $Type) {
        # The first sample on which every documented member has a value.
        if (-not $Members.ContainsKey($Type)) { throw "No documented members listed for $Type in Runbook.Output.Tests.ps1." }
        if (-not $Samples.ContainsKey($Type)) {
            if ($NeedsArea[$Type] -and $Missing[$NeedsArea[$Type]]) { Set-ItResult -Skipped -Because "no $Type on this host: $($Missing[$NeedsArea[$Type]])"; return }
            throw "No sample of $Type (sources that failed: $(($Missing.GetEnumerator() | ForEach-Object { "$($_.Key): $($_.Value)" }) -join '; '))."
        }
        $o = $Samples[$Type] | Where-Object { $s = $_; -not @($Members[$Type] | Where-Object { $null -eq (Get-Value $s $_ | Select-Object -First 1) }) } | Select-Object -First 1
        if (-not $o) { throw "No sample of $Type has all of $($Members[$Type] -join ', ') ($($Samples[$Type].Count) samples)." }
        $o
    }
}

AfterAll {
    Get-Uprobe -Group $G -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore
}

Describe 'Output type <Type>' -ForEach $OutputTypes {
    It 'keeps its documented members as objects through PSSerializer at the remoting depth' {
        $o = Get-Checked $Type
        if (-not $o) { return }
        # No explicit depth: the serializer uses the type's SerializationDepth, as a remoting session does.
        $d = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($o))
        $d.PSObject.TypeNames[0] | Should -Be "Deserialized.$Type"
        foreach ($m in $Members[$Type]) {
            $want = @(Get-Value $o $m)
            $got = @(Get-Value $d $m)
            $got.Count | Should -Be $want.Count -Because "$m of a deserialized $Type"
            for ($i = 0; $i -lt $want.Count; $i++) {
                if ($want[$i] -is [enum]) {
                    # An enum arrives as its number or its name.
                    "$($got[$i])" | Should -BeIn @("$($want[$i])", "$([long]$want[$i])") -Because "$m of a deserialized $Type"
                    continue
                }
                "$($got[$i])" | Should -Be "$($want[$i])" -Because "$m of a deserialized $Type"
                if ($want[$i] -isnot [string]) { $got[$i] | Should -Not -BeOfType [string] -Because "$m stays typed" }
            }
        }
        # The views select the deserialized type too: a client with the format file sees the view's columns.
        $head = { param($x) $x | Format-Table | Out-String -Stream | Where-Object { $_.Trim() } | Select-Object -First 2 }
        & $head $d | Should -Be (& $head $o)
    }

    It 'flattens to a readable Export-Csv row and ConvertTo-Json -EnumsAsStrings document' {
        $o = Get-Checked $Type
        if (-not $o) { return }
        $row = @($o | ConvertTo-Csv | ConvertFrom-Csv)[0]
        foreach ($p in $row.PSObject.Properties) {
            # A nested collection or object written as its type name is what Export-Csv does by default.
            $p.Value | Should -Not -Match '^(System\.[\w.`\[\], ]+|KernelDebug\.[\w.]+(\[\])?)$' -Because "column $p of $Type"
        }
        if ($Type -eq 'KernelDebug.BpftraceMap' -and $o.Entries.Count) {
            # bpftrace's map keys are typed (integers, tuples); pwsh 7.6's ConvertTo-Json refuses any dictionary whose keys
            # are not strings, whatever converter the type names.
            { $o | ConvertTo-Json } | Should -Throw '*Keys must be strings*'
            Set-ItResult -Skipped -Because 'pwsh 7.6 ConvertTo-Json refuses dictionaries with non-string keys (bpftrace maps keyed by integers or tuples)'
            return
        }
        $json = $o | ConvertTo-Json -EnumsAsStrings -Depth 4 -WarningAction SilentlyContinue
        $json.Length | Should -BeLessThan 2MB
        $doc = [System.Text.Json.JsonDocument]::Parse($json)
        try {
            $written = @{}
            foreach ($p in $doc.RootElement.EnumerateObject()) { $written[$p.Name] = $p.Value }
            foreach ($prop in $o.GetType().GetProperties()) {
                if (-not $written.ContainsKey($prop.Name)) { continue }
                $el = $written[$prop.Name]
                $t = [Nullable]::GetUnderlyingType($prop.PropertyType) ?? $prop.PropertyType
                if ($el.ValueKind -eq 'Null') { continue }
                if ($t.IsEnum) { $el.ValueKind | Should -Be 'String' -Because "$($prop.Name) is an enum, written by name" }
                if ($t -eq [datetime] -or $t -eq [datetimeoffset]) {
                    $el.GetString() | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)$' -Because "$($prop.Name) is ISO 8601 with sub-second precision and its offset"
                }
            }
        }
        finally { $doc.Dispose() }
    }
}

Describe 'Every output type is covered' {
    It 'lists documented members for every output type of the cmdlets' {
        $types = Get-Command -Module KernelDebug | ForEach-Object { $_.OutputType.Type } | Where-Object { $_ -and $_.Namespace -like 'KernelDebug*' } | ForEach-Object FullName | Sort-Object -Unique
        $types | Where-Object { -not $Members.ContainsKey($_) } | Should -BeNullOrEmpty
    }
}

Describe 'PerfSample.Time' {
    It 'is a TimeSpan on perf''s clock, with TimeSeconds its number and Timestamp its nanoseconds' {
        $s = $Samples['KernelDebug.PerfSample'] | Select-Object -First 1
        $s | Should -Not -BeNullOrEmpty -Because ($Missing['Perf'])
        $s.Time | Should -BeOfType [timespan]
        $s.Time.Ticks | Should -Be ([long][math]::Floor($s.Timestamp / 100))
        $s.TimeSeconds | Should -Be ($s.Timestamp / 1e9)
    }
}

Describe 'A client without the module' {
    It 'shows the module''s tables for deserialized <_> once it loads the shipped format files' -ForEach 'KernelDebug.SyscallEvent', 'KernelDebug.PerfSample', 'KernelDebug.TraceRecord' {
        $o = Get-Checked $_
        $xml = Join-Path $TestDrive "$_.clixml"
        # Export-Clixml serializes as remoting does, at the types' SerializationDepth.
        $o | Export-Clixml -Path $xml
        $formats = Get-ChildItem (Split-Path $env:KERNELDEBUG_MODULE_PATH) -Filter 'KernelDebug*.Format.ps1xml' | ForEach-Object FullName
        $script = "`$r = Import-Clixml '$xml'; if (Get-Module KernelDebug) { throw 'module loaded' }; " +
            "`$bare = `$r | Format-Table | Out-String -Stream | Where-Object { `$_.Trim() } | Select-Object -First 1; " +
            "Update-FormatData -PrependPath '$($formats -join "','")'; " +
            "`$bare; '---'; `$r | Format-Table | Out-String -Stream | Where-Object { `$_.Trim() } | Select-Object -First 2"
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $out = @(& $self @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1 | ForEach-Object { "$_" })
        $sep = [array]::IndexOf($out, '---')
        $sep | Should -BeGreaterThan 0 -Because ($out -join "`n")
        $local = @($o | Format-Table | Out-String -Stream | Where-Object { $_.Trim() } | Select-Object -First 2)
        $out[($sep + 1)..($out.Count - 1)] | Should -Be $local
        $out[0] | Should -Not -Be $local[0] -Because 'without the format files the table is not the module''s'
    }
}
