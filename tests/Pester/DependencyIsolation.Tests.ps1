# The module's third-party dependencies (ELFSharp, Iced, any later one) load in its own AssemblyLoadContext, so other
# versions of them preloaded into PowerShell's default context by another module cannot clash with ours.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:ModuleDir = Split-Path $env:KERNELDEBUG_MODULE_PATH

    function Invoke-IsolationChild([string] $Prelude) {
        # A fresh pwsh: $Prelude (which may preload conflicting assemblies), then the module and a Get-LibraryCallTrace
        # run (it reads ELF symbols with ELFSharp and decodes the entry with Iced); returns the child's JSON report.
        $script = @"
`$ErrorActionPreference = 'Stop'
$Prelude
Import-Module '$env:KERNELDEBUG_MODULE_PATH'
`$calls = @(Get-LibraryCallTrace -Command /usr/bin/env -ArgumentList true -Function getenv)
`$loaded = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -in 'ELFSharp', 'Iced' } | ForEach-Object {
    @{ Name = `$_.GetName().Name; Version = `$_.GetName().Version.ToString(); Context = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name; Location = `$_.Location }
}
`$after = if (Get-Variable PreloadCheck -ErrorAction Ignore) { & `$PreloadCheck } else { `$null }
@{ Calls = `$calls.Count; Getenv = @(`$calls | Where-Object Function -eq getenv).Count; Loaded = @(`$loaded); After = `$after } | ConvertTo-Json -Depth 4 -Compress
"@
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command', $script) 2>&1
        $json = $out | Where-Object { "$_" -like '{*' } | Select-Object -Last 1
        if (-not $json) { throw "the child pwsh failed: $($out -join "`n")" }
        $json | ConvertFrom-Json
    }
}

Describe 'Dependency isolation' {
    It 'ships every third-party dll in deps/, where PowerShell''s probing does not look' {
        $root = @(Get-ChildItem $ModuleDir -Filter *.dll | ForEach-Object Name)
        $root | Sort-Object | Should -Be @('KernelDebug.dll', 'KernelDebug.Engine.dll')
        $deps = @(Get-ChildItem (Join-Path $ModuleDir 'deps') -Filter *.dll | ForEach-Object Name)
        $deps | Should -Contain 'ELFSharp.dll'
        $deps | Should -Contain 'Iced.dll'
    }

    It 'loads ELFSharp and Iced in the module''s own load context, not the default one' -Skip:(-not $HasUprobes) {
        $r = Invoke-IsolationChild ''
        $r.Getenv | Should -BeGreaterThan 0
        foreach ($name in 'ELFSharp', 'Iced') {
            $mine = @($r.Loaded | Where-Object Name -eq $name)
            $mine.Count | Should -Be 1 -Because "$name is loaded once"
            $mine[0].Context | Should -Be 'KernelDebug'
            $mine[0].Location | Should -BeLike "$ModuleDir/deps/*"
        }
    }

    It 'works beside other versions of ELFSharp and Iced preloaded into the default context, and so do they' -Skip:(-not $HasUprobes) {
        # Another module's ELFSharp: a 1.0.0.0 with another API, compiled here (only 2.17.3, assembly version 2.0.0.0, is served). Another Iced: the
        # NuGet cache's 1.17.0 (the test project's PackageDownload), older than the 1.21.0 we ship, so the default
        # context cannot bind our reference to it.
        $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
        $iced = Join-Path $packages 'iced/1.17.0/lib/netstandard2.1/Iced.dll'
        if (-not (Test-Path $iced)) { & dotnet restore (Join-Path $RepoRoot 'tests/KernelDebug.Tests/KernelDebug.Tests.csproj') --verbosity quiet | Out-Null }
        $iced | Should -Exist
        $stubDir = Join-Path ([IO.Path]::GetTempPath()) "kd-isolation-$PID"
        New-Item -ItemType Directory $stubDir -Force | Out-Null
        try {
            # Roslyn (shipped with pwsh) names the assembly; Add-Type would give it a random name.
            $source = '[assembly: System.Reflection.AssemblyVersion("1.0.0.0")] namespace ELFSharp.ELF { public static class ELFReader { public static string Which() { return "the other module''s ELFSharp"; } } }'
            Add-Type -AssemblyName Microsoft.CodeAnalysis.CSharp
            $framework = [IO.Path]::GetDirectoryName([object].Assembly.Location)
            $refs = [Microsoft.CodeAnalysis.MetadataReference[]] @([object].Assembly.Location, (Join-Path $framework 'System.Runtime.dll') |
                ForEach-Object { [Microsoft.CodeAnalysis.MetadataReference]::CreateFromFile($_) })
            $compilation = [Microsoft.CodeAnalysis.CSharp.CSharpCompilation]::Create('ELFSharp',
                [Microsoft.CodeAnalysis.SyntaxTree[]] @([Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree]::ParseText($source)), $refs,
                [Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions]::new([Microsoft.CodeAnalysis.OutputKind]::DynamicallyLinkedLibrary))
            $image = [IO.MemoryStream]::new()
            $compilation.Emit($image).Success | Should -BeTrue
            $stub = Join-Path $stubDir 'ELFSharp.dll'
            [IO.File]::WriteAllBytes($stub, $image.ToArray())
            $prelude = @"
Add-Type -Path '$stub'
Add-Type -Path '$iced'
`$PreloadCheck = {
    @{ Elf = [ELFSharp.ELF.ELFReader]::Which()
       Iced = ([Iced.Intel.Decoder]::Create(64, [byte[]](0x90)).Decode()).Mnemonic.ToString()
       IcedVersion = [Iced.Intel.Decoder].Assembly.GetName().Version.ToString() }
}
"@
            $r = Invoke-IsolationChild $prelude
        }
        finally { Remove-Item $stubDir -Recurse -Force -ErrorAction Ignore }

        # Ours work: the library-call trace found the symbol (ELFSharp) and placed the entry probe (Iced).
        $r.Getenv | Should -BeGreaterThan 0
        # Theirs work, and are what PowerShell's [type] names resolve to.
        $r.After.Elf | Should -Be "the other module's ELFSharp"
        $r.After.Iced | Should -Be 'Nop'
        $r.After.IcedVersion | Should -Be '1.17.0.0'
        # Both versions of each are loaded, each in its own context.
        $elf = @($r.Loaded | Where-Object Name -eq 'ELFSharp')
        ($elf | Sort-Object Version | ForEach-Object { "$($_.Version)@$($_.Context)" }) | Should -Be @('1.0.0.0@Default', '2.0.0.0@KernelDebug')
        $icd = @($r.Loaded | Where-Object Name -eq 'Iced')
        ($icd | Sort-Object { [version] $_.Version } | ForEach-Object { "$($_.Version)@$($_.Context)" }) | Should -Be @('1.17.0.0@Default', '1.21.0.0@KernelDebug')
    }
}
