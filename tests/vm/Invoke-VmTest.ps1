<#
.SYNOPSIS
    Runs the Pester tests tagged KernelVm inside a QEMU guest that boots the project's debug kernel.
.DESCRIPTION
    The host kernel lacks kprobes, eprobes, hist triggers, kmemleak and KASAN and refuses the function tracers, so
    those features are tested live in a small VM: bzImage-6.1-kd-debug (see tests/vm/README.md) under QEMU's TCG,
    with a busybox initramfs whose /init mounts the host's / read-only over 9p under a tmpfs overlay. The guest thus
    runs the host's own dotnet, pwsh tool, Pester and built module, in one pwsh session, through
    tests/Invoke-PesterRun.ps1 -Tag KernelVm (with the tracefs leak guard around it, inside the guest).
    Results come back through a shared folder (-ResultsPath): pester-summary.json, pester.xml, out.log (the pwsh
    console), console.log (the guest's serial console), dmesg.log, timing. The script writes vm-summary.json there,
    {Passed, Failed, Skipped, ...}, which counts a guest that did not come back as one failed test.
    Exit code 0 when every test passed, 1 otherwise, 2 when the kernel image is absent, 3 when -IfAvailable found
    the kernel or qemu missing (nothing run; on CI, CI=true, qemu is installed and a missing kernel gives 2).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ResultsPath,

    # Folder with bzImage-6.1-kd-debug and kmemleak-test.ko; by default ../shared/kernels beside the repository, else /work/shared/kernels.
    [string] $KernelDirectory,

    # Wall-clock limit for the guest, in seconds.
    [int] $TimeoutSeconds = 2400,

    [int] $MemoryMB = 2048,

    [int] $Cpus = 2,

    # Run only when the kernel image and qemu are already here (exit code 3 and nothing installed otherwise): build.ps1's
    # Test task. With CI=true in the environment qemu is installed when missing, and a missing kernel is a failure (2).
    [switch] $IfAvailable,

    # A sh script to run in the guest instead of the Pester job (diagnosis: e.g. time a bare pwsh start).
    [string] $JobScript,

    # Only the KernelVm test files whose names match these globs (e.g. KernelVm.Probes*): quicker iterations.
    [string[]] $Include = @('*')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$KernelName = 'bzImage-6.1-kd-debug'
$wall = [System.Diagnostics.Stopwatch]::StartNew()

function Find-KernelDirectory {
    $candidates = @((Join-Path (Split-Path $RepoRoot) 'shared/kernels'), '/work/shared/kernels')
    if ($KernelDirectory) { $candidates = @($KernelDirectory) }
    foreach ($c in $candidates) { if (Test-Path (Join-Path $c $KernelName)) { return (Resolve-Path $c).Path } }
    Write-Host "VmTest: the debug kernel $KernelName is not in $($candidates -join ' or ')."
    # On CI (CI=true) the 49 guest tests must run: a missing kernel fails the run instead of skipping it silently.
    if ($IfAvailable -and $env:CI -ne 'true') { Write-Host 'VmTest: not run.'; exit 3 }
    Write-Host "VmTest: build it with tests/vm/Build-DebugKernel.ps1 (about 25 minutes on 2 cores; see tests/vm/README.md), or pass -KernelDirectory."
    exit 2
}

function Install-VmPackage {
    # qemu-system-x86 and busybox-static (its /bin/busybox is the initramfs userland and the guest's insmod).
    $need = @()
    if (-not (Get-Command qemu-system-x86_64 -CommandType Application -ErrorAction Ignore)) { $need += 'qemu-system-x86' }
    if (-not (Test-BusyboxStatic)) { $need += 'busybox-static' }
    if (-not $need) { return }
    Write-Host "VmTest: installing $($need -join ', ') with apt-get"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    & apt-get install -y -qq --no-upgrade @need | Out-Host
    if ($LASTEXITCODE -ne 0) {
        & apt-get update -qq | Out-Host
        & apt-get install -y -qq --no-upgrade @need | Out-Host
    }
    if ($LASTEXITCODE -ne 0) { throw "apt-get install $($need -join ' ') failed (exit code $LASTEXITCODE); install them and rerun." }
}

function Test-BusyboxStatic {
    # A static ELF has no PT_INTERP program header: look for the interpreter path in the first 4 KiB.
    if (-not (Test-Path /bin/busybox)) { return $false }
    $fs = [System.IO.File]::OpenRead('/bin/busybox')
    try {
        $head = [byte[]]::new(4096); $n = $fs.Read($head, 0, $head.Length)
        return -not ([System.Text.Encoding]::ASCII.GetString($head, 0, $n).Contains('/lib64/ld-linux'))
    } finally { $fs.Dispose() }
}

function Write-CpioNewc {
    # An initramfs is a cpio archive in the "newc" format; the kernel unpacks it uncompressed as well.
    param([string] $Path, [object[]] $Entries)
    $out = [System.IO.File]::Create($Path)
    try {
        $ino = 1
        $pad = { param($len) $r = (4 - ($len % 4)) % 4; if ($r) { $out.Write([byte[]]::new($r), 0, $r) } }
        foreach ($e in @($Entries) + @([pscustomobject]@{ Name = 'TRAILER!!!'; Mode = 0; Data = [byte[]]@(); Rdev = @(0, 0) })) {
            $data = [byte[]] $e.Data
            $name = [System.Text.Encoding]::UTF8.GetBytes($e.Name) + [byte] 0
            $nlink = if (($e.Mode -band 0xF000) -eq 0x4000) { 2 } else { 1 }
            $rdev = if ($e.PSObject.Properties['Rdev']) { $e.Rdev } else { @(0, 0) }
            $fields = @($ino++, $e.Mode, 0, 0, $nlink, 0, $data.Length, 0, 0, $rdev[0], $rdev[1], $name.Length, 0)
            $header = [System.Text.Encoding]::ASCII.GetBytes('070701' + (($fields | ForEach-Object { '{0:X8}' -f $_ }) -join ''))
            $out.Write($header, 0, $header.Length); $out.Write($name, 0, $name.Length); & $pad (110 + $name.Length)
            $out.Write($data, 0, $data.Length); & $pad $data.Length
        }
    } finally { $out.Dispose() }
}

function New-Initramfs([string] $Path, [string] $KernelDir) {
    $dir = { param($n) [pscustomobject]@{ Name = $n; Mode = 0x41ED; Data = [byte[]]@() } }
    $entries = [System.Collections.Generic.List[object]]::new()
    foreach ($d in 'bin', 'dev', 'proc', 'sys', 'mnt', 'mnt/lower', 'mnt/upper', 'newroot', 'kd') { $entries.Add((& $dir $d)) }
    # The kernel opens /dev/console for /init's stdio before anything is mounted.
    $entries.Add([pscustomobject]@{ Name = 'dev/console'; Mode = 0x2180; Data = [byte[]]@(); Rdev = @(5, 1) })
    $entries.Add([pscustomobject]@{ Name = 'bin/busybox'; Mode = 0x81ED; Data = [System.IO.File]::ReadAllBytes('/bin/busybox') })
    foreach ($applet in 'sh', 'mount', 'umount', 'mkdir', 'cat', 'cut', 'cp', 'chroot', 'dmesg', 'poweroff', 'sync', 'ls', 'echo', 'sleep') {
        $entries.Add([pscustomobject]@{ Name = "bin/$applet"; Mode = 0xA1FF; Data = [System.Text.Encoding]::ASCII.GetBytes('busybox') })
    }
    $init = (Get-Content (Join-Path $PSScriptRoot 'init.sh') -Raw) -replace "`r`n", "`n"
    $entries.Add([pscustomobject]@{ Name = 'init'; Mode = 0x81ED; Data = [System.Text.Encoding]::UTF8.GetBytes($init) })
    # Test modules (kmemleak-test.ko) land in /run/kd/ in the guest.
    foreach ($ko in Get-ChildItem $KernelDir -Filter '*.ko') {
        $entries.Add([pscustomobject]@{ Name = "kd/$($ko.Name)"; Mode = 0x81A4; Data = [System.IO.File]::ReadAllBytes($ko.FullName) })
    }
    Write-CpioNewc -Path $Path -Entries $entries
}

function ConvertTo-ShellWord([string] $s) { "'" + $s.Replace("'", "'\''") + "'" }

function Get-GuestShare([string[]] $Paths) {
    # The guest mounts its own tmpfs over /tmp and /run, and its own /proc, /sys, /dev: host folders there need a share of their own.
    $hidden = '/tmp', '/run', '/dev', '/proc', '/sys'
    $shares = [ordered]@{}
    foreach ($p in $Paths) {
        $top = $hidden | Where-Object { $p -eq $_ -or $p.StartsWith("$_/") } | Select-Object -First 1
        if (-not $top) { continue }
        if ($top -in '/proc', '/sys', '/dev') { throw "VmTest: $p is under $top, which the guest replaces; move it elsewhere." }
        # Share the first folder below /tmp or /run that holds it (e.g. /tmp/xyz), once.
        $rel = $p.Substring($top.Length).TrimStart('/').Split('/')[0]
        $root = "$top/$rel"
        if (-not $shares.Contains($root)) { $shares[$root] = "kdshare$($shares.Count)" }
    }
    return $shares
}

function Get-ResultSummary([string] $Results, [bool] $GuestReturned) {
    $s = @{ Passed = 0; Failed = 0; Skipped = 0 }
    $summaryFile = Join-Path $Results 'pester-summary.json'
    if (Test-Path $summaryFile) {
        $j = Get-Content $summaryFile -Raw | ConvertFrom-Json
        $s = @{ Passed = [int] $j.Passed; Failed = [int] $j.Failed; Skipped = [int] $j.Skipped }
    }
    $rcText = if (Test-Path (Join-Path $Results 'rc')) { (Get-Content (Join-Path $Results 'rc') -Raw).Trim() } else { $null }
    $notes = @()
    if (-not $GuestReturned) { $notes += 'the guest did not come back within the time limit' }
    elseif (-not $rcText) { $notes += 'the guest stopped without finishing the job (no rc: kernel panic or crash)' }
    elseif (-not (Test-Path $summaryFile)) { $notes += "the Pester run in the guest wrote no summary ($rcText)" }
    elseif ($rcText -ne 'rc=0' -and $s.Failed -eq 0) { $notes += "the Pester run in the guest ended with $rcText and no failed test" }
    elseif ($s.Passed -eq 0 -and $s.Failed -eq 0) { $notes += 'no KernelVm test ran' }
    if ($notes) { $s.Failed += 1 }
    $s.Notes = $notes
    return $s
}

function Read-Timing([string] $Results) {
    $t = @{}
    $file = Join-Path $Results 'timing'
    if (Test-Path $file) {
        foreach ($line in Get-Content $file) { if ($line -match '^(\w+)=([\d.]+)$') { $t[$Matches[1]] = [double] $Matches[2] } }
    }
    $xml = Join-Path $Results 'pester.xml'
    if (Test-Path $xml) {
        try { $t.pester = [double] ([xml] (Get-Content $xml -Raw)).'test-results'.'test-suite'.time } catch { Write-Verbose "pester.xml has no time: $_" }
    }
    return $t
}

# ---------------------------------------------------------------- main

$kernelDir = Find-KernelDirectory
if ($IfAvailable -and $env:CI -ne 'true' -and -not (Get-Command qemu-system-x86_64 -CommandType Application -ErrorAction Ignore)) {
    Write-Host 'VmTest: qemu-system-x86_64 is not installed; not run (build.ps1 -Task VmTest installs it; on CI, CI=true, it is installed).'
    exit 3
}
Install-VmPackage

$ModulePath = (Resolve-Path $ModulePath).Path
$PesterPath = (Resolve-Path $PesterPath).Path
if (Test-Path $ResultsPath) { Remove-Item $ResultsPath -Recurse -Force }
New-Item -ItemType Directory -Path $ResultsPath -Force | Out-Null
$ResultsPath = (Resolve-Path $ResultsPath).Path
$workDir = Join-Path $PSScriptRoot 'work'
New-Item -ItemType Directory -Path $workDir -Force | Out-Null
$initramfs = Join-Path $workDir 'initramfs.cpio'
New-Initramfs -Path $initramfs -KernelDir $kernelDir

# The same dotnet and pwsh as this session: under 'dotnet pwsh' the process is dotnet and pwsh.dll is in $PSHOME.
$self = (Get-Item ([Environment]::ProcessPath)).ResolvedTarget ?? [Environment]::ProcessPath
$pwshCommand = if ((Split-Path $self -Leaf) -eq 'dotnet') { @($self, (Join-Path $PSHOME 'pwsh.dll')) } else { @($self) }
# pwsh -File passes 'a*,b*' as one string.
$Include = @($Include | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$testFiles = @(Get-ChildItem (Join-Path $RepoRoot 'tests/Pester') -Filter '*.Tests.ps1' |
    Where-Object { $n = $_.Name; ($Include | Where-Object { $n -like $_ }) -and (Select-String -Path $_.FullName -Pattern 'KernelVm' -SimpleMatch -Quiet) } |
    ForEach-Object FullName)
if (-not $testFiles) { throw 'VmTest: no file under tests/Pester mentions the KernelVm tag.' }

$nuget = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
$shares = Get-GuestShare @((Split-Path $self), $PSHOME, $RepoRoot, (Split-Path $ModulePath), (Split-Path $PesterPath), $nuget, $HOME)
if ($shares.Count) { $shares.GetEnumerator() | ForEach-Object { "$($_.Value) $($_.Key)" } | Set-Content (Join-Path $ResultsPath 'shares.list') }

# The job: one pwsh session running the KernelVm tests with the leak guard, results into the share (/job).
$envLines = @(
    "export HOME=$(ConvertTo-ShellWord $HOME) NO_COLOR=1 KERNELDEBUG_VM=1",
    'export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off DOTNET_GENERATE_ASPNET_CERTIFICATE=false')
if ($env:NUGET_PACKAGES) { $envLines += "export NUGET_PACKAGES=$(ConvertTo-ShellWord $env:NUGET_PACKAGES)" }
$argv = $pwshCommand + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'tests/Invoke-PesterRun.ps1'),
    '-ModulePath', $ModulePath, '-PesterPath', $PesterPath, '-SummaryPath', '/job/pester-summary.json',
    '-Tag', 'KernelVm', '-TestPath', ($testFiles -join ','))
