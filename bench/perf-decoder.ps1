<#
.SYNOPSIS
    Get-PerfSample and the engine's decoder against perf script and perf report on one perf.data of at least -Samples samples.
.DESCRIPTION
    Records a call-graph profile of a CPU-bound program with perf record, then repeats its data section until the
    file holds -Samples samples (the records are real; only their count grows), and times, in one run:
    perf script > /dev/null, perf report --stdio > /dev/null, the engine decoder alone, and Get-PerfSample | Measure-Object.
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
        $seedCount = (Get-PerfSample $seed | Measure-Object).Count
        $copies = [int][math]::Max(1, [math]::Ceiling($Samples / $seedCount))
        $null = [KdBenchReplicate]::Run($seed, $big, $copies)
        $n = $seedCount * $copies
        "perf.data: $n samples with call chains ($seedCount x $copies), $([math]::Round((Get-Item $big).Length / 1MB)) MiB"
    }

    # perf's output goes straight to /dev/null through sh: pwsh's own redirection of a native command reads every
    # line back through its pipeline (that made perf script look 30 times slower than it is).
    function Measure-Native([string[]] $Command) { (Measure-Command { & /bin/sh -c 'exec "$@" > /dev/null 2>&1' sh @Command }).TotalSeconds }
    $t = @{}
    $t.PerfScript = Measure-Native perf, script, -i, $big
    # perf script resolves inlined frames with addr2line where debug info exists (libc6-dbg here); --no-inline skips that.
    $t.PerfScriptNoInline = Measure-Native perf, script, --no-inline, -i, $big
    $t.PerfReport = Measure-Native perf, report, -i, $big, --stdio
    $decode = {
        $file = [KernelDebug.Perf.PerfDataFile]::Open($big)
        try { $script:decoded = [System.Linq.Enumerable]::Count([System.Collections.Generic.IEnumerable[KernelDebug.PerfSample]]([KernelDebug.Perf.PerfDataDecoder]::new($file, $null).Samples([System.Threading.CancellationToken]::None))) }
        finally { $file.Dispose() }
    }
    # The first decode in a session loads /proc/kallsyms and the DSOs' symbol tables (cached for the session after).
    $t.DecoderCold = (Measure-Command $decode).TotalSeconds
    $t.Decoder = (Measure-Command $decode).TotalSeconds
    $t.GetPerfSample = (Measure-Command { $script:counted = (Get-PerfSample $big | Measure-Object).Count }).TotalSeconds
    if ($n -eq 0) { $n = $decoded; "perf.data: $n samples with call chains (reused $big), $([math]::Round((Get-Item $big).Length / 1MB)) MiB" }
    if ($decoded -ne $n -or $counted -ne $n) { throw "sample counts differ: decoder $decoded, Get-PerfSample $counted, expected $n" }

    [pscustomobject]@{ Tool = 'perf script > /dev/null'; Seconds = [math]::Round($t.PerfScript, 2); SamplesPerSecond = [math]::Round($n / $t.PerfScript) }
    [pscustomobject]@{ Tool = 'perf script --no-inline > /dev/null'; Seconds = [math]::Round($t.PerfScriptNoInline, 2); SamplesPerSecond = [math]::Round($n / $t.PerfScriptNoInline) }
    [pscustomobject]@{ Tool = 'perf report --stdio'; Seconds = [math]::Round($t.PerfReport, 2); SamplesPerSecond = [math]::Round($n / $t.PerfReport) }
    [pscustomobject]@{ Tool = 'decoder (engine), first in session'; Seconds = [math]::Round($t.DecoderCold, 2); SamplesPerSecond = [math]::Round($n / $t.DecoderCold) }
    [pscustomobject]@{ Tool = 'decoder (engine), symbols cached'; Seconds = [math]::Round($t.Decoder, 2); SamplesPerSecond = [math]::Round($n / $t.Decoder) }
    [pscustomobject]@{ Tool = 'Get-PerfSample | Measure-Object'; Seconds = [math]::Round($t.GetPerfSample, 2); SamplesPerSecond = [math]::Round($n / $t.GetPerfSample) }
    ''
    'Ratios (> 1 means we are faster):'
    '  decoder (first) vs perf script:          {0:N2}x' -f ($t.PerfScript / $t.DecoderCold)
    '  decoder (cached) vs perf script:         {0:N2}x' -f ($t.PerfScript / $t.Decoder)
    '  Get-PerfSample|Measure vs perf script:   {0:N2}x' -f ($t.PerfScript / $t.GetPerfSample)
    '  Get-PerfSample|Measure vs perf script --no-inline: {0:N2}x' -f ($t.PerfScriptNoInline / $t.GetPerfSample)
    '  decoder (cached) vs perf script --no-inline:       {0:N2}x' -f ($t.PerfScriptNoInline / $t.Decoder)
    '  Get-PerfSample|Measure vs perf report:   {0:N2}x' -f ($t.PerfReport / $t.GetPerfSample)
}
finally { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
