BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'build.ps1 -Task Package' {
    BeforeAll {
        # A stray file in the built module: the Package task must build afresh, not package what output/ holds.
        $manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'KernelDebug.psd1')
        $moduleDir = Join-Path $RepoRoot "output/KernelDebug/$($manifest.ModuleVersion)"
        New-Item -ItemType Directory $moduleDir -Force | Out-Null
        $script:Stray = Join-Path $moduleDir 'stray-from-an-old-build.txt'
        Set-Content $Stray 'stale'
        $script:PackageOutput = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'build.ps1'), '-Task', 'Package') 2>&1 | Out-String
        $script:PackageExit = $LASTEXITCODE
        $script:Repo = Join-Path $RepoRoot 'output/package'
        $script:Nupkg = Get-ChildItem $Repo -Filter 'KernelDebug.*.nupkg'
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $script:Entries = @()
        $script:Nuspec = $null
        if ($Nupkg.Count -eq 1) {
            $zip = [IO.Compression.ZipFile]::OpenRead($Nupkg.FullName)
            try {
                $script:Entries = @($zip.Entries.FullName)
                $reader = [IO.StreamReader]::new(($zip.Entries | Where-Object FullName -eq 'KernelDebug.nuspec').Open())
                [xml] $script:Nuspec = $reader.ReadToEnd()
                $reader.Dispose()
            }
            finally { $zip.Dispose() }
        }
        $script:Manifest = $manifest
    }

    It 'always packages a fresh build' {
        $PackageExit | Should -Be 0 -Because $PackageOutput
        $PackageOutput | Should -Match 'Built KernelDebug' -Because 'the task builds before it packages'
        Test-Path $Stray | Should -BeFalse -Because 'the build replaced the module folder'
        $Entries | Should -Not -Contain 'stray-from-an-old-build.txt'
    }

    It 'carries PSIncludes_Cmdlet and a PSCommand_ tag per exported cmdlet, with the manifest''s own tags' {
        $tags = -split $Nuspec.package.metadata.tags
        $tags | Should -Contain 'PSIncludes_Cmdlet'
        $tags | Should -Contain 'PSModule'
        foreach ($t in $Manifest.PrivateData.PSData.Tags) { $tags | Should -Contain $t }
        $missing = @($Manifest.CmdletsToExport | Where-Object { "PSCommand_$_" -notin $tags })
        $missing | Should -BeNullOrEmpty -Because 'Find-PSResource -CommandName looks for PSCommand_<name> tags'
        @($tags | Where-Object { $_ -like 'PSCommand_*' }).Count | Should -Be $Manifest.CmdletsToExport.Count
        # PowerShell Gallery limits the tags to 4000 characters.
        $Nuspec.package.metadata.tags.Length | Should -BeLessThan 4000
    }

    It 'has real or no project and licence links, release notes, and carries LICENSE, CHANGELOG.md and README.md' {
        $m = $Nuspec.package.metadata
        foreach ($u in @($m.projectUrl, $m.licenseUrl, $m.iconUrl) | Where-Object { $_ }) {
            $u | Should -Not -Match 'example\.(invalid|com|org)|localhost' -Because 'a gallery link must lead somewhere real'
            $u | Should -Match '^https://'
        }
        $m.projectUrl | Should -BeNullOrEmpty -Because 'the project has no public site yet'
        $m.licenseUrl | Should -Match 'opensource\.org/licen[sc]e/mit'
        $m.releaseNotes | Should -Match '0\.1\.0' -Because 'the release notes summarise this version'
        $m.releaseNotes | Should -Match 'CHANGELOG\.md'
        foreach ($f in 'LICENSE', 'CHANGELOG.md', 'README.md') { $Entries | Should -Contain $f }
        Get-Content (Join-Path $RepoRoot 'LICENSE') -Raw | Should -Match '(?s)MIT License.*Permission is hereby granted'
        $Manifest.Copyright | Should -Match 'MIT'
        Get-Content (Join-Path $RepoRoot 'CHANGELOG.md') -Raw | Should -Match "(?m)^## $([regex]::Escape($Manifest.ModuleVersion))\b"
    }

    It 'has online help links for every cmdlet or for none' {
        $docs = Get-ChildItem (Join-Path $RepoRoot 'docs/en-US') -Filter '*.md' | Where-Object Name -notlike 'about_*'
        $online = foreach ($d in $docs) {
            $front = [regex]::Match((Get-Content $d.FullName -Raw), '(?s)^---\r?\n(.*?)\r?\n---').Groups[1].Value
            $line = [regex]::Match($front, '(?m)^online version:[ \t]*(.*)$')
            $line.Success | Should -BeTrue -Because "$($d.Name) has an 'online version:' line in its front matter"
            [pscustomobject]@{ Doc = $d.BaseName; Uri = $line.Groups[1].Value.Trim() }
        }
        $withLink = @($online | Where-Object Uri)
        $withLink.Count | Should -BeIn @(0, $online.Count) -Because "all or none: $($withLink.Doc -join ', ')"
        $helpUris = @(Get-Command -Module KernelDebug | Where-Object { $_.HelpUri })
        $helpUris.Count | Should -BeIn @(0, @(Get-Command -Module KernelDebug).Count)
        ($withLink.Count -eq 0) | Should -Be ($helpUris.Count -eq 0) -Because 'the docs and the cmdlets agree'
        $withLink | ForEach-Object { $_.Uri | Should -Match '^https://' }
    }

    It 'makes a nupkg that Install-PSResource and Install-Module install from a local repository folder, Find-PSResource -CommandName finds, and the installed module works' {
        $PackageExit | Should -Be 0 -Because $PackageOutput
        $repo = $Repo
        $nupkg = $Nupkg
        $nupkg | Should -HaveCount 1

        # Each install runs in a child pwsh whose HOME is an empty directory: its CurrentUser module path, repository
        # list and PowerShellGet settings live there, so the host's own are untouched.
        $installs = @{
            'Install-PSResource' = "Register-PSResourceRepository -Name local -Uri '$repo' -Trusted; " +
                "'FOUND=' + ((Find-PSResource -CommandName Get-SyscallTrace -Repository local).ParentResource.Name -join ','); " +
                "'NOTFOUND=' + @(Find-PSResource -CommandName Get-NoSuchCommand -Repository local -ErrorAction SilentlyContinue).Count; " +
                "Install-PSResource -Name KernelDebug -Repository local -Scope CurrentUser -TrustRepository"
            'Install-Module'     = "Register-PSRepository -Name local -SourceLocation '$repo' -InstallationPolicy Trusted; Install-Module -Name KernelDebug -Repository local -Scope CurrentUser"
        }
        foreach ($how in $installs.Keys) {
            $homeDir = Join-Path ([System.IO.Path]::GetTempPath()) "kd-pkg-$PID-$($how -replace '\W')"
            New-Item -ItemType Directory $homeDir -Force | Out-Null
            $saved = @{ HOME = $env:HOME; XDG_DATA_HOME = $env:XDG_DATA_HOME; XDG_CONFIG_HOME = $env:XDG_CONFIG_HOME; PSModulePath = $env:PSModulePath }
            try {
                $env:HOME = $homeDir; $env:XDG_DATA_HOME = $null; $env:XDG_CONFIG_HOME = $null; $env:PSModulePath = $null
                $script = "`$ErrorActionPreference = 'Stop'; $($installs[$how]); Import-Module KernelDebug; " +
                    "'BASE=' + (Get-Module KernelDebug).ModuleBase; 'TYPE=' + (Get-KernelDebugCapability -Name TraceFs).GetType().FullName; " +
                    "'HELP=' + (Get-Help Get-KernelDebugCapability).Synopsis"
                $check = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command', $script) 2>&1 | Out-String
            }
            finally {
                foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
                Remove-Item $homeDir -Recurse -Force -ErrorAction Ignore
            }
            $check | Should -Match "BASE=$([regex]::Escape($homeDir))/\.local/share/powershell/Modules/KernelDebug/" -Because "$how should install under the CurrentUser path: $check"
            $check | Should -Match 'TYPE=KernelDebug.Capability' -Because $check
            $check | Should -Match 'HELP=Reports which kernel debugging' -Because "the package should carry the MAML help: $check"
            if ($how -eq 'Install-PSResource') {
                $check | Should -Match '(?m)^FOUND=KernelDebug\s*$' -Because "Find-PSResource -CommandName should find the package by its command tags: $check"
                $check | Should -Match '(?m)^NOTFOUND=0\s*$' -Because "a command the module does not have finds nothing: $check"
            }
        }
    }
}
