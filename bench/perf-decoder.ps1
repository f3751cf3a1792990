<#
.SYNOPSIS
    Get-PerfSample and the engine's decoder against perf script and perf report on one perf.data of at least -Samples samples.
.DESCRIPTION
    Records a call-graph profile of a CPU-bound program with perf record, then repeats its data section until the
    file holds -Samples samples (the records are real; only their count grows), and times, in one run:
    perf script > /dev/null (with and without inline resolution), perf report --stdio > /dev/null, the engine decoder
    alone (first in the session and with symbols cached), Get-PerfSample | Measure-Object (first and again), pwsh's own
    pipeline floor for as many objects, and Get-PerfReport. Prints wall and CPU seconds and the ratios.
.EXAMPLE
    ./bench/perf-decoder.ps1 -DataPath /tmp/kd-bench.data   # keeps the perf.data (and the program) for the next run
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Samples = 1000000,
    # Reuse (or keep) the generated perf.data here instead of a temporary file.
    [string] $DataPath
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-$PID"
New-Item -ItemType Directory $work | Out-Null
try {
    # Repeat the data section, each copy shifted later in time by the span of the recording so the records stay in
    # time order (perf script's ordering would otherwise take its slow path); the feature table after the data moves.
    Add-Type -TypeDefinition @"
using System; using System.IO;
public static class KdBenchReplicate {
    public static long Run(string seed, string output, int copies) {
        var b = File.ReadAllBytes(seed);
        long attrsOff = BitConverter.ToInt64(b, 24), dataOff = BitConverter.ToInt64(b, 40), dataSize = BitConverter.ToInt64(b, 48);
        ulong st = BitConverter.ToUInt64(b, (int)attrsOff + 24), flags = BitConverter.ToUInt64(b, (int)attrsOff + 40);
        bool idAll = (flags & (1UL << 18)) != 0;
        Func<ulong, int> bit = m => (st & m) != 0 ? 1 : 0;
        int sampleTime = 8 + 8 * (bit(0x10000) + bit(1) + bit(2));
        int trailer = 8 * (bit(2) + bit(4) + bit(0x40) + bit(0x200) + bit(0x80) + bit(0x10000)), trailerTime = 8 * bit(2);
        var timeAt = new System.Collections.Generic.List<int>(); ulong first = ulong.MaxValue, last = 0;
        for (long off = dataOff; off < dataOff + dataSize;) {
            uint type = BitConverter.ToUInt32(b, (int)off); int size = BitConverter.ToUInt16(b, (int)off + 6);
            int at = type == 9 ? sampleTime : (type < 64 && idAll && size >= 8 + trailer ? size - trailer + trailerTime : -1);
            if (at > 0) { ulong t = BitConverter.ToUInt64(b, (int)(off + at)); if (t != 0) { timeAt.Add((int)(off - dataOff + at)); first = Math.Min(first, t); last = Math.Max(last, t); } }
            off += size;
        }
        ulong span = last - first + 1000000;
        using var fs = File.Create(output);
        fs.Write(b, 0, (int)dataOff);
        var data = new byte[dataSize];
        for (int c = 0; c < copies; c++) {
            Array.Copy(b, dataOff, data, 0, dataSize);
            foreach (var p in timeAt) BitConverter.GetBytes(BitConverter.ToUInt64(data, p) + span * (ulong)c).CopyTo(data, p);
            fs.Write(data, 0, data.Length);
        }
        var feat = new byte[b.Length - dataOff - dataSize];
        Array.Copy(b, dataOff + dataSize, feat, 0, feat.Length);
        int nfeat = 0; for (int w = 0; w < 4; w++) { ulong v = BitConverter.ToUInt64(b, 72 + 8 * w); while (v != 0) { nfeat += (int)(v & 1); v >>= 1; } }
        long shift = dataSize * (copies - 1);
        for (int f = 0; f < nfeat; f++) BitConverter.GetBytes(BitConverter.ToInt64(feat, 16 * f) + shift).CopyTo(feat, 16 * f);
        fs.Write(feat, 0, feat.Length);
        fs.Position = 48; fs.Write(BitConverter.GetBytes(dataSize * copies), 0, 8);
        return timeAt.Count;
    }
}
"@
    $big = if ($DataPath) { $DataPath } else { Join-Path $work 'big.data' }
    $n = 0
    if (-not (Test-Path $big)) {
        # Kept next to a reused perf.data, so its symbols are found on the next run.
        $prog = Join-Path ($DataPath ? (Split-Path -Parent ([IO.Path]::GetFullPath($DataPath))) : $work) 'kd-bench-workload'
        & gcc -O1 -fno-omit-frame-pointer -o $prog (Join-Path $PSScriptRoot '../tests/fixtures/perf/workload.c')
        $seed = Join-Path $work 'seed.data'
        & perf record -g -F 4000 -o $seed -- $prog 3000 10 2000 400000000 1 2>$null | Out-Null
        # perf counts the seed's samples (one line each with -F time), so nothing of ours is warm before the timings.
        $seedCount = @(& perf script -F time -i $seed 2>$null | Where-Object { $_.Trim() }).Count
        $copies = [int][math]::Max(1, [math]::Ceiling($Samples / $seedCount))
        $null = [KdBenchReplicate]::Run($seed, $big, $copies)
        $n = $seedCount * $copies
        "perf.data: $n samples with call chains ($seedCount x $copies), $([math]::Round((Get-Item $big).Length / 1MB)) MiB"
    }

    # Wall time, and CPU time from /proc/self/stat: this process's own (utime, stime) and that of the children it
    # waited for (cutime, cstime), so a native tool's CPU counts too. CPU time tells more than wall time on a busy host.
    function Get-CpuSeconds {
        $f = (Get-Content /proc/self/stat -Raw).Split(')')[-1].Trim().Split(' ')
        ([double]$f[11] + [double]$f[12] + [double]$f[13] + [double]$f[14]) / 100
    }
    $rows = [System.Collections.Generic.List[object]]::new()
    function Measure-Run([string] $Name, [scriptblock] $Block) {
        $cpu = Get-CpuSeconds
        $wall = (Measure-Command $Block).TotalSeconds
        $row = [pscustomobject]@{ Tool = $Name; Seconds = $wall; CpuSeconds = (Get-CpuSeconds) - $cpu }
        $rows.Add($row)
        $row
    }
    # perf's output goes straight to /dev/null through sh: pwsh's own redirection of a native command reads every
    # line back through its pipeline (that made perf script look 30 times slower than it is).
    function Invoke-Quiet([string[]] $Command) { & /bin/sh -c 'exec "$@" > /dev/null 2>&1' sh @Command }
    $decode = {
        $file = [KernelDebug.Perf.PerfDataFile]::Open($big)
        try { $script:decoded = [System.Linq.Enumerable]::Count([System.Collections.Generic.IEnumerable[KernelDebug.PerfSample]]([KernelDebug.Perf.PerfDataDecoder]::new($file, $null).Samples([System.Threading.CancellationToken]::None))) }
        finally { $file.Dispose() }
    }
    "load average before the timings (2 cores, shared): $((Get-Content /proc/loadavg).Split(' ')[0..2] -join ' ')"

    $script = Measure-Run 'perf script > /dev/null' { Invoke-Quiet perf, script, -i, $big }
    # perf script resolves inlined frames with addr2line where debug info exists (libc6-dbg here); --no-inline skips that.
    $scriptNoInline = Measure-Run 'perf script --no-inline > /dev/null' { Invoke-Quiet perf, script, --no-inline, -i, $big }
    $report = Measure-Run 'perf report --stdio > /dev/null' { Invoke-Quiet perf, report, -i, $big, --stdio }
    # Loads the engine assembly (the file does not exist), nothing else: the first decode below still starts cold.
    Get-PerfSample -Path (Join-Path $work 'none.data') -ErrorAction Ignore
    # The first decode in a session loads /proc/kallsyms and the DSOs' symbol tables (cached for the session after)
    # and compiles the code.
    $decoderCold = Measure-Run 'decoder (engine), first in session' $decode
    $decoder = Measure-Run 'decoder (engine), symbols cached' $decode
    # pwsh's own per-object pipeline cost is most of Get-PerfSample | Measure-Object, and its first run in a session
    # pays for compiling pwsh's pipeline code (System.Management.Automation of the pwsh dotnet tool is IL only, not
    # ReadyToRun): the floor rows below show what any cmdlet writing as many objects costs, first and again.
    $cmdletFirst = Measure-Run 'Get-PerfSample | Measure-Object, first' { $script:counted = (Get-PerfSample $big | Measure-Object).Count }
    $cmdlet = Measure-Run 'Get-PerfSample | Measure-Object, again' { $script:counted = (Get-PerfSample $big | Measure-Object).Count }
    $list = [System.Collections.Generic.List[object]]::new($counted)
    $file = [KernelDebug.Perf.PerfDataFile]::Open($big)
    try { foreach ($s in [KernelDebug.Perf.PerfDataDecoder]::new($file, $null).Samples([System.Threading.CancellationToken]::None)) { $list.Add($s) } }
    finally { $file.Dispose() }
    $floor = Measure-Run 'pwsh floor: (samples in a list) | Measure-Object, again' { $null = ($list | Measure-Object).Count }
    $list = $null
    # The floor's first pipeline of a session, in a fresh pwsh (this one's pipeline code is compiled by now).
    $child = Join-Path $work 'floor-first.ps1'
    Set-Content $child @'
param($ModulePath, $Data)
Import-Module $ModulePath
Get-PerfSample -Path ($Data + '.none') -ErrorAction Ignore
$list = [System.Collections.Generic.List[object]]::new()
$file = [KernelDebug.Perf.PerfDataFile]::Open($Data)
try { foreach ($s in [KernelDebug.Perf.PerfDataDecoder]::new($file, $null).Samples([System.Threading.CancellationToken]::None)) { $list.Add($s) } }
finally { $file.Dispose() }
function Get-CpuSeconds { $f = (Get-Content /proc/self/stat -Raw).Split(')')[-1].Trim().Split(' '); ([double]$f[11] + [double]$f[12]) / 100 }
$cpu = Get-CpuSeconds
$wall = (Measure-Command { $null = ($list | Measure-Object).Count }).TotalSeconds
'{0} {1}' -f $wall, ((Get-CpuSeconds) - $cpu)
'@
    [string[]] $pwshArgs = if ((Split-Path -Leaf ([Environment]::ProcessPath)) -like 'dotnet*') { @(Join-Path $PSHOME 'pwsh.dll') } else { @() }
    $wallCpu = (& ([Environment]::ProcessPath) @pwshArgs -NoProfile -NonInteractive -File $child $ModulePath $big | Select-Object -Last 1).Split(' ')
    $floorFirst = [pscustomobject]@{ Tool = 'pwsh floor: (samples in a list) | Measure-Object, first (fresh pwsh)'; Seconds = [double]$wallCpu[0]; CpuSeconds = [double]$wallCpu[1] }
    $rows.Add($floorFirst)
    $reportCmdlet = Measure-Run 'Get-PerfReport' { $null = Get-PerfReport -Path $big }
    if ($n -eq 0) { $n = $decoded; "perf.data: $n samples with call chains (reused $big), $([math]::Round((Get-Item $big).Length / 1MB)) MiB" }
    if ($decoded -ne $n -or $counted -ne $n) { throw "sample counts differ: decoder $decoded, Get-PerfSample $counted, expected $n" }

    $rows | Select-Object Tool, @{ n = 'Seconds'; e = { [math]::Round($_.Seconds, 2) } }, @{ n = 'CpuSeconds'; e = { [math]::Round($_.CpuSeconds, 2) } },
        @{ n = 'SamplesPerSecond'; e = { [long]($n / $_.Seconds) } } | Format-Table -AutoSize | Out-String -Width 200
    'Ratios, wall time (CPU time), > 1 means we are faster:'
    $ratio = { param($Name, $Theirs, $Ours) '  {0,-58} {1,6:N2}x ({2:N2}x)' -f $Name, ($Theirs.Seconds / $Ours.Seconds), ($Theirs.CpuSeconds / [math]::Max($Ours.CpuSeconds, 0.01)) }
    & $ratio 'decoder (first in session) vs perf script' $script $decoderCold
    & $ratio 'decoder (symbols cached) vs perf script' $script $decoder
    & $ratio 'decoder (symbols cached) vs perf script --no-inline' $scriptNoInline $decoder
    & $ratio 'Get-PerfSample | Measure-Object (first) vs perf script' $script $cmdletFirst
    & $ratio 'Get-PerfSample | Measure-Object (first) vs pwsh floor (first)' $floorFirst $cmdletFirst
    & $ratio 'Get-PerfSample | Measure-Object (again) vs perf script' $script $cmdlet
    & $ratio 'Get-PerfSample | Measure-Object (again) vs perf script --no-inline' $scriptNoInline $cmdlet
    & $ratio 'Get-PerfSample | Measure-Object (again) vs pwsh floor (again)' $floor $cmdlet
    & $ratio 'Get-PerfReport vs perf report --stdio' $report $reportCmdlet
    '  decoder (symbols cached): {0:N2}M samples/s (goal 2M)' -f ($n / $decoder.Seconds / 1e6)
}
finally { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
