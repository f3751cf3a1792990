<#
.SYNOPSIS
    Runs the Pester tests against the built module, with the tracefs leak guard around the whole run.
    Writes {Passed, Failed, Skipped} to -SummaryPath; a leak counts as one more failed test.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $SummaryPath,
    [string] $TestPath,
    [string[]] $ExcludeTag = @(),
    [string[]] $Tag = @()
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
Import-Module (Join-Path $PSScriptRoot 'TraceStateGuard.psm1') -Force
$env:KERNELDEBUG_MODULE_PATH = (Resolve-Path $ModulePath).Path

# Importing the module mounts tracefs when needed; take the snapshot after that.
Import-Module $env:KERNELDEBUG_MODULE_PATH -Force
$null = Get-KernelDebugCapability -Name TraceFs
$before = Get-TraceStateSnapshot  # a failure here ends the run without a summary, which build.ps1 counts as a failure

$config = New-PesterConfiguration
$paths = if ($TestPath) {
    $TestPath -split ',' | ForEach-Object { if (Test-Path $_) { $_ } else { Join-Path $PSScriptRoot "Pester/$_" } }
} else { Join-Path $PSScriptRoot 'Pester' }
$config.Run.Path = $paths
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.Filter.ExcludeTag = $ExcludeTag
if ($Tag) { $config.Filter.Tag = $Tag }
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path (Split-Path $SummaryPath) 'pester.xml'
$result = Invoke-Pester -Configuration $config

try { $leaks = @(Compare-TraceStateSnapshot -Before $before -After (Get-TraceStateSnapshot)) }
catch { $leaks = @("the leak guard could not read the tracing state after the run: $($_.Exception.Message)") }
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
if ($leaks.Count -gt 0) {
    Write-Host "`nLEAK GUARD: the test run changed the kernel's tracing state:" -ForegroundColor Red
    $leaks | ForEach-Object { Write-Host "  $_" -ForegroundColor Red }
    $failed += 1
} else {
    Write-Host "`nLeak guard: the tracing state is as it was before the run."
}
@{ Passed = $result.PassedCount; Failed = $failed; Skipped = $result.SkippedCount } |
    ConvertTo-Json | Set-Content -Path $SummaryPath
exit ([int]($failed -gt 0))
