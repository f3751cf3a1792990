BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'build.ps1 -Task Package' {
    It 'makes a nupkg that Install-PSResource and Install-Module install from a local repository folder, and the installed module works' {
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'build.ps1'), '-Task', 'Package') 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        $repo = Join-Path $RepoRoot 'output/package'
        $nupkg = Get-ChildItem $repo -Filter 'KernelDebug.*.nupkg'
        $nupkg | Should -HaveCount 1

        # Each install runs in a child pwsh whose HOME is an empty directory: its CurrentUser module path, repository
        # list and PowerShellGet settings live there, so the host's own are untouched.
        $installs = @{
            'Install-PSResource' = "Register-PSResourceRepository -Name local -Uri '$repo' -Trusted; Install-PSResource -Name KernelDebug -Repository local -Scope CurrentUser -TrustRepository"
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
        }
    }
}
