<#
.SYNOPSIS
    Start-up cost: the first call of Get-SyscallTrace, Receive-TraceEvent and Get-PerfSample in a fresh pwsh against a
    warm call, and a runbook's whole check (pwsh start, import, first call) against strace, perf and trace-cmd's whole run.
.DESCRIPTION
    A runbook starts pwsh for every check, so what it pays is the cold path: pwsh's own start, Import-Module and the
    first call's JIT. For each cmdlet, -Repeat rounds (in turns with the anchors, so load drifting hits all alike) of:
      - a fresh child pwsh (-NoProfile -NonInteractive) that imports the module, times its first call, then the best
        of -Warm more calls, and reports the time from its own process start to the end of the first call and how
        many methods the JIT compiled during the first call (ReadyToRun code needs none);
      - the anchor tool's whole run: strace -c -o /dev/null /bin/true, perf script -i <file> > /dev/null, and
        trace-cmd record -e sched:sched_process_exec /bin/true plus trace-cmd report.
    Prints the medians and the ratios: cold first call / warm call per cmdlet, and pwsh start + import + first call /
    the anchor's whole run.
.EXAMPLE
    dotnet pwsh ./bench/startup.ps1 -Repeat 5
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Repeat = 3,
    [int] $Warm = 5
)
$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-startup-$PID"
New-Item -ItemType Directory $work | Out-Null

function Invoke-ChildPwsh([string[]] $ArgumentList) {
    # A child pwsh of this one's version; under 'dotnet pwsh' the process is dotnet, so run pwsh.dll through it.
    $self = [Environment]::ProcessPath
    if ((Split-Path $self -Leaf) -in 'dotnet', 'dotnet.exe') { & $self (Join-Path $PSHOME 'pwsh.dll') @ArgumentList }
    else { & $self @ArgumentList }
}

function Get-Wall([scriptblock] $Run) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & $Run *> $null
    $sw.Elapsed.TotalMilliseconds
}

function Get-Median([double[]] $Values) {
    $s = @($Values | Sort-Object)
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}

