# Tab completion of -ProcessId: live pids, shown with their command names, through PowerShell's own TabExpansion2.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # A process with a command name of our own (comm is the file name, cut to 15 characters).
    $script:Comm = "kdcomp$PID"
    $script:Exe = Join-Path ([IO.Path]::GetTempPath()) $Comm
    Copy-Item /bin/sleep $Exe
    $script:Proc = Start-Process $Exe -ArgumentList 300 -PassThru
    # Until the exec has happened, the child still has pwsh's comm.
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ((Get-Content "/proc/$($Proc.Id)/comm" -ErrorAction Ignore) -ne $Comm -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    }
}

AfterAll {
    if ($Proc) { Stop-Process -Id $Proc.Id -ErrorAction Ignore; $Proc.WaitForExit(5000) | Out-Null }
    if ($Exe) { Remove-Item $Exe -ErrorAction Ignore }
}

Describe '-ProcessId completion' {
    It 'every -ProcessId parameter of the module has the pid completer' {
        $params = foreach ($c in Get-Command -Module KernelDebug) {
            foreach ($p in $c.Parameters.Values | Where-Object Name -eq 'ProcessId') {
                [pscustomobject]@{ Command = $c.Name; Completer = ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ArgumentCompleterAttribute] }).Type.Name }
            }
        }
        @($params).Count | Should -BeGreaterOrEqual 7
        $params | Where-Object Completer -ne 'ProcessIdCompleter' | ForEach-Object { "$($_.Command) -ProcessId" } | Should -BeNullOrEmpty
    }

    It 'completes a command name to its pid, listed as "pid comm"' {
        $m = @(Get-Completion "Get-SyscallTrace -ProcessId $Comm")
        $m.Count | Should -Be 1
        $m[0].CompletionText | Should -Be "$($Proc.Id)"
        $m[0].ListItemText | Should -Be "$($Proc.Id) $Comm"
        $m[0].ToolTip | Should -Be "$($Proc.Id) $Comm"
        $m[0].ResultType | Should -Be 'ParameterValue'
    }

    It 'completes a typed pid prefix to the pids that start with it, this one among them, in order' {
        $prefix = "$($Proc.Id)".Substring(0, "$($Proc.Id)".Length - 1)
        $m = @(Get-Completion "Measure-PerfCounter -Event task-clock -ProcessId $prefix")
        $m.CompletionText | Should -Contain "$($Proc.Id)"
        $m | ForEach-Object { $_.CompletionText | Should -BeLike "$prefix*" }
        # Each entry names a live process, as /proc has it.
        $m | Where-Object CompletionText -eq "$($Proc.Id)" | ForEach-Object { $_.ListItemText | Should -Be "$($Proc.Id) $Comm" }
        $nums = @($m | ForEach-Object { [int] $_.CompletionText })
        $nums | Should -Be @($nums | Sort-Object)
    }

    It 'completes the pids of live processes only: an exited one is gone' {
        $gone = Start-Process /bin/true -PassThru
        $gone.WaitForExit()
        @(Get-Completion "Watch-PerfTop -ProcessId $($gone.Id)") | Where-Object CompletionText -eq "$($gone.Id)" | Should -BeNullOrEmpty
    }

    It 'matches names with wildcards and case-insensitively, on an int (Invoke-Bpftrace) as on an int[] parameter' {
        $m = @(Get-Completion "Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -ProcessId KD*$PID")
        $m.CompletionText | Should -Be "$($Proc.Id)"
    }
}
