# Dot-sourced by the KernelVm.*.Tests.ps1 files, which run only inside the debug-kernel guest (tests/vm/Invoke-VmTest.ps1).
# These are the raw tracefs/debugfs mechanisms the area cmdlets are built on, written through the engine's own
# O_APPEND writer (ControlFile) and named after what they do. Each one stands in for a cmdlet of an area branch:
# when the cmdlet lands, replace the call in the test (or the body here) by the cmdlet and keep the assertions.
#   New-RawInstance/Remove-RawInstance      -> the private instance every trace cmdlet makes for itself
#   Add-RawProbe/Remove-RawProbe            -> New-Kprobe / New-Eprobe, Remove-* (probes area)
#   Set-RawTracer, Add-RawFilter            -> Set-FtraceTracer, Set-FtraceFilter (ftrace area)
#   Invoke-RawKmemleakScan, Read-RawKernelLog -> Invoke-KmemleakScan, Get-KasanReport (memory area)
. (Join-Path $PSScriptRoot 'Common.ps1')
$null = Get-KernelDebugCapability -Name TraceFs    # loads the engine assembly, so its types resolve below
$script:KdGroup = [KernelDebug.Host.Naming]::ProcessGroup
$script:DebugFs = [KernelDebug.Host.KernelFileSystems]::GetDebugFs($null)

function Add-RawLine([string] $Path, [string] $Text) { [KernelDebug.Host.ControlFile]::Append($Path, $Text) }

function Read-RawFile([string] $Path) { [KernelDebug.Host.ControlFile]::ReadText($Path) }

function Get-RawWriteErrno([string] $Path, [string] $Text) {
    # The errno the kernel answers a write with (0 when accepted).
    try { Add-RawLine $Path $Text; return 0 }
    catch { $e = $_.Exception; while ($e -and $e -isnot [KernelDebug.Native.KernelDebugException]) { $e = $e.InnerException }; if (-not $e) { throw }; return $e.Errno }
}

function New-RawInstance {
    $path = Join-Path $TraceFs "instances/$([KernelDebug.Host.Naming]::NewInstanceName())"
    [System.IO.Directory]::CreateDirectory($path) | Out-Null
    return $path
}

function Remove-RawInstance([string] $Path) {
    # rmdir of the instance (not a recursive delete: tracefs removes the instance's files itself).
    if ($Path -and (Test-Path $Path)) { [System.IO.Directory]::Delete($Path, $false) }
}

function Add-RawProbe([string] $File, [string] $Definition) { Add-RawLine (Join-Path $TraceFs $File) $Definition }

function Remove-RawProbe([string] $File, [string] $Event) {
    # "-:group/event"; the event must be disabled everywhere first.
    if (Test-Path (Join-Path $TraceFs "events/$Event")) { Add-RawLine (Join-Path $TraceFs $File) "-:$Event" }
}

function Set-RawEventEnable([string] $Instance, [string] $Event, [bool] $On) {
    Add-RawLine (Join-Path $Instance "events/$Event/enable") ([int] $On).ToString()
}

function Invoke-Traced([string] $FilePath, [string[]] $ArgumentList) {
    # Runs a program to completion and returns its pid: the trace lines it caused carry "comm-pid".
    $psi = [System.Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $null = $p.StandardOutput.ReadToEnd(); $err = $p.StandardError.ReadToEnd()
    $p.WaitForExit()
    if ($p.ExitCode -ne 0) { throw "$FilePath $($ArgumentList -join ' ') exited with $($p.ExitCode): $err" }
    return $p.Id
}

function Invoke-RawKmemleakScan {
    Add-RawLine (Join-Path $DebugFs 'kmemleak') 'scan'
    $text = Read-RawFile (Join-Path $DebugFs 'kmemleak')
    # One record per "unreferenced object 0x... (size N):" block.
    foreach ($block in ($text -split '(?m)^(?=unreferenced object )' | Where-Object { $_ -match '^unreferenced object' })) {
        $null = $block -match '^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):'
        $addr = $Matches[1]; $size = [int] $Matches[2]
        $null = $block -match 'comm "([^"]*)", pid (\d+)'
        [pscustomobject]@{
            Address   = $addr; Size = $size; Comm = $Matches[1]; Pid = [int] $Matches[2]
            # Symbols without +offset/size; frames in the module show as raw addresses (no symbols for them).
            Backtrace = @([regex]::Matches($block, '(?m)^\s+\[<[0-9a-f]+>\] ([^+\s]+)') | ForEach-Object { $_.Groups[1].Value })
        }
    }
}

function Read-RawKernelLog {
    # The kernel log as dmesg prints it (the memory area's Get-KasanReport reads /dev/kmsg itself).
    & dmesg
}

function Get-RawLastError([string] $Source = 'trace_kprobe') {
    # The newest error_log entry of $Source (a regex: trace_kprobe, hist:\S*) as {Kind; Command; Column}: the kernel's own verdict on a bad definition.
    # error_log prints "[time] <source>: error: <kind>", then "  Command: <command>", then a caret under the column.
    $log = (Read-RawFile "$TraceFs/error_log") -split "`n"
    $i = [Array]::FindLastIndex($log, [Predicate[string]] { param($l) $l -match "\b${Source}: error: " })
    if ($i -lt 0 -or $i + 2 -ge $log.Count) { return $null }
    $prefix = '  Command: '
    [pscustomobject]@{
        Kind    = ($log[$i] -split ': error: ', 2)[1]
        Command = if ($log[$i + 1].StartsWith($prefix)) { $log[$i + 1].Substring($prefix.Length) } else { $null }
        Column  = $log[$i + 2].IndexOf('^') - $prefix.Length
    }
}

function Invoke-RawEventRun([string] $Instance, [string] $Event, [scriptblock] $Action, [string] $Pattern) {
    # Enables $Event in $Instance around $Action (which returns the pid of what it ran), then returns that pid's
    # trace lines of the event that match $Pattern.
    Set-RawEventEnable $Instance $Event $true
    try { $tracedPid = & $Action }
    finally { Set-RawEventEnable $Instance $Event $false }
    $name = Split-Path $Event -Leaf
    @((Read-RawFile "$Instance/trace") -split "`n" | Where-Object { $_ -match "^\s*\S+-$tracedPid\s.*\b${name}: " -and $_ -match $Pattern })
}

function Remove-RawProbeSet([string] $Instance, [string] $File, [string[]] $Events) {
    # Cleanup: disable in the instance, remove the probes, remove the instance.
    foreach ($e in $Events) {
        if ($Instance -and (Test-Path "$Instance/events/$e")) { Set-RawEventEnable $Instance $e $false }
        Remove-RawProbe $File $e
    }
    Remove-RawInstance $Instance
}
