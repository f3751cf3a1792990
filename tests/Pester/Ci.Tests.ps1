# CI on a fresh machine (issue 14, item 9): .ci/run installs what the VM part needs, and with CI=true the Test task fails
# rather than skips the VM part when it cannot run it.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    $script:CiRun = Get-Content (Join-Path $RepoRoot '.ci/run') -Raw
}

Describe 'CI on a fresh machine' {
    It '.ci/run installs qemu and a static busybox when missing, and sets CI=true' {
        $loop = ($script:CiRun -split "`n" | Where-Object { $_ -match '^for p in ' }) -join ' '
        $loop | Should -Match '\bqemu-system-x86_64:qemu-system-x86\b'
        $loop | Should -Match '\bbusybox:busybox-static\b'
        $script:CiRun | Should -Match '(?m)^export CI="\$\{CI:-true\}"'
    }

    It '.ci/run installs clang and libbpf-dev, which the BPF programs'' source check needs (a skip there would be a hole)' {
        $loop = ($script:CiRun -split "`n" | Where-Object { $_ -match '^for p in ' }) -join ' '
        $loop | Should -Match '\bclang:clang\b'
        $script:CiRun | Should -Match 'bpf_helpers\.h \] \|\| need\+=\(libbpf-dev\)'
    }

    It 'Invoke-VmTest -IfAvailable without the debug kernel: skipped (3) off CI, failed (2) with CI=true' {
        $empty = Join-Path $TestDrive 'no-kernels'
        New-Item -ItemType Directory $empty | Out-Null
        $vm = Join-Path $RepoRoot 'tests/vm/Invoke-VmTest.ps1'
        $codes = foreach ($ci in '', 'true') {
            $saved = $env:CI
            try {
                $env:CI = $ci
                Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', $vm, '-ModulePath', $env:KERNELDEBUG_MODULE_PATH, '-PesterPath', 'unused',
                    '-ResultsPath', (Join-Path $TestDrive 'r'), '-KernelDirectory', $empty, '-IfAvailable') | Out-Null
                $LASTEXITCODE
            }
            finally { $env:CI = $saved }
        }
        $codes | Should -Be @(3, 2)
    }

    It "build.ps1 counts a VM part that could not run as a failure, not a skip" {
        $build = Get-Content (Join-Path $RepoRoot 'build.ps1') -Raw
        # Exit 3 (skipped) happens only off CI; exit 2 or no summary is one failure.
        $build | Should -Match 'if \(\$exit -eq 3\) \{ return \$null \}'
        $build | Should -Match '\$exit -eq 2 -or -not \(Test-Path \$summary\)'
    }
}
