#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, documents, tests, benchmarks and packages the KernelDebug module.
.DESCRIPTION
    Tasks are plain functions. Run from the repository root with the pinned pwsh:
        dotnet tool restore
        dotnet pwsh ./build.ps1 -Task Test
.PARAMETER Task
    Build   dotnet publish into output/KernelDebug/<version>/ with the manifest, ps1xml files and en-US help.
    Docs    docs/en-US/*.md (PlatyPS format) to MAML and about_*.help.txt in the output module.
    Test    Build, then xunit and Pester against output/ (with the Torture-tagged cases; their outcomes go to
            output/TestResults/torture.jsonl and a "Torture: tried N, clean N, ..." line), then the VmTest part when the debug kernel and qemu are
            here (KERNELDEBUG_SKIP_VM=1 or -PesterPath leave it out); ends with "N passed, N failed, N skipped".
    VmTest  Build, then the Pester tests tagged KernelVm inside a QEMU guest running the debug kernel.
    Bench   Build, then every bench/*.ps1 (each prints its own ratios).
    Package A .nupkg of the built module in output/package, installable from a local repository folder.
    Demo    Build, then the host report: the capability table and a live demonstration of what works here.
    BpfPrograms  Recompiles the module's own BPF programs (src/KernelDebug.Engine/Bpf/Programs/*.bpf.c) and the test
            fixtures in tests/fixtures/bpf with clang -target bpf -g -O2; the .bpf.o files are committed, so only
            changing a .bpf.c needs this (BpfEngine.Tests.ps1 checks they match their sources).
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Docs', 'Test', 'VmTest', 'Bench', 'Package', 'Demo', 'BpfPrograms')]
    [string[]] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Pester tests to run (Test task): paths or names under tests/Pester; all by default.
    [string[]] $PesterPath,

    # Skip the xunit part of the Test task (quick Pester iterations).
    [switch] $SkipXunit,

    # Skip the Pester part of the Test task.
    [switch] $SkipPester,

    # Add ReadyToRun code for this machine's architecture to the module's dlls (ours and deps/), compiled by crossgen2
    # against the .NET and the System.Management.Automation this pwsh runs on (7.6, .NET 10). The IL stays net8.0:
    # pwsh 7.4 (.NET 8) ignores native code of a newer R2R major version and JIT-compiles as before. Off by default:
    # an image for one architecture does not load on another, so the default package stays portable IL.
    # bench/startup.ps1 measures both builds.
    [switch] $ReadyToRun
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$Manifest = Import-PowerShellDataFile (Join-Path $Root 'KernelDebug.psd1')
$Version = $Manifest.ModuleVersion
$OutputRoot = Join-Path $Root 'output'
$ModuleDir = Join-Path $OutputRoot "KernelDebug/$Version"
$ResultsDir = Join-Path $OutputRoot 'TestResults'
$script:Built = $false
$PesterVersion = '5.7.1'

function Invoke-Native {
    # Runs a program (argv, no shell) and fails the build when it fails.
    param([string] $FilePath, [string[]] $ArgumentList)
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "$FilePath $($ArgumentList -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Pwsh([string[]] $ArgumentList) {
    # A child pwsh of the same version as this one; under 'dotnet pwsh' the process is dotnet, so run pwsh.dll through it.
    $self = [Environment]::ProcessPath
    if ((Split-Path $self -Leaf) -in 'dotnet', 'dotnet.exe') { & $self (Join-Path $PSHOME 'pwsh.dll') @ArgumentList }
    else { & $self @ArgumentList }
}

function Get-NuGetPackageRoot {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    return Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages'
}

function Get-PesterManifest {
    $path = Join-Path (Get-NuGetPackageRoot) "pester/$PesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $path)) {
        # The test project's PackageDownload brings Pester into the NuGet cache.
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/KernelDebug.Tests/KernelDebug.Tests.csproj'), '--verbosity', 'quiet')
    }
    if (-not (Test-Path $path)) { throw "Pester $PesterVersion is not in the NuGet cache at $path after restore." }
    return $path
}

function Invoke-TaskBuild {
    $publish = Join-Path $OutputRoot 'publish'
    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    if (Test-Path $publish) { Remove-Item $publish -Recurse -Force }
    $publishArgs = @('publish', (Join-Path $Root 'src/KernelDebug/KernelDebug.csproj'), '-c', $Configuration, '-o', $publish, '--nologo', '--verbosity', 'quiet')
    Invoke-Native dotnet $publishArgs
    # The module's own assemblies at the root; every third-party dll in deps/, which PowerShell's probing does not
    # search: KernelDebug.dll loads them into the module's own AssemblyLoadContext (DependencyLoadContext.cs).
    $deps = Join-Path $ModuleDir 'deps'
    New-Item -ItemType Directory -Path $deps -Force | Out-Null
    foreach ($file in Get-ChildItem $publish -File | Where-Object { $_.Extension -in '.dll', '.pdb' -and $_.Name -notlike 'System.Management.Automation*' }) {
        Copy-Item $file.FullName -Destination $(if ($file.Name -like 'KernelDebug*') { $ModuleDir } else { $deps })
    }
    if ($ReadyToRun) { Invoke-ReadyToRun -Assemblies @(Get-ChildItem $ModuleDir, $deps -Filter *.dll) }
    Copy-Item (Join-Path $Root 'KernelDebug.psd1') $ModuleDir
    Copy-Item (Join-Path $Root 'module/*') $ModuleDir -Recurse
    # The package carries the licence, the release notes and the README beside the module.
    Copy-Item (Join-Path $Root 'LICENSE'), (Join-Path $Root 'CHANGELOG.md'), (Join-Path $Root 'README.md') $ModuleDir
    Invoke-TaskDocs
    $script:Built = $true
    Write-Host "Built KernelDebug $Version into $ModuleDir"
}

function Invoke-ReadyToRun([IO.FileInfo[]] $Assemblies) {
    # crossgen2 of the running runtime's version from the NuGet cache (the test project's PackageDownload brings it).
    $arch = [Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
    $runtime = [Environment]::Version.ToString(3)
    $crossgen = Join-Path (Get-NuGetPackageRoot) "microsoft.netcore.app.crossgen2.linux-$arch/$runtime/tools/crossgen2"
    if (-not (Test-Path $crossgen)) {
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/KernelDebug.Tests/KernelDebug.Tests.csproj'), '--verbosity', 'quiet', "-p:KernelDebugCrossgenVersion=$runtime", "-p:KernelDebugCrossgenRid=linux-$arch")
    }
    if (-not (Test-Path $crossgen)) { throw "crossgen2 $runtime for linux-$arch is not in the NuGet cache ($crossgen)." }
    $framework = [IO.Path]::GetDirectoryName([object].Assembly.Location)
    $sma = Join-Path $PSHOME 'System.Management.Automation.dll'
    $staging = Join-Path $OutputRoot 'r2r'
    foreach ($dll in $Assemblies) {
        if (Test-Path $staging) { Remove-Item $staging -Recurse -Force }
        New-Item -ItemType Directory $staging | Out-Null
        $references = @("$framework/*.dll", $sma) + @($Assemblies | Where-Object FullName -ne $dll.FullName | ForEach-Object FullName)
        $crossgenArgs = @($dll.FullName, '-o', (Join-Path $staging $dll.Name), '--targetos', 'linux', '--targetarch', $arch, '-O') +
            @($references | ForEach-Object { '-r'; $_ })
        Invoke-Native $crossgen $crossgenArgs | Out-Null
        Copy-Item (Join-Path $staging $dll.Name) $dll.FullName -Force
    }
    Remove-Item $staging -Recurse -Force
    Write-Host "ReadyToRun (.NET $runtime, linux-$arch): $($Assemblies.Name -join ', ')"
}

function Invoke-TaskDocs {
    & (Join-Path $Root 'tools/ConvertTo-MamlHelp.ps1') -DocsPath (Join-Path $Root 'docs/en-US') -OutputPath (Join-Path $ModuleDir 'en-US') -AssemblyName 'KernelDebug.dll'
}

function Invoke-TaskXunit {
    # Returns @{Passed; Failed; Skipped} from the trx file dotnet test writes.
    $trxDir = Join-Path $ResultsDir 'xunit'
    if (Test-Path $trxDir) { Remove-Item $trxDir -Recurse -Force }
    $env:KERNELDEBUG_MODULE_PATH = Join-Path $ModuleDir 'KernelDebug.psd1'
    # The tracefs leak guard around the engine tests too, as Invoke-PesterRun.ps1 has it around Pester.
    Import-Module (Join-Path $Root 'tests/TraceStateGuard.psm1') -Force
    # Importing the module mounts tracefs when needed; take the snapshot after that.
    Import-Module $env:KERNELDEBUG_MODULE_PATH -Force
    $null = Get-KernelDebugCapability -Name TraceFs
    $before = Get-TraceStateSnapshot
    & dotnet test (Join-Path $Root 'tests/KernelDebug.Tests/KernelDebug.Tests.csproj') -c $Configuration --nologo `
        --logger 'trx;LogFileName=xunit.trx' --logger 'console;verbosity=normal' --results-directory $trxDir | Out-Host
    $exit = $LASTEXITCODE
    $trx = Get-ChildItem $trxDir -Filter *.trx -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $trx) {
        Write-Host "xunit: no result file (dotnet test exit code $exit); counted as one failure."
        return @{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    [xml] $xml = Get-Content $trx.FullName -Raw
    $c = $xml.TestRun.ResultSummary.Counters
    $result = @{ Passed = [int] $c.passed; Failed = [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted; Skipped = [int] $c.notExecuted }
    if ($exit -ne 0 -and $result.Failed -eq 0) { $result.Failed = 1; Write-Host "xunit: dotnet test exited $exit with no failed test; counted as one failure." }
    $leaks = @(Compare-TraceStateSnapshot -Before $before -After (Get-TraceStateSnapshot))
    if ($leaks.Count -gt 0) {
        Write-Host "LEAK GUARD: the xunit run changed the kernel's tracing state:" -ForegroundColor Red
        $leaks | ForEach-Object { Write-Host "  $_" -ForegroundColor Red }
        $result.Failed += 1
    } else { Write-Host 'Leak guard (xunit): the tracing state is as it was before the run.' }
    Write-Host "xunit: $($result.Passed) passed, $($result.Failed) failed, $($result.Skipped) skipped"
    return $result
}

function Invoke-TaskPester {
    # Runs Pester in its own pwsh process (a clean session that loads the built module), with the tracefs leak guard around it.
    $summary = Join-Path $ResultsDir 'pester-summary.json'
    New-Item -ItemType Directory -Path $ResultsDir -Force | Out-Null
    if (Test-Path $summary) { Remove-Item $summary }
    # The torture cases (tests/Pester/Torture.*.Tests.ps1, tag Torture) append their outcomes here during this run.
    $torture = Join-Path $ResultsDir 'torture.jsonl'
    if (Test-Path $torture) { Remove-Item $torture }
    $env:KERNELDEBUG_TORTURE_RESULTS = $torture
    $runner = Join-Path $Root 'tests/Invoke-PesterRun.ps1'
    $pesterArgs = @('-NoProfile', '-NonInteractive', '-File', $runner, '-ModulePath', (Join-Path $ModuleDir 'KernelDebug.psd1'),
        '-PesterPath', (Get-PesterManifest), '-SummaryPath', $summary, '-ExcludeTag', 'KernelVm')
    if ($PesterPath) { $pesterArgs += @('-TestPath', ($PesterPath -join ',')) }
    Invoke-Pwsh $pesterArgs | Out-Host
    if (-not (Test-Path $summary)) {
        Write-Host "Pester: the run ended without a summary (exit code $LASTEXITCODE); counted as one failure."
        return @{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    $s = Get-Content $summary -Raw | ConvertFrom-Json
    Write-Host "Pester: $($s.Passed) passed, $($s.Failed) failed, $($s.Skipped) skipped"
    Import-Module (Join-Path $Root 'tests/Torture.psm1') -Force
    Write-Host (Get-TortureSummary -Path $torture).Line
    return @{ Passed = [int] $s.Passed; Failed = [int] $s.Failed; Skipped = [int] $s.Skipped }
}

function Invoke-TaskTest {
    Invoke-TaskBuild
    $total = @{ Passed = 0; Failed = 0; Skipped = 0 }
    $parts = @()
    if (-not $SkipXunit) { $parts += , (Invoke-TaskXunit) }
    if (-not $SkipPester) { $parts += , (Invoke-TaskPester) }
    # The KernelVm tests in the debug-kernel guest, when its kernel and qemu are here (not on quick -PesterPath iterations).
    if (-not $SkipPester -and -not $PesterPath) {
        if ($env:KERNELDEBUG_SKIP_VM -eq '1') { Write-Host 'VmTest: not run (KERNELDEBUG_SKIP_VM=1).' }
        else { $vm = Invoke-VmTestRun -IfAvailable; if ($vm) { $parts += , $vm } }
    }
    foreach ($p in $parts) { foreach ($k in 'Passed', 'Failed', 'Skipped') { $total[$k] += $p[$k] } }
    Write-Host ''
    Write-Host "$($total.Passed) passed, $($total.Failed) failed, $($total.Skipped) skipped"
    if ($total.Failed -gt 0 -or $total.Passed -eq 0) { exit 1 }
}

function Invoke-VmTestRun([switch] $IfAvailable) {
    # Returns @{Passed; Failed; Skipped} of the guest run, or $null when -IfAvailable found no kernel image or qemu.
    $vmResults = Join-Path $ResultsDir 'vm'
    & (Join-Path $Root 'tests/vm/Invoke-VmTest.ps1') -ModulePath (Join-Path $ModuleDir 'KernelDebug.psd1') -PesterPath (Get-PesterManifest) -ResultsPath $vmResults -IfAvailable:$IfAvailable | Out-Host
    $exit = $LASTEXITCODE
    if ($exit -eq 3) { return $null }
    $summary = Join-Path $vmResults 'vm-summary.json'
    if ($exit -eq 2 -or -not (Test-Path $summary)) {
        Write-Host "VmTest: no result (exit code $exit); counted as one failure."
        return @{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    $s = Get-Content $summary -Raw | ConvertFrom-Json
    return @{ Passed = [int] $s.Passed; Failed = [int] $s.Failed; Skipped = [int] $s.Skipped }
}

function Invoke-TaskVmTest {
    Invoke-TaskBuild
    $r = Invoke-VmTestRun
    if ($r.Failed -gt 0 -or $r.Passed -eq 0) { exit 1 }
}

function Invoke-TaskBench {
    Invoke-TaskBuild
    foreach ($bench in Get-ChildItem (Join-Path $Root 'bench') -Filter '*.ps1' | Sort-Object Name) {
        Write-Host "== $($bench.Name)"
        Invoke-Pwsh @('-NoProfile', '-NonInteractive', '-File', $bench.FullName, '-ModulePath', (Join-Path $ModuleDir 'KernelDebug.psd1'))
        if ($LASTEXITCODE -ne 0) { throw "$($bench.Name) failed with exit code $LASTEXITCODE" }
    }
}

function Invoke-TaskPackage {
    # Always a fresh build (unless this run just made one): output/ may hold a stale or hand-edited module.
    if (-not $script:Built) { Invoke-TaskBuild }
    $repoDir = Join-Path $OutputRoot 'package'
    if (Test-Path $repoDir) { Remove-Item $repoDir -Recurse -Force }
    New-Item -ItemType Directory -Path $repoDir | Out-Null
    # Publish-PSResource does not derive the gallery's command tags from CmdletsToExport (PowerShellGet 2's
    # Publish-Module did): a staged copy of the module gets PSIncludes_Cmdlet and PSCommand_<name> in its
    # PSData.Tags, so Find-PSResource -CommandName finds the package.
    $stage = Join-Path $OutputRoot 'stage/KernelDebug'
    if (Test-Path (Split-Path $stage)) { Remove-Item (Split-Path $stage) -Recurse -Force }
    New-Item -ItemType Directory -Path $stage -Force | Out-Null
    Copy-Item (Join-Path $ModuleDir '*') $stage -Recurse
    $psd1 = Join-Path $stage 'KernelDebug.psd1'
    $commandTags = @('PSIncludes_Cmdlet') + @($Manifest.CmdletsToExport | ForEach-Object { "PSCommand_$_" })
    $text = Get-Content $psd1 -Raw
    $tagsLine = [regex]::Match($text, '(?m)^(\s*Tags\s*=\s*@\()')
    if (-not $tagsLine.Success) { throw "KernelDebug.psd1 has no 'Tags = @(' line in PSData." }
    $text = $text.Insert($tagsLine.Index + $tagsLine.Length, (($commandTags | ForEach-Object { "'$_'" }) -join ', ') + ', ')
    Set-Content -Path $psd1 -Value $text -NoNewline
    $repoName = "KernelDebugBuild$PID"
    Import-Module Microsoft.PowerShell.PSResourceGet
    Register-PSResourceRepository -Name $repoName -Uri $repoDir -Trusted
    try {
        Publish-PSResource -Path $stage -Repository $repoName -SkipDependenciesCheck
        $nupkg = Get-ChildItem $repoDir -Filter '*.nupkg' | Select-Object -First 1
        Write-Host "Package: $($nupkg.FullName)"
        Write-Host "Install it with: Register-PSResourceRepository -Name local -Uri '$repoDir' -Trusted; Install-PSResource KernelDebug -Repository local"
    }
    finally {
        Unregister-PSResourceRepository -Name $repoName
    }
}

function Invoke-TaskBpfPrograms {
    # From each file's folder, with a relative name and a fixed compilation dir: identical bytes for identical sources anywhere.
    $arch = (& uname -m).Trim()
    foreach ($dir in (Join-Path $Root 'src/KernelDebug.Engine/Bpf/Programs'), (Join-Path $Root 'tests/fixtures/bpf')) {
        Push-Location $dir
        try {
            foreach ($c in Get-ChildItem -Filter *.bpf.c) {
                Invoke-Native clang @('-target', 'bpf', '-g', '-O2', '-fdebug-compilation-dir=.', "-I/usr/include/$arch-linux-gnu", '-c', $c.Name, '-o', ($c.Name -replace '\.c$', '.o'))
            }
        } finally { Pop-Location }
    }
}

function Invoke-TaskDemo {
    Invoke-TaskBuild
    Invoke-Pwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tools/Show-HostReport.ps1'), '-ModulePath', (Join-Path $ModuleDir 'KernelDebug.psd1'))
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

foreach ($t in $Task) {
    & "Invoke-Task$t"
}
