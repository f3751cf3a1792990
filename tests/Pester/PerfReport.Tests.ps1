BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Workload = New-PerfWorkload $TestDrive
    $script:Data = Join-Path $TestDrive 'report.data'
    if (Get-Command perf -ErrorAction Ignore) { & perf record -g -F 2000 -o $Data -- $Workload 2000 4 300 200000000 1 2>$null | Out-Null }

    # perf report --stdio lines: [children%] self% comm dso [.|k] symbol
    function Get-PerfReportRows([string[]] $Options) {
        & perf report -i $Data --stdio --sort comm,dso,sym -g none --percent-limit 0 @Options 2>$null | Where-Object { $_ -match '^\s+\d' } | ForEach-Object {
            if ($_ -match '^\s+(?<c>[\d.]+)%\s+(?<s>[\d.]+)%\s+(?<comm>\S.{0,15}?)\s{2,}(?<dso>\S+)\s+\[(?<k>.)\]\s+(?<sym>.+?)\s*$') {
                [pscustomobject]@{ Children = [double]$Matches.c; Self = [double]$Matches.s; Key = "$($Matches.comm.Trim())|$($Matches.dso)|$($Matches.k)|$($Matches.sym)" }
            } elseif ($_ -match '^\s+(?<s>[\d.]+)%\s+(?<comm>\S.{0,15}?)\s{2,}(?<dso>\S+)\s+\[(?<k>.)\]\s+(?<sym>.+?)\s*$') {
                [pscustomobject]@{ Children = $null; Self = [double]$Matches.s; Key = "$($Matches.comm.Trim())|$($Matches.dso)|$($Matches.k)|$($Matches.sym)" }
            }
        }
    }
    function Get-Key($h) { "$($h.Comm)|$(Split-Path -Leaf $h.Dso)|$(if ($h.Kernel) { 'k' } else { '.' })|$($h.Symbol)" }
}

Describe 'Get-PerfReport' {
    It 'agrees with perf report --stdio --no-children on self overhead' -Skip:(-not $HavePerf) {
        $theirs = @(Get-PerfReportRows '--no-children')
        $theirs.Count | Should -BeGreaterThan 3
        $ours = @{}
        Get-PerfReport -Path $Data | ForEach-Object { $ours[(Get-Key $_)] = $_ }
        foreach ($row in $theirs) {
            $ours.Keys | Should -Contain $row.Key
            [math]::Round($ours[$row.Key].Overhead, 2) | Should -Be $row.Self -Because $row.Key
        }
        $ours.Count | Should -Be $theirs.Count
    }

    It 'agrees with perf report --children on children overhead' -Skip:(-not $HavePerf) {
        $theirs = @(Get-PerfReportRows '--children')
        $ours = @{}
        Get-PerfReport -Path $Data -Children | ForEach-Object { $ours[(Get-Key $_)] = $_ }
        foreach ($row in $theirs | Where-Object Children -ge 1) {
            $ours.Keys | Should -Contain $row.Key
            [math]::Round($ours[$row.Key].Children, 2) | Should -Be $row.Children -Because $row.Key
            [math]::Round($ours[$row.Key].Overhead, 2) | Should -Be $row.Self -Because $row.Key
        }
    }

    It 'sorts by symbol alone, takes samples from the pipeline, and limits with -Top' -Skip:(-not $HavePerf) {
        $bySym = Get-PerfSample $Data | Get-PerfReport -SortBy Symbol -Top 3
        @($bySym).Count | Should -Be 3
        $bySym[0].Symbol | Should -Be 'spin_inner'
        $bySym[0].Comm | Should -BeNullOrEmpty
        ($bySym[0].Overhead) | Should -BeGreaterOrEqual $bySym[1].Overhead
        (Get-PerfReport -Path $Data | Measure-Object -Property Overhead -Sum).Sum | Should -BeGreaterThan 99.99
    }
}

Describe 'Watch-PerfTop' {
    It 'does not follow a symbolic link planted at the old predictable /tmp name, and leaves no temporary file' -Skip:(-not $HavePerf) {
        # It wrote /tmp/kerneldebug_top_<pid>.data with FileMode.Create: another user's link there made root overwrite its target.
        $old = Join-Path ([IO.Path]::GetTempPath()) "kerneldebug_top_$PID.data"
        $victim = Join-Path $TestDrive 'root-owned'
        Set-Content $victim 'precious'
        Remove-Item $old -Force -ErrorAction Ignore
        $null = New-Item -ItemType SymbolicLink -Path $old -Target $victim
        try {
            $before = @(Get-ChildItem ([IO.Path]::GetTempPath()) -Filter 'kerneldebug_top_*' -Directory).FullName
            $null = Watch-PerfTop -Count 3 -Interval '00:00:00.3' -Duration '00:00:00.7'
            Get-Content $victim | Should -Be 'precious'
            (Get-Item $old -Force).LinkType | Should -Be 'SymbolicLink'
            @(Get-ChildItem ([IO.Path]::GetTempPath()) -Filter 'kerneldebug_top_*' -Directory | Where-Object FullName -NotIn $before) | Should -BeNullOrEmpty
        }
        finally { Remove-Item $old -Force -ErrorAction Ignore }
    }

    It 'ranks the hottest symbols of a busy process in each refresh' -Skip:(-not $HavePerf) {
        $p = Start-Process -FilePath $Workload -ArgumentList 0, 0, 0, 4000000000 -PassThru
        try {
            $rows = Watch-PerfTop -ProcessId $p.Id -Count 3 -Interval '00:00:00.5' -Duration '00:00:01.2'
            @($rows).Count | Should -BeGreaterThan 0
            $rounds = $rows | Group-Object { $_.Interval }
            $rounds | ForEach-Object { $_.Count | Should -BeLessOrEqual 3 }
            $rows[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.PerfHotspot'
            $rows[0].Symbol | Should -Be 'spin_inner'
            $rows | ForEach-Object { $_.Comm | Should -Be 'workload' }
            Get-ChildItem ([IO.Path]::GetTempPath()) -Filter "kerneldebug_top_$PID.data" | Should -BeNullOrEmpty
        }
        finally { $p | Stop-Process -Force -ErrorAction Ignore }
    }
}
