<#
.SYNOPSIS
    Import-TraceDat and the engine's trace.dat reader against trace-cmd report on the same file.
.DESCRIPTION
    Builds a trace.dat of about -Records records from the sched+syscalls fixture recorded by trace-cmd (its pages
    repeated, each copy's page timestamps shifted later so the records stay in time order; the pages are real), as
    version 6 (uncompressed) and version 7 (zstd), and times, for each: trace-cmd report > /dev/null, trace-cmd report
    -R > /dev/null, the engine reader (records only; and with every field decoded) and Import-TraceDat | Measure-Object.
    Prints wall seconds, records per second and the ratios against trace-cmd report.
.EXAMPLE
    ./bench/tracedat-read.ps1 -Records 500000
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Records = 1000000
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
if (-not (Get-Command trace-cmd -CommandType Application -ErrorAction Ignore)) { throw 'trace-cmd is not installed: it is the anchor of this benchmark.' }
$seed = Join-Path $PSScriptRoot '../tests/fixtures/ftrace/tracedat/sched-syscalls-v7-zstd.dat'
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-tracedat-$PID"
New-Item -ItemType Directory $work | Out-Null
try {
    # The engine assembly loads with the first cmdlet call.
    $null = Import-TraceDat $seed -Count 1
    Add-Type -IgnoreWarnings -CompilerOptions "-nowarn:1701" -ReferencedAssemblies ([KernelDebug.TraceRecord].Assembly.Location), System.Linq, System.Collections -TypeDefinition @"
public static class KdBenchTraceDat {
    // Records read, and (fields) every field value decoded, in a compiled loop: the reader's cost without PowerShell's.
    public static long Read(string path, bool fields) {
        using var r = new KernelDebug.Ftrace.TraceDatReader(path);
        long n = 0, v = 0;
        foreach (var x in r.ReadRecords(null, null)) { n++; if (fields) v += x.Fields.Count; }
        return n + (v < 0 ? 1 : 0);
    }

    // The seed's pages written copies times, each copy's page timestamps shifted past the previous copy's.
    public static void Build(string seed, string path, int copies, int version, string compression) {
        using var r = new KernelDebug.Ftrace.TraceDatReader(seed);
        ulong first = ulong.MaxValue, last = 0;
        foreach (var x in r.ReadRecords(null, null)) { first = System.Math.Min(first, x.Timestamp); last = System.Math.Max(last, x.Timestamp); }
        ulong span = last - first + 1000000;
        using var w = new KernelDebug.Ftrace.TraceDatWriter(path, r.HeaderPage, r.HeaderEvent, r.PageSize) { Clock = "local", SavedCmdlines = r.SavedCmdlines };
        foreach (var f in r.Formats.Values) w.AddFormat(f);
        foreach (var b in r.Buffers) foreach (var cpu in b.Cpus) {
            if (cpu.Size == 0) continue;
            var pages = new System.Collections.Generic.List<byte[]>();
            foreach (var p in r.ReadPages(b, cpu)) pages.Add(p.ToArray());
            for (int c = 0; c < copies; c++) foreach (var p in pages) {
                var copy = (byte[])p.Clone();
                System.BitConverter.GetBytes(System.BitConverter.ToUInt64(copy, 0) + span * (ulong)c).CopyTo(copy, 0);
                w.WritePage(cpu.Cpu, copy);
            }
        }
        w.Complete(version, compression);
    }
}
"@
    $perCopy = [KdBenchTraceDat]::Read($seed, $false)
    $copies = [math]::Max(1, [math]::Ceiling($Records / $perCopy))
    $files = foreach ($v in @(@{ Version = 6; Compression = $null; Name = 'v6' }, @{ Version = 7; Compression = 'zstd'; Name = 'v7-zstd' })) {
        $path = Join-Path $work "bench-$($v.Name).dat"
        [KdBenchTraceDat]::Build($seed, $path, $copies, $v.Version, $v.Compression)
        [pscustomobject]@{ Name = $v.Name; Path = $path }
    }

    # The best of two runs: the machine may be shared, and the first run also warms the page cache.
    function Measure-Wall([scriptblock] $Block) {
        $best = [double]::MaxValue; $n = $null
        foreach ($i in 1..2) { $sw = [Diagnostics.Stopwatch]::StartNew(); $n = & $Block; $sw.Stop(); $best = [math]::Min($best, $sw.Elapsed.TotalSeconds) }
        [pscustomobject]@{ Seconds = $best; Count = $n }
    }
    $rows = foreach ($f in $files) {
        $size = (Get-Item $f.Path).Length
        $report = Measure-Wall { & trace-cmd report -i $f.Path > /dev/null 2>&1; $null }
        $reportR = Measure-Wall { & trace-cmd report -R -i $f.Path > /dev/null 2>&1; $null }
        $null = [KdBenchTraceDat]::Read($f.Path, $true)   # JIT warm-up
        $engine = Measure-Wall { [KdBenchTraceDat]::Read($f.Path, $false) }
        $engineFields = Measure-Wall { [KdBenchTraceDat]::Read($f.Path, $true) }
        $cmdlet = Measure-Wall { (Import-TraceDat $f.Path | Measure-Object).Count }
        $n = $engine.Count
        foreach ($m in @(
            @{ What = 'trace-cmd report'; M = $report }, @{ What = 'trace-cmd report -R'; M = $reportR },
            @{ What = 'engine reader (records)'; M = $engine }, @{ What = 'engine reader (every field decoded)'; M = $engineFields },
            @{ What = 'Import-TraceDat | Measure-Object'; M = $cmdlet })) {
            [pscustomobject]@{
                File = "$($f.Name) ($([math]::Round($size / 1MB, 1)) MB)"; Reader = $m.What; Records = $n
                Seconds = [math]::Round($m.M.Seconds, 2); 'Records/s' = [math]::Round($n / $m.M.Seconds)
                'vs report' = '{0:N2}x' -f ($report.Seconds / $m.M.Seconds)
            }
        }
    }
    $rows | Format-Table -AutoSize | Out-String -Width 160
    "Ratio: > 1x is faster than trace-cmd report on the same file (which also formats each line as text)."
}
finally { Remove-Item $work -Recurse -Force -ErrorAction Ignore }
