# Dot-sourced by the Perf*.Tests.ps1 files after Common.ps1: the perf oracle's presence and the workload program.
$script:HavePerf = [bool](Get-Command perf -CommandType Application -ErrorAction Ignore) -and [bool](Get-Command gcc -CommandType Application -ErrorAction Ignore)

function New-PerfWorkload([string] $Directory) {
    # A deterministic C program (tests/fixtures/perf/workload.c) built with frame pointers, so call graphs are complete.
    $path = Join-Path $Directory 'workload'
    if (Get-Command gcc -ErrorAction Ignore) { & gcc -O1 -fno-omit-frame-pointer -g -o $path (Join-Path $RepoRoot 'tests/fixtures/perf/workload.c') }
    $path
}
