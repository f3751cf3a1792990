<#
.SYNOPSIS
    Rebuilds bzImage-6.1-kd-debug and kmemleak-test.ko, the kernel the KernelVm tests boot, from Debian's linux-source-6.1.
.DESCRIPTION
    The recipe of ../shared/kernels/README.md, as a script: Debian's linux-source-6.1 package, x86_64_defconfig plus
    kvm_guest.config plus kd-debug.config (this folder), bzImage and the one module (kmemleak-test.ko).
    The fragment adds the latency tracers, stack tracer, function profiler, blktrace and BTF (DWARF only to make BTF:
    pahole from dwarves turns it into /sys/kernel/btf/vmlinux). About 21 minutes on 2 idle cores without BTF; with
    it 95 minutes were measured on 2 cores shared with other work. -ConfigOnly stops after the configuration and compares it with
    config-6.1-kd-debug of the shared folder when that is present (a check that the recipe still gives the same kernel).
    Needs root for apt-get (bison flex libelf-dev bc libssl-dev dwarves cpio and the source package).
.EXAMPLE
    dotnet pwsh tests/vm/Build-DebugKernel.ps1 -OutputDirectory ../shared/kernels
#>
[CmdletBinding()]
param(
    # Where bzImage-6.1-kd-debug, config-6.1-kd-debug and kmemleak-test.ko go.
    [string] $OutputDirectory = (Join-Path $PSScriptRoot 'work/kernel'),

    # Scratch folder for the source tree and the object tree (a few GiB).
    [string] $WorkDirectory = (Join-Path $PSScriptRoot 'work/kernel-build'),

    [int] $Jobs = [Environment]::ProcessorCount,

    [switch] $ConfigOnly
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Invoke-Step([string] $FilePath, [string[]] $ArgumentList, [string] $WorkingDirectory = $WorkDirectory) {
    Write-Host "+ $FilePath $($ArgumentList -join ' ')"
    Push-Location $WorkingDirectory
    try { & $FilePath @ArgumentList; if ($LASTEXITCODE -ne 0) { throw "$FilePath failed with exit code $LASTEXITCODE" } }
    finally { Pop-Location }
}

New-Item -ItemType Directory -Path $WorkDirectory, $OutputDirectory -Force | Out-Null
$WorkDirectory = (Resolve-Path $WorkDirectory).Path
$env:DEBIAN_FRONTEND = 'noninteractive'
# dwarves: pahole, which CONFIG_DEBUG_INFO_BTF needs; cpio: the shared folder's vmrun.sh packs its initramfs with it.
Invoke-Step apt-get @('install', '-y', '-qq', '--no-upgrade', 'bison', 'flex', 'libelf-dev', 'bc', 'libssl-dev', 'dwarves', 'cpio', 'xz-utils', 'make', 'gcc')
if (-not (Get-Command pahole -CommandType Application -ErrorAction SilentlyContinue)) { throw 'pahole (package dwarves) is missing: CONFIG_DEBUG_INFO_BTF cannot be built without it.' }

$src = Join-Path $WorkDirectory 'linux-source-6.1'
$obj = Join-Path $WorkDirectory 'obj'
if (-not (Test-Path (Join-Path $src 'Makefile'))) {
    Invoke-Step apt-get @('download', 'linux-source-6.1')
    $deb = Get-ChildItem $WorkDirectory -Filter 'linux-source-6.1_*.deb' | Sort-Object Name | Select-Object -Last 1
    Invoke-Step dpkg-deb @('-x', $deb.FullName, 'x')
    Invoke-Step tar @('-xJf', 'x/usr/src/linux-source-6.1.tar.xz')
}
New-Item -ItemType Directory -Path $obj -Force | Out-Null
$fragment = Join-Path $PSScriptRoot 'kd-debug.config'
Invoke-Step make @("O=$obj", 'x86_64_defconfig') $src
Invoke-Step make @("O=$obj", 'kvm_guest.config') $src
Invoke-Step (Join-Path $src 'scripts/kconfig/merge_config.sh') @('-m', '-O', $obj, (Join-Path $obj '.config'), $fragment) $src
Invoke-Step make @("O=$obj", 'olddefconfig') $src

# Every option of the fragment must have survived olddefconfig (a dependency that is off drops it silently).
$config = Get-Content (Join-Path $obj '.config')
$lost = foreach ($line in Get-Content $fragment) {
    if ($line -match '^(CONFIG_\w+)=(.*)$') { if ($config -notcontains $line) { $line } }
    elseif ($line -match '^# (CONFIG_\w+) is not set$') { if ($config -match "^$($Matches[1])=") { $line } }
}
if ($lost) { throw "olddefconfig dropped these options of kd-debug.config:`n$($lost -join "`n")" }
$shared = @((Join-Path (Split-Path (Split-Path (Split-Path $PSScriptRoot))) 'shared/kernels/config-6.1-kd-debug'), '/work/shared/kernels/config-6.1-kd-debug') |
    Where-Object { Test-Path $_ } | Select-Object -First 1
if ($shared) {
    $strip = { param($lines) $lines | Where-Object { $_ -match '^CONFIG_|^# CONFIG_' } }
    $diff = Compare-Object (& $strip (Get-Content $shared)) (& $strip $config)
    if ($diff) { Write-Warning "the configuration differs from $shared in $(@($diff).Count) line(s):`n$(($diff | Select-Object -First 20 | Out-String))" }
    else { Write-Host "The configuration equals $shared." }
}
Copy-Item (Join-Path $obj '.config') (Join-Path $OutputDirectory 'config-6.1-kd-debug')
if ($ConfigOnly) { return }

Invoke-Step make @("O=$obj", "-j$Jobs", 'bzImage') $src
Invoke-Step make @("O=$obj", "-j$Jobs", 'modules') $src
Copy-Item (Join-Path $obj 'arch/x86/boot/bzImage') (Join-Path $OutputDirectory 'bzImage-6.1-kd-debug')
Copy-Item (Join-Path $obj 'samples/kmemleak/kmemleak-test.ko') $OutputDirectory
Write-Host "Built $OutputDirectory/bzImage-6.1-kd-debug and kmemleak-test.ko; run the VM tests with -KernelDirectory $OutputDirectory."
