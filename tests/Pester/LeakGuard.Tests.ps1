BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module (Join-Path $PSScriptRoot '../TraceStateGuard.psm1') -Force
}

Describe 'The tracefs leak guard' {
    It 'sees an event enabled in an instance, and nothing once it is undone' {
        $before = Get-TraceStateSnapshot
        $inst = Join-Path $TraceFs "instances/kerneldebug_$($PID)_guardtest"
        New-Item -ItemType Directory $inst | Out-Null
        try {
            [System.IO.File]::AppendAllText("$inst/events/sched/sched_switch/enable", '1')
            $diff = @(Compare-TraceStateSnapshot -Before $before -After (Get-TraceStateSnapshot))
            $diff | Should -Contain "instances/kerneldebug_$($PID)_guardtest/events/sched/sched_switch/enable: '<absent>' -> '1'"
            ($diff -join "`n") | Should -Match "instances: '.*' -> '.*kerneldebug_$($PID)_guardtest"
        }
        finally {
            [System.IO.File]::AppendAllText("$inst/events/sched/sched_switch/enable", '0')
            [System.IO.Directory]::Delete($inst)
        }
        @(Compare-TraceStateSnapshot -Before $before -After (Get-TraceStateSnapshot)) | Should -BeNullOrEmpty
    }

    It 'fails a Pester run that leaves an event enabled, and prints the difference' {
        $summary = Join-Path ([System.IO.Path]::GetTempPath()) "kd-guard-$PID.json"
        $pester = (Get-Module Pester).Path -replace 'psm1$', 'psd1'
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot '../Invoke-PesterRun.ps1'), '-ModulePath', $env:KERNELDEBUG_MODULE_PATH,
            '-PesterPath', $pester, '-SummaryPath', $summary, '-TestPath', (Join-Path $PSScriptRoot '../fixtures/guard/Leak.Tests.ps1')) 2>&1 | Out-String
        $exit = $LASTEXITCODE
        try {
            $s = Get-Content $summary -Raw | ConvertFrom-Json
            $s.Passed | Should -Be 1
            $s.Failed | Should -Be 1 -Because 'the leak counts as a failure'
            $exit | Should -Be 1
            $out | Should -Match 'LEAK GUARD'
            $out | Should -Match 'events/sched/sched_switch/enable: ''<absent>'' -> ''1'''
        }
        finally {
            Remove-Item $summary -ErrorAction Ignore
            # Only the instance of the child run, which has exited: another session's guard test may hold its own.
            foreach ($leaked in Get-ChildItem "$TraceFs/instances" -Directory -Filter 'kerneldebug_*_leak' |
                    Where-Object { -not (Get-Process -Id ([int]($_.Name -split '_')[1]) -ErrorAction Ignore) }) {
                [System.IO.File]::AppendAllText("$($leaked.FullName)/events/sched/sched_switch/enable", '0')
                [System.IO.Directory]::Delete($leaked.FullName)
            }
        }
    }
}