@(
    '# generated by tests/vm/Invoke-VmTest.ps1'
    $envLines
    "cd $(ConvertTo-ShellWord $RepoRoot)"
    'echo "pwsh=$(cut -d" " -f1 /proc/uptime)" >> /job/timing'
    $(if ($JobScript) { Get-Content $JobScript -Raw } else { ($argv | ForEach-Object { ConvertTo-ShellWord $_ }) -join ' ' })
) -join "`n" | Set-Content (Join-Path $ResultsPath 'run.sh')

$console = Join-Path $ResultsPath 'console.log'
$virtfsPath = { param($p) $p.Replace(',', ',,') }
$qemuArgs = @(
    # Single-threaded TCG: with MTTCG, ftrace/kprobe text patching can leave a stale int3 on the other vCPU (livelock).
    '-accel', 'tcg,thread=single',
    # No 5-level paging: an early-boot timer interrupt then made KASAN report every access and stall the boot.
    '-cpu', 'max,la57=off',
    '-m', "$MemoryMB", '-smp', "$Cpus", '-no-reboot', '-nic', 'none', '-display', 'none', '-vga', 'none',
    # The QEMU monitor, for a look at a stuck guest while it runs (e.g. socat - UNIX-CONNECT:monitor.sock, then "info registers").
    '-monitor', "unix:$(& $virtfsPath (Join-Path $workDir 'monitor.sock')),server=on,wait=off",
    '-serial', "file:$(& $virtfsPath $console)",
    '-kernel', (Join-Path $kernelDir $KernelName), '-initrd', $initramfs,
    # pci=noacpi: the ACPI PCI routing costs ~25 s per device under this kernel; log_buf_len keeps the whole log for dmesg.log.
    '-append', 'console=ttyS0 quiet panic=-1 log_buf_len=4M kasan_multi_shot pci=noacpi',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', "local,path=$(& $virtfsPath $ResultsPath),mount_tag=job,security_model=none,multidevs=remap")
if (Test-Path /usr/share/qemu/qboot.rom) { $qemuArgs += @('-bios', '/usr/share/qemu/qboot.rom') }
foreach ($s in $shares.GetEnumerator()) {
    $qemuArgs += @('-virtfs', "local,path=$(& $virtfsPath $s.Key),mount_tag=$($s.Value),security_model=none,readonly=on,multidevs=remap")
}

Write-Host "VmTest: booting $KernelName from $kernelDir under TCG ($Cpus vCPU, $MemoryMB MiB, limit $TimeoutSeconds s); $($testFiles.Count) test file(s); results in $ResultsPath"
$psi = [System.Diagnostics.ProcessStartInfo]::new('qemu-system-x86_64')
foreach ($a in $qemuArgs) { $psi.ArgumentList.Add($a) }
$psi.UseShellExecute = $false
$psi.RedirectStandardInput = $true
$psi.RedirectStandardOutput = $true
$psi.RedirectStandardError = $true
$qemu = [System.Diagnostics.Process]::Start($psi)
$qemuOut = $qemu.StandardOutput.ReadToEndAsync()
$qemuErr = $qemu.StandardError.ReadToEndAsync()

# Stream the guest's pwsh console while it runs.
$outLog = Join-Path $ResultsPath 'out.log'
$shown = 0L
$streamNew = {
    # Prints the complete lines added since last time (everything at the end).
    param([switch] $Final)
    if (-not (Test-Path $outLog)) { return }
    $fs = [System.IO.File]::Open($outLog, 'Open', 'Read', 'ReadWrite')
    try {
        if ($fs.Length -le $script:shown) { return }
        $null = $fs.Seek($script:shown, 'Begin')
        $buf = [byte[]]::new($fs.Length - $script:shown); $n = $fs.Read($buf, 0, $buf.Length)
        $end = if ($Final) { $n } else { [Array]::LastIndexOf($buf, [byte] 10, $n - 1) + 1 }
        if ($end -le 0) { return }
        Write-Host ([System.Text.Encoding]::UTF8.GetString($buf, 0, $end).TrimEnd("`n"))
        $script:shown += $end
    } finally { $fs.Dispose() }
}
$returned = $true
$limit = [System.Diagnostics.Stopwatch]::StartNew()
try {
    while (-not $qemu.WaitForExit(2000)) {
        & $streamNew
        if ($limit.Elapsed.TotalSeconds -gt $TimeoutSeconds) {
            Write-Host "VmTest: TIMEOUT: the guest did not power off within $TimeoutSeconds s; stopping QEMU (pid $($qemu.Id))."
            $returned = $false
            $qemu.Kill()
            $null = $qemu.WaitForExit(10000)
            break
        }
    }
} finally {
    # Also on Ctrl+C: never leave the guest running.
    if (-not $qemu.HasExited) { $qemu.Kill(); $null = $qemu.WaitForExit(10000) }
}
& $streamNew -Final
$wall.Stop()

$summary = Get-ResultSummary -Results $ResultsPath -GuestReturned $returned
$timing = Read-Timing $ResultsPath
$fmt = { param($v) if ($null -eq $v) { '?' } else { '{0:N1} s' -f $v } }
$jobTime = if ($timing.ContainsKey('end') -and $timing.ContainsKey('boot')) { $timing.end - $timing.boot } else { $null }
$pwshStart = if ($null -ne $jobTime -and $timing.ContainsKey('pester')) { $jobTime - $timing.pester } else { $null }
Write-Host ("VmTest: boot to job {0}; job {1} (pwsh start and discovery {2}, Pester tests {3}); wall {4}" -f
    (& $fmt $timing['boot']), (& $fmt $jobTime), (& $fmt $pwshStart), (& $fmt $timing['pester']), (& $fmt $wall.Elapsed.TotalSeconds))

if ($summary.Failed -gt 0) {
    foreach ($n in $summary.Notes) { Write-Host "VmTest: FAILED: $n" }
    if ($qemuErr.Result) { Write-Host "QEMU stderr:`n$($qemuErr.Result)" }
    if ($qemuOut.Result) { Write-Host "QEMU stdout:`n$($qemuOut.Result)" }
    Write-Host "---- guest console (last 300 lines of $console) ----"
    if (Test-Path $console) { Get-Content $console -Tail 300 | ForEach-Object { Write-Host $_ } } else { Write-Host '(no console output)' }
    Write-Host '---- end of guest console ----'
}
[ordered]@{
    Passed = $summary.Passed; Failed = $summary.Failed; Skipped = $summary.Skipped; Notes = @($summary.Notes)
    BootSeconds = $timing['boot']; JobSeconds = $jobTime; PesterSeconds = $timing['pester']; WallSeconds = [math]::Round($wall.Elapsed.TotalSeconds, 1)
} | ConvertTo-Json | Set-Content (Join-Path $ResultsPath 'vm-summary.json')
Write-Host "VmTest: $($summary.Passed) passed, $($summary.Failed) failed, $($summary.Skipped) skipped"
exit ([int] ($summary.Failed -gt 0))
