# Habits for whoever comes next (ARCHITECTURE.md): one namespace per C# file, no build-machine paths in strings, and
# a build that fails on a .NET analyzer warning.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Sources = @(Get-ChildItem (Join-Path $RepoRoot 'src') -Recurse -Filter *.cs | Where-Object FullName -NotMatch '/(bin|obj)/')
}

Describe 'Code habits' {
    It 'has one namespace declaration per C# file' {
        $Sources.Count | Should -BeGreaterThan 100
        $twice = @($Sources | Where-Object { @(Select-String -LiteralPath $_.FullName -Pattern '^\s*namespace\s').Count -gt 1 } |
            ForEach-Object { $_.FullName.Substring($RepoRoot.Length + 1) })
        $twice | Should -BeNullOrEmpty
    }

    It 'names no build-machine home or work path in a string literal' {
        $hits = @($Sources | Select-String -Pattern '"[^"\r\n]*(/root/|/work/|/home/[a-z])' |
            ForEach-Object { "$($_.Path.Substring($RepoRoot.Length + 1)):$($_.LineNumber)" })
        $hits | Should -BeNullOrEmpty
    }

    It 'fails the build on an analyzer warning (the repository''s Directory.Build.props and .editorconfig)' {
        # A project under the repository root picks up both files, as src/ does; CA2200 (rethrow that loses the stack).
        $dir = Join-Path $RepoRoot "output/habits-analyzer-$PID"
        New-Item -ItemType Directory $dir -Force | Out-Null
        try {
            Set-Content (Join-Path $dir 'Check.csproj') '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup></Project>'
            Set-Content (Join-Path $dir 'Check.cs') 'namespace Check; public static class C { public static void M(System.Action a) { try { a(); } catch (System.Exception e) { throw e; } } }'
            $out = & dotnet build (Join-Path $dir 'Check.csproj') --nologo -c Release 2>&1 | Out-String
            $LASTEXITCODE | Should -Not -Be 0 -Because $out
            $out | Should -Match 'error CA2200'
        }
        finally { Remove-Item $dir -Recurse -Force -ErrorAction Ignore }
    }
}