try {
    $perfData = Join-Path $work 'perf.data'
    & perf record -q -F 999 -e cpu-clock -o $perfData -- dd if=/dev/zero of=/dev/null bs=1 count=300000 *> $null
    if ($LASTEXITCODE -ne 0) { throw "perf record failed with exit code $LASTEXITCODE" }
    $traceDat = Join-Path $work 'trace.dat'

    $cases = [ordered]@{
        'Get-SyscallTrace'   = @{
            Call   = 'Get-SyscallTrace -Command /bin/true | Out-Null'
            Anchor = 'strace -c /bin/true'
            Run    = { & strace -c -o /dev/null /bin/true }
        }
        'Receive-TraceEvent' = @{
            # A private instance made, read to its end and removed: the whole cold path without a fixed wait in it.
            Call   = 'Receive-TraceEvent -Event sched:sched_process_exec -NoWait | Out-Null'
            Anchor = 'trace-cmd record /bin/true + report'
            Run    = { & trace-cmd record -q -e sched:sched_process_exec -o $traceDat /bin/true; & trace-cmd report -i $traceDat }
        }
        'Get-PerfSample'     = @{
            Call   = "Get-PerfSample -Path '$perfData' | Out-Null"
            Anchor = 'perf script -i file'
            Run    = { & perf script -i $perfData }
        }
    }

    $results = @{}
    foreach ($name in $cases.Keys) { $results[$name] = [Collections.Generic.List[object]]::new() }
    $loadBefore = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
    for ($round = 0; $round -lt $Repeat; $round++) {
        foreach ($name in $cases.Keys) {
            $c = $cases[$name]
            $script = @"
`$ErrorActionPreference = 'Stop'
`$start = [Diagnostics.Process]::GetCurrentProcess().StartTime
`$sw = [Diagnostics.Stopwatch]::StartNew()
Import-Module '$ModulePath'
`$import = `$sw.Elapsed.TotalMilliseconds
`$jit0 = [System.Runtime.JitInfo]::GetCompiledMethodCount()
`$sw.Restart(); $($c.Call); `$first = `$sw.Elapsed.TotalMilliseconds
`$jit = [System.Runtime.JitInfo]::GetCompiledMethodCount() - `$jit0
`$whole = ([DateTime]::Now - `$start).TotalMilliseconds
`$warm = foreach (`$i in 1..$Warm) { `$sw.Restart(); $($c.Call); `$sw.Elapsed.TotalMilliseconds }
[pscustomobject]@{ Import = `$import; First = `$first; Jit = `$jit; Whole = `$whole; Warm = (`$warm | Measure-Object -Minimum).Minimum } | ConvertTo-Json -Compress
"@
            $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command', $script) 2>&1
            $json = $out | Where-Object { "$_" -like '{*' } | Select-Object -Last 1
            if (-not $json) { throw "$name child failed: $($out -join "`n")" }
            $r = $json | ConvertFrom-Json
            $anchor = Get-Wall $c.Run
            $results[$name].Add([pscustomobject]@{ Import = $r.Import; First = $r.First; Jit = $r.Jit; Whole = $r.Whole; Warm = $r.Warm; Anchor = $anchor })
        }
    }
    $loadAfter = (Get-Content /proc/loadavg) -replace ' \d+/.*$'

    $dll = Join-Path (Split-Path $ModulePath) 'KernelDebug.Engine.dll'
    $r2r = try { $pe = [Reflection.PortableExecutable.PEReader]::new([IO.File]::OpenRead($dll)); $null -ne $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory -and $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory.Size -gt 0 } finally { if ($pe) { $pe.Dispose() } }
    Write-Host "pwsh $($PSVersionTable.PSVersion), .NET $([Environment]::Version), $Repeat rounds, best of $Warm warm calls; KernelDebug.Engine.dll ReadyToRun: $r2r"
    Write-Host "load average before: $loadBefore, after: $loadAfter"
    Write-Host ''
    $rows = foreach ($name in $cases.Keys) {
        $rs = $results[$name]
        [pscustomobject]@{
            Cmdlet              = $name
            'Import ms'         = [math]::Round((Get-Median $rs.Import), 0)
            'First ms'          = [math]::Round((Get-Median $rs.First), 1)
            'JIT methods'       = [int](Get-Median $rs.Jit)
            'Warm ms'           = [math]::Round((Get-Median $rs.Warm), 1)
            'First/Warm'        = [math]::Round((Get-Median @($rs | ForEach-Object { $_.First / $_.Warm })), 2)
            'pwsh+import+first' = [math]::Round((Get-Median $rs.Whole), 0)
            Anchor              = $cases[$name].Anchor
            'Anchor ms'         = [math]::Round((Get-Median $rs.Anchor), 1)
            'Whole/Anchor'      = [math]::Round((Get-Median @($rs | ForEach-Object { $_.Whole / $_.Anchor })), 1)
        }
    }
    $rows | Format-Table -AutoSize | Out-String -Width 200 | Write-Host

    # What progress reporting costs a warm Get-PerfSample: $ProgressPreference Continue (records written to a hosted
    # runspace's Progress stream, as in a job) against SilentlyContinue, in turns, best of -Warm each.
    $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $iss.ImportPSModule($ModulePath)
    $ps = [powershell]::Create($iss)
    try {
        $best = @{ Continue = [double]::MaxValue; SilentlyContinue = [double]::MaxValue }
        $records = 0
        foreach ($i in 0..$Warm) {
            foreach ($pref in 'Continue', 'SilentlyContinue') {
                $ps.Commands.Clear(); $ps.Streams.ClearStreams()
                $ps.Runspace.SessionStateProxy.SetVariable('ProgressPreference', $pref)
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $null = $ps.AddScript("Get-PerfSample -Path '$perfData' | Out-Null").Invoke()
                $ms = $sw.Elapsed.TotalMilliseconds
                if ($i -gt 0 -and $ms -lt $best[$pref]) { $best[$pref] = $ms }  # round 0 warms up
                if ($pref -eq 'Continue') { $records = $ps.Streams.Progress.Count }
            }
        }
        Write-Host ("Progress cost, warm Get-PerfSample: Continue {0:F1} ms ({1} records), SilentlyContinue {2:F1} ms, ratio {3:F2}" -f
            $best.Continue, $records, $best.SilentlyContinue, ($best.Continue / $best.SilentlyContinue))
    }
    finally { $ps.Dispose() }
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction Ignore
}
