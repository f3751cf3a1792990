# A fleet over PowerShell remoting over SSH (about_KernelDebug_Fleet): two sshd instances on loopback, started here
# (tests/SshLoopback.psm1), each a "host" that imports the built module by full path. Needs root and openssh-server
# and openssh-client, which .ci/run installs.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasSsh = (Test-Path /usr/sbin/sshd) -and (Test-Path /usr/bin/ssh) -and ([Environment]::UserName -eq 'root')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module (Join-Path $RepoRoot 'tests/SshLoopback.psm1') -Force
    $script:Fleet = $null
    if ((Test-Path /usr/sbin/sshd) -and (Test-Path /usr/bin/ssh)) {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $script:Fleet = Start-SshLoopback
        $script:S = $Fleet.Sessions
        $script:Aliases = @($Fleet.Hosts.Alias)
        # On a real fleet: Install-PSResource KernelDebug on each host, then Import-Module KernelDebug.
        Invoke-Command -Session $S { Import-Module $using:env:KERNELDEBUG_MODULE_PATH -ErrorAction Stop }
        Write-Host "Two loopback hosts with the module loaded in $([int] $sw.Elapsed.TotalSeconds) s"
    }
}

AfterAll {
    if ($Fleet) { Stop-SshLoopback -Fleet $Fleet }
}

Describe 'A fleet over SSH remoting (two sshd on loopback)' -Skip:(-not $HasSsh) {
    It 'fans Get-KernelDebugCapability out to every host, each object tagged with its PSComputerName' {
        $r = @(Invoke-Command -Session $S -ThrottleLimit 2 { Get-KernelDebugCapability -Name TraceEvents, Kprobes })
        $r | Should -HaveCount 4
        $local = @{}; Get-KernelDebugCapability -Name TraceEvents, Kprobes | ForEach-Object { $local[$_.Name] = $_.Available }
        foreach ($alias in $Aliases) {
            $mine = @($r | Where-Object PSComputerName -eq $alias)
            $mine.Name | Sort-Object | Should -Be @('Kprobes', 'TraceEvents')
            foreach ($c in $mine) {
                $c.PSObject.TypeNames | Should -Contain 'Deserialized.KernelDebug.Capability'
                $c.Available | Should -Be $local[$c.Name] -Because "$alias runs the same kernel as this process"
            }
        }
    }

    It 'brings a nested member back as an object: a syscall argument keeps its Name and Value' {
        $local = @(Get-SyscallTrace -Command /bin/true)
        $remote = @(Invoke-Command -Session $S[1] { Get-SyscallTrace -Command /bin/true })
        $remote[0].Name | Should -Be $local[0].Name
        $arg = @($remote[0].Arguments)[0]
        $arg | Should -Not -BeOfType [string] -Because 'Arguments must arrive as objects (SerializationDepth), not as their text'
        $arg.Name | Should -Be @($local[0].Arguments)[0].Name
        $arg.Value | Should -Be @($local[0].Arguments)[0].Value
    }

    It 'runs the health checks on every host and summarises which host failed what' {
        $pester = Join-Path (Get-Module Pester).ModuleBase Pester.psd1
        $r = @(Invoke-Command -Session $S -ThrottleLimit 2 {
                Import-Module $using:pester
                Invoke-KernelDebugHealthCheck -Check MemoryReports, Capabilities -RequiredCapability TraceEvents, Kprobes
            })
        # The summary of about_KernelDebug_Fleet.
        $summary = $r | Group-Object PSComputerName | ForEach-Object {
            [pscustomobject]@{
                Host    = $_.Name
                Passed  = @($_.Group | Where-Object Result -eq Passed).Count
                Failed  = @($_.Group | Where-Object Result -eq Failed).Name
                Skipped = @($_.Group | Where-Object Result -eq Skipped).Name
            }
        }
        $summary | Should -HaveCount 2
        $summary.Host | Sort-Object | Should -Be ($Aliases | Sort-Object)
        $kprobes = Test-KernelDebugCapability Kprobes
        foreach ($h in $summary) {
            $h.Passed | Should -BeGreaterOrEqual 1 -Because 'TraceEvents is available on both hosts'
            if (-not $kprobes) { $h.Failed | Should -Contain 'Kprobes is available' }
            $memory = @($r | Where-Object { $_.PSComputerName -eq $h.Host -and $_.Check -eq 'MemoryReports' })
            $memory | Should -HaveCount 4
            foreach ($m in $memory) {
                $cap = Get-KernelDebugCapability -Name (@{ KASAN = 'Kasan'; KFENCE = 'Kfence'; UBSAN = 'Ubsan'; kmemleak = 'Kmemleak' }[($m.Name -split ':')[0]])
                if (-not $cap.Available) { $m.Result | Should -Be 'Skipped' -Because "$($m.Name) on $($h.Host) has no detector: $($m.Reason)" }
            }
        }
    }

    # Last: before the fix of issue 13 item 1 the traced program's output broke the session.
    It 'traces a program remotely: the session stays open and the program''s output arrives in the Information stream, tagged stdout' {
        $trace = @(Invoke-Command -Session $S[0] { Get-SyscallTrace -Command /bin/cat -ArgumentList /etc/hostname } -InformationVariable info -ErrorVariable err -ErrorAction SilentlyContinue)
        $S[0].State | Should -Be 'Opened' -Because "the session broke: $err"
        $err | Should -BeNullOrEmpty
        Invoke-Command -Session $S[0] { 6 * 7 } | Should -Be 42 -Because 'the session still runs commands'
        @($trace | Where-Object Name -eq 'read').Count | Should -BeGreaterThan 0
        $out = @($info | Where-Object { $_.Tags -contains 'stdout' })
        ($out.MessageData -join "`n") | Should -Match ([regex]::Escape((Get-Content /etc/hostname -TotalCount 1).Trim()))
    }

    It 'stops every sshd it started and leaves no file' {
        $daemons = $Fleet.Daemons.Id
        $dir = $Fleet.Directory
        Stop-SshLoopback -Fleet $Fleet
        $script:Fleet = $null
        foreach ($p in $daemons) { Test-Path "/proc/$p" | Should -BeFalse }
        $dir | Should -Not -Exist
        @(Get-Process sshd -ErrorAction Ignore | Where-Object { (Get-Content "/proc/$($_.Id)/cmdline" -Raw -ErrorAction Ignore) -like "*$dir*" }) | Should -BeNullOrEmpty
    }
}
