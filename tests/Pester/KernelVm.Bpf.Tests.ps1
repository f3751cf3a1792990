# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# What the host kernel cannot show: bpftrace kprobes (the host has no CONFIG_KPROBES), typed through Invoke-Bpftrace,
# and bpftrace's kprobe program seen through bpf() by Get-BpfProgram as bpftool sees it.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
    $script:Bpftrace = (Get-Command bpftrace -CommandType Application -ErrorAction Ignore | Select-Object -First 1).Source
}

Describe 'bpftrace kprobes on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    It 'the Bpftrace capability does not warn about kprobes where kprobe_events exists' {
        Test-Path "$TraceFs/kprobe_events" | Should -BeTrue
        (Get-KernelDebugCapability -Name Bpftrace).Detail | Should -Not -Match 'kprobe probes will fail'
    }

    It 'Invoke-Bpftrace counts the vfs_read calls of a command and histograms their sizes (kprobe, -Command)' {
        # dd reads once with bs=12345: vfs_read's count (arg2) lands in the [8K, 16K) bucket.
        $out = Invoke-Bpftrace -Expression 'kprobe:vfs_read /pid == cpid/ { @reads = count(); @size = hist(arg2); }' `
            -Command $Dd -ArgumentList 'if=/etc/hostname', 'of=/dev/null', 'bs=12345', 'count=1' 6> $null
        $reads = $out | Where-Object { $_ -is [KernelDebug.BpftraceMap] -and $_.Name -eq '@reads' }
        $reads.Value | Should -BeGreaterOrEqual 1
        $size = $out | Where-Object { $_ -is [KernelDebug.BpftraceHistogram] -and $_.Name -eq '@size' }
        $bucket = $size.Buckets | Where-Object { $_.Min -le 12345 -and $_.Max -ge 12345 }
        $bucket.Range | Should -Be '[8K, 16K)'
        $bucket.Count | Should -BeGreaterOrEqual 1
    }

    It 'Get-BpfProgram shows bpftrace''s kprobe program as bpftool does' {
        $psi = [System.Diagnostics.ProcessStartInfo]::new($Bpftrace)
        foreach ($a in '-e', 'kprobe:vfs_read { @n = count(); } interval:s:120 { exit(); }') { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        $bt = [System.Diagnostics.Process]::Start($psi)
        try {
            # bpftrace loads and unloads throwaway programs while it probes the kernel's features; they are gone
            # before it says "Attaching". After that line, the programs bpftrace holds are the script's own.
            $attaching = $bt.StandardOutput.ReadLineAsync()
            $attaching.Wait([TimeSpan]::FromSeconds(90)) | Should -BeTrue -Because 'bpftrace says Attaching once its probes are ready'
            $attaching.Result | Should -Match '^Attaching'
            # The same ids in two listings a second apart: a feature probe lives for milliseconds.
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            $ours = @(); $previous = ''
            do {
                Start-Sleep -Seconds 1
                $ours = @(Get-BpfProgram | Where-Object { $_.Type -eq 'kprobe' -and $_.ProcessIds -contains $bt.Id })
                $ids = ($ours | ForEach-Object Id | Sort-Object) -join ','
                $stable = $ids -and $ids -eq $previous
                $previous = $ids
            } until ($stable -or [DateTime]::UtcNow -gt $deadline)
            $ours.Count | Should -BeGreaterOrEqual 1
            foreach ($p in $ours) {
                $t = & bpftool -j prog show id $p.Id | ConvertFrom-Json
                ($p.Type, $p.Name, $p.Tag, $p.XlatedSize) | Should -Be @($t.type, $t.name, $t.tag, $t.bytes_xlated)
            }
        } finally { if (-not $bt.HasExited) { $bt.Kill($true); $bt.WaitForExit() } }
    }
}
