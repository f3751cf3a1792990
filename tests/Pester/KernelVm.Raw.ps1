# Dot-sourced by the KernelVm.*.Tests.ps1 files, which run only inside the debug-kernel guest (tests/vm/Invoke-VmTest.ps1).
# The raw tracefs/debugfs access the tests need beside the cmdlets: the kernel's own verdict on a definition (the errno
# of a raw write, error_log), checks of the files the cmdlets change, hist triggers (no cmdlet), LKDTM's trigger.
# Writes go through the engine's own O_APPEND writer (ControlFile).
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
