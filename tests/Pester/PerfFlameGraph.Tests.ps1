BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Workload = New-PerfWorkload $TestDrive
    $script:Data = Join-Path $TestDrive 'fg.data'
    if (Get-Command perf -ErrorAction Ignore) { & perf record -g -o $Data -- $Workload 1000 2 100 100000000 2>$null | Out-Null }
}

Describe 'Export-FlameGraph' {
    It 'folds stacks as stackcollapse-perf does from perf script output' -Skip:(-not $HavePerf) {
        # Fold perf script's own text: the command name, then the frames outermost first.
        $expected = @{}
        $stack = $null
        foreach ($line in (& perf script -i $Data -F comm,ip,sym 2>$null) + '') {
            if ($line -match '^\S') { $stack = @(($line -split '\s+')[0]) }
            elseif ($line.Trim() -eq '') {
                if ($stack) { $key = @($stack[0]) + @($stack[($stack.Count - 1)..1]) -join ';'; $expected[$key] = 1 + $expected[$key] }
                $stack = $null
            }
            else { $stack += ($line.Trim() -split '\s+', 2)[1] }
        }
        $out = Join-Path $TestDrive 'fg.folded'
        Export-FlameGraph -Path $Data -OutFile $out -Folded | Should -BeOfType System.IO.FileInfo
        $ours = @{}
        Get-Content $out | ForEach-Object { $i = $_.LastIndexOf(' '); $ours[$_.Substring(0, $i)] = [int]$_.Substring($i + 1) }
        ($ours.Keys | Sort-Object) | Should -Be ($expected.Keys | Sort-Object)
        foreach ($k in $expected.Keys) { $ours[$k] | Should -Be $expected[$k] -Because $k }
    }

    It 'writes an interactive SVG with a frame per stack prefix, tooltips, zoom and search' -Skip:(-not $HavePerf) {
        $svgPath = Join-Path $TestDrive 'fg.svg'
        Get-PerfSample $Data | Export-FlameGraph -OutFile $svgPath -Title 'workload' | Out-Null
        [xml] $svg = Get-Content -Raw $svgPath
        $ns = @{ s = 'http://www.w3.org/2000/svg' }
        $frames = Select-Xml -Xml $svg -XPath '//s:g[@class="f"]' -Namespace $ns
        $folded = [KernelDebug.Perf.FlameGraph]::Fold([KernelDebug.PerfSample[]]@(Get-PerfSample $Data))
        $frames.Count | Should -Be ([KernelDebug.Perf.FlameGraph]::FrameCount($folded))
        (Select-Xml -Xml $svg -XPath '//s:g[@class="f"]/s:title' -Namespace $ns).Node.InnerText | Where-Object { $_ -like 'spin_inner (*' } | Should -Not -BeNullOrEmpty
        $script = (Select-Xml -Xml $svg -XPath '//s:script' -Namespace $ns).Node.InnerText
        $script | Should -Match 'function zoom'
        $script | Should -Match 'function search'
        (Select-Xml -Xml $svg -XPath '//s:g[@class="f"]/s:title' -Namespace $ns | Select-Object -First 1).Node.InnerText | Should -Match "^all \(\d[\d,]* samples, 100\.00%\)"
    }

    It 'reports a corrupt input file as an error, writing nothing' {
        $bad = Join-Path $TestDrive 'bad.data'
        [System.IO.File]::WriteAllBytes($bad, [byte[]](1..200))
        { Export-FlameGraph -Path $bad -OutFile (Join-Path $TestDrive 'bad.svg') } | Should -Throw -ErrorId 'PerfDataCorrupt*'
        Join-Path $TestDrive 'bad.svg' | Should -Not -Exist
    }
}
