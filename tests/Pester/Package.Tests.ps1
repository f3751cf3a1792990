BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'build.ps1 -Task Package' {
    It 'makes a nupkg that Save-PSResource and Save-Module install from a local repository folder, and the installed module works' {
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'build.ps1'), '-Task', 'Package') 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        $repo = Join-Path $RepoRoot 'output/package'
        $nupkg = Get-ChildItem $repo -Filter 'KernelDebug.*.nupkg'
        $nupkg | Should -HaveCount 1

        $dest = Join-Path ([System.IO.Path]::GetTempPath()) "kd-pkg-$PID"
        $dest2 = Join-Path ([System.IO.Path]::GetTempPath()) "kd-pkg2-$PID"
        $name = "KernelDebugTest$PID"
        try {
            New-Item -ItemType Directory $dest, $dest2 -Force | Out-Null
            Register-PSResourceRepository -Name $name -Uri $repo -Trusted
            Save-PSResource -Name KernelDebug -Repository $name -Path $dest -TrustRepository
            $psd1 = Get-ChildItem $dest -Recurse -Filter KernelDebug.psd1 | Select-Object -First 1
            $psd1 | Should -Not -BeNullOrEmpty
            Join-Path $psd1.DirectoryName 'en-US/KernelDebug.dll-Help.xml' | Should -Exist
            $check = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command', "Import-Module '$($psd1.FullName)'; (Get-KernelDebugCapability -Name TraceFs).GetType().FullName")
            ($check | Select-Object -Last 1) | Should -Be 'KernelDebug.Capability'
        }
        finally {
            Unregister-PSResourceRepository -Name $name -ErrorAction Ignore
            Remove-Item $dest -Recurse -Force -ErrorAction Ignore
        }

        try {
            New-Item -ItemType Directory $dest2 -Force | Out-Null
            Register-PSRepository -Name $name -SourceLocation $repo -InstallationPolicy Trusted
            Save-Module -Name KernelDebug -Repository $name -Path $dest2
            Get-ChildItem $dest2 -Recurse -Filter KernelDebug.dll | Should -Not -BeNullOrEmpty
        }
        finally {
            Unregister-PSRepository -Name $name -ErrorAction Ignore
            Remove-Item $dest2 -Recurse -Force -ErrorAction Ignore
        }
    }
}
