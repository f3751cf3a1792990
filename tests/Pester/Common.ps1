# Dot-sourced by every *.Tests.ps1: imports the built module named by build.ps1 (or the newest one in output/).
if (-not $env:KERNELDEBUG_MODULE_PATH) {
    $env:KERNELDEBUG_MODULE_PATH = Get-ChildItem (Join-Path $PSScriptRoot '../../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse |
        Sort-Object FullName -Descending | Select-Object -First 1 -ExpandProperty FullName
}
Import-Module $env:KERNELDEBUG_MODULE_PATH -Force -ErrorAction Stop
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:TraceFs = (Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'tracefs *' } | Select-Object -First 1) -split ' ' | Select-Object -Index 4

function Invoke-ChildPwsh([string[]] $ArgumentList) {
    # A child pwsh of this version; under 'dotnet pwsh' this process is dotnet, so pwsh.dll runs through it.
    $self = [Environment]::ProcessPath
    if ((Split-Path $self -Leaf) -eq 'dotnet') { & $self (Join-Path $PSHOME 'pwsh.dll') @ArgumentList } else { & $self @ArgumentList }
}
