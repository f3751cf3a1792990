<#
.SYNOPSIS
    Library-call tracing overhead: a malloc/free-heavy program bare, under Measure-LibraryCall, Get-LibraryCallTrace and ltrace -c.
.DESCRIPTION
    Compiles a program making -Count malloc and -Count free calls (lazy PLT binding, so ltrace sees them), runs each variant
    side by side in one run, and prints the best of -Repeat wall times, the cost per traced call over the bare run, and
    ltrace -c's time over ours. On this VM the uprobe and uretprobe traps themselves cost 9-13 us per call inside the
    traced program (timed by the program around its loop), which bounds what any uprobe-based tracer reaches here.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Count = 20000,
    [int] $Repeat = 3
)
Import-Module $ModulePath -Force
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-libcall-$PID"
New-Item -ItemType Directory -Force $work | Out-Null
try {
    # The same program with no loop: the fixed cost (probes, instance, start) to subtract for the per-call cost.
    foreach ($n in $Count, 0) {
        $source = Join-Path $work "alloc$n.c"
        Set-Content $source @"
#include <stdlib.h>
int main(void) { for (int i = 0; i < $n; i++) { void *volatile p = malloc(32); free(p); } return 0; }
"@
        & gcc -O1 '-Wl,-z,lazy' -o (Join-Path $work "alloc$n") $source
    }
    $program = Join-Path $work "alloc$Count"
    $empty = Join-Path $work 'alloc0'
    $calls = 2 * $Count

    function Measure-Best([scriptblock] $Run) {
        $best = [double]::MaxValue
        for ($i = 0; $i -lt $Repeat; $i++) {
            $sw = [Diagnostics.Stopwatch]::StartNew()
            & $Run | Out-Null
            $best = [math]::Min($best, $sw.Elapsed.TotalSeconds)
        }
        $best
    }

    & $program
    $rows = [ordered]@{}
    $rows['bare'] = Measure-Best { & $program }
    $rows['Measure-LibraryCall'] = Measure-Best { Measure-LibraryCall -Command $program -Function malloc, free }
    $rows['Get-LibraryCallTrace'] = Measure-Best { Get-LibraryCallTrace -Command $program -Function malloc, free }
    $rows['ltrace -c'] = Measure-Best { & ltrace -c -o /dev/null -e malloc+free $program }
    $fixed = @{
        'bare'                 = Measure-Best { & $empty }
        'Measure-LibraryCall'  = Measure-Best { Measure-LibraryCall -Command $empty -Function malloc, free }
        'Get-LibraryCallTrace' = Measure-Best { Get-LibraryCallTrace -Command $empty -Function malloc, free }
        'ltrace -c'            = Measure-Best { & ltrace -c -o /dev/null -e malloc+free $empty }
    }

    $bare = $rows['bare']
    $rows.GetEnumerator() | ForEach-Object {
        [pscustomobject]@{
            Variant       = $_.Key
            Seconds       = [math]::Round($_.Value, 3)
            FixedSeconds  = [math]::Round($fixed[$_.Key], 3)
            # Marginal cost of one traced call: (run - empty run) per call, minus the bare program's own.
            UsPerCall     = [math]::Round((($_.Value - $fixed[$_.Key]) - ($bare - $fixed['bare'])) * 1e6 / $calls, 2)
            LtraceOverUs  = [math]::Round($rows['ltrace -c'] / $_.Value, 2)
        }
    } | Format-Table -AutoSize
    $ours = Measure-LibraryCall -Command $program -Function malloc, free
    "Calls seen by Measure-LibraryCall: $(($ours | Measure-Object Calls -Sum).Sum) (expected $calls)"
}
finally { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
