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
    # Two runs of one program that move the work from alpha to beta, recorded by perf, without call chains
    # (stacks "hot;alpha", "hot;beta"): the differential flame graph's input.
    $script:Hot = Join-Path $TestDrive 'hot'
    $script:Before = Join-Path $TestDrive 'before.data'
    $script:After = Join-Path $TestDrive 'after.data'
    if ($HavePerf) {
        & gcc -O2 -g -o $Hot (Join-Path $RepoRoot 'tests/fixtures/perf/hotspots.c')
        & perf record -F 2000 -o $Before -- $Hot 80 200000000 2>$null | Out-Null
        & perf record -F 2000 -o $After -- $Hot 20 200000000 2>$null | Out-Null
    }

    function script:Get-FoldedByPerf([string] $Path) {
        # perf script's "comm ip sym" lines of samples without call chains, folded to "comm;sym" as stackcollapse-perf does.
        $folded = @{}
        foreach ($line in & perf script -i $Path -F comm,ip,sym 2>$null) {
            if ($line -match '^\s*(\S+)\s+[0-9a-f]+\s+(.*)$') { $k = "$($Matches[1]);$($Matches[2].Trim())"; $folded[$k] = 1 + $folded[$k] }
        }
        $folded
    }

    function script:Get-TrueTypeWidths([string] $Path) {
        # Advance widths (in ems) of the printable ASCII characters from a TrueType font's cmap (format 4) and hmtx tables.
        $f = [IO.File]::ReadAllBytes($Path)
        $u16 = { param($o) [int]$f[$o] * 256 + $f[$o + 1] }
        $u32 = { param($o) ([long](& $u16 $o) -shl 16) + (& $u16 ($o + 2)) }
        $tables = @{}
        for ($i = 0; $i -lt (& $u16 4); $i++) { $r = 12 + 16 * $i; $tables[[Text.Encoding]::ASCII.GetString($f, $r, 4)] = [int](& $u32 ($r + 8)) }
        $unitsPerEm = & $u16 ($tables['head'] + 18)
        $metrics = & $u16 ($tables['hhea'] + 34)
        $cmap = $tables['cmap']
        $sub = $null
        for ($i = 0; $i -lt (& $u16 ($cmap + 2)); $i++) {
            $r = $cmap + 4 + 8 * $i
            if ((& $u16 $r) -eq 3 -and (& $u16 ($r + 2)) -eq 1) { $sub = $cmap + [int](& $u32 ($r + 4)) }
        }
        $segs = (& $u16 ($sub + 6)) / 2
        $ends = $sub + 14; $starts = $ends + 2 * $segs + 2; $deltas = $starts + 2 * $segs; $ranges = $deltas + 2 * $segs
        $widths = @{}
        foreach ($c in 32..126) {
            for ($s = 0; $s -lt $segs; $s++) { if ((& $u16 ($ends + 2 * $s)) -ge $c) { break } }
            $start = & $u16 ($starts + 2 * $s); $delta = & $u16 ($deltas + 2 * $s); $range = & $u16 ($ranges + 2 * $s)
            $glyph = 0
            if ($start -le $c) {
                if ($range -eq 0) { $glyph = ($c + $delta) % 65536 }
                else { $g = & $u16 ($ranges + 2 * $s + $range + 2 * ($c - $start)); if ($g) { $glyph = ($g + $delta) % 65536 } }
            }
            $widths[[char]$c] = (& $u16 ($tables['hmtx'] + 4 * [Math]::Min($glyph, $metrics - 1))) / $unitsPerEm
        }
        $widths
    }
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

    It 'trims every label to its frame when it writes the SVG, for renderers without JavaScript' -Skip:(-not $HavePerf) {
        $svgPath = Join-Path $TestDrive 'fit.svg'
        Export-FlameGraph -Path $Data -OutFile $svgPath | Out-Null
        [xml] $svg = Get-Content -Raw $svgPath
        $frames = @(Select-Xml -Xml $svg -XPath '//s:g[@class="f"]' -Namespace @{ s = 'http://www.w3.org/2000/svg' } | ForEach-Object Node)
        # The font a static renderer here draws "Verdana, sans-serif" with (fontconfig's match), measured from its tables.
        $font = if (Get-Command fc-match -ErrorAction Ignore) { & fc-match -f '%{file}' 'Verdana' } else { '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf' }
        $real = if ($font -like '*.ttf' -and (Test-Path $font)) { Get-TrueTypeWidths $font }
        $trimmed = 0
        foreach ($g in $frames) {
            $label = $g.text.InnerText
            $room = [double]$g.rect.width - 6
            $name = $g.title -replace ' \([^()]*\)$', ''
            if ($label) {
                [KernelDebug.Perf.FlameGraph]::TextWidth($label) | Should -BeLessOrEqual $room -Because "the label '$label' in a frame $($g.rect.width) wide"
                if ($real) { (($label.ToCharArray() | ForEach-Object { $real[$_] ?? 1 } | Measure-Object -Sum).Sum * 12) | Should -BeLessOrEqual $room -Because "'$label' in $font" }
                if ($label -ne $name) { $label | Should -BeLike '*..'; $name | Should -BeLike "$($label.TrimEnd('.'))*"; $trimmed++ }
            }
            # A frame wide enough for its whole name shows it whole.
            elseif ([KernelDebug.Perf.FlameGraph]::TextWidth($name) -le $room) { throw "'$name' fits its frame but has no label" }
        }
        $trimmed | Should -BeGreaterThan 0 -Because 'some names are wider than their frames'
        # The estimate is no narrower than the font, per character.
        if ($real) { foreach ($c in $real.Keys) { [KernelDebug.Perf.FlameGraph]::TextWidth([string]$c) | Should -BeGreaterOrEqual ($real[$c] * 12) -Because "'$c'" } }
    }

    It 'gives every frame its own colour back when the search is reset' -Skip:(-not $HavePerf -or -not (Get-Command node -ErrorAction Ignore)) {
        # The SVG's own script, run in node over its own frames (a minimal DOM: what the script touches).
        $svgPath = Join-Path $TestDrive 'search.svg'
        Export-FlameGraph -Path $Data -OutFile $svgPath | Out-Null
        $runner = Join-Path $TestDrive 'search.js'
        Set-Content $runner @'
const fs = require("fs");
const svg = fs.readFileSync(process.argv[2], "utf8");
const script = svg.match(/<!\[CDATA\[([\s\S]*?)\]\]>/)[1];
const attrs = s => { const o = {}; for (const m of s.matchAll(/([\w-]+)="([^"]*)"/g)) o[m[1]] = m[2]; return o; };
function element(a, text) {
  const e = { a: a, textContent: text, dataset: {}, style: {},
    getAttribute(k) { return this.a[k]; }, setAttribute(k, v) { this.a[k] = String(v); },
    getComputedTextLength() { return this.textContent.length * 7; } };
  for (const k in a) if (k.startsWith("data-")) e.dataset[k.substring(5)] = a[k];
  return e;
}
const frames = [];
for (const m of svg.matchAll(/<g class="f"[^>]*><title>([^<]*)<\/title><rect ([^>]*)\/><text ([^>]*)>([^<]*)<\/text><\/g>/g)) {
  const parts = { title: element({}, m[1]), rect: element(attrs(m[2]), ""), text: element(attrs(m[3]), m[4]) };
  frames.push({ style: {}, querySelector(sel) { return parts[sel]; } });
}
const byId = { frames: { children: frames }, details: { firstChild: { nodeValue: "" } }, matched: { textContent: "" },
  reset: { style: {} }, search: { textContent: "Search" } };
global.document = { getElementById: id => byId[id], documentElement: { getAttribute: () => "1200" } };
let answer = null;
global.prompt = () => answer;
(0, eval)(script); // in the global scope, as a browser runs it
init();
const original = frames.map(f => f.querySelector("rect").getAttribute("fill"));
const fills = () => frames.map(f => f.querySelector("rect").getAttribute("fill"));
const result = {};
answer = "spin"; search_prompt();
result.highlighted = fills().filter(f => f === "rgb(230,0,230)").length;
result.button = byId.search.textContent;
answer = "work|main"; search("work|main");
result.second = fills().filter(f => f === "rgb(230,0,230)").length;
search_prompt(); // the button resets a shown search
result.restored = fills().every((f, i) => f === original[i]);
result.buttonAfter = byId.search.textContent;
zoom(frames[frames.length - 1]); unzoom();
result.afterZoom = fills().every((f, i) => f === original[i]);
result.frames = frames.length;
console.log(JSON.stringify(result));
'@
        $r = & node $runner $svgPath | ConvertFrom-Json
        $r.frames | Should -BeGreaterThan 3
        $r.highlighted | Should -BeGreaterThan 0
        $r.button | Should -Be 'Reset Search'
        $r.second | Should -BeGreaterThan 0
        $r.restored | Should -BeTrue
        $r.buttonAfter | Should -Be 'Search'
        $r.afterZoom | Should -BeTrue
        # Read from the script: a frame's colour comes back from the fill saved with it in the markup.
        $text = Get-Content -Raw $svgPath
        $text | Should -Match 'r\.setAttribute\("fill", r\.dataset\.fill\)'
        ([regex]::Matches($text, '<rect [^>]*fill="([^"]+)" data-fill="([^"]+)"') | Where-Object { $_.Groups[1].Value -ne $_.Groups[2].Value }) | Should -BeNullOrEmpty
    }

    It 'draws a differential flame graph: widths of the second recording, red where a stack grew, blue where it shrank' -Skip:(-not $HavePerf) {
        $a = Get-FoldedByPerf $Before
        $b = Get-FoldedByPerf $After
        # difffolded.pl's lines, counted by perf script.
        $folded = Join-Path $TestDrive 'diff.folded'
        Export-FlameGraph -ReferencePath $Before -DifferencePath $After -OutFile $folded -Folded | Out-Null
        $lines = @{}
        Get-Content $folded | ForEach-Object { $p = $_ -split ' '; $lines[$p[0..($p.Count - 3)] -join ' '] = [long[]]($p[-2], $p[-1]) }
        foreach ($k in 'hot;alpha', 'hot;beta') { $lines[$k] | Should -Be @([long]$a[$k], [long]$b[$k]) -Because $k }
        # flamegraph.pl's colours: g = b = 210 * (max - delta) / max for growth, r = g = 210 * (max + delta) / max for loss.
        $max = ($a.Keys + $b.Keys | Sort-Object -Unique | ForEach-Object { [Math]::Abs([long]$b[$_] - [long]$a[$_]) } | Measure-Object -Maximum).Maximum
        $svgPath = Join-Path $TestDrive 'diff.svg'
        foreach ($negate in $false, $true) {
            Export-FlameGraph -ReferencePath $Before -DifferencePath $After -OutFile $svgPath -Negate:$negate | Out-Null
            [xml] $svg = Get-Content -Raw $svgPath
            $frames = @(Select-Xml -Xml $svg -XPath '//s:g[@class="f"]' -Namespace @{ s = 'http://www.w3.org/2000/svg' } | ForEach-Object Node)
            foreach ($name in 'alpha', 'beta') {
                $g = $frames | Where-Object { $_.title -like "$name (*" }
                $g | Should -HaveCount 1
                $delta = [long]$b["hot;$name"] - [long]$a["hot;$name"]
                if ($negate) { $delta = -$delta }
                $v = [int][Math]::Truncate(210 * ($max - [Math]::Abs($delta)) / $max)
                $g.rect.fill | Should -Be $(if ($delta -gt 0) { "rgb(255,$v,$v)" } else { "rgb($v,$v,255)" }) -Because "$name (negate: $negate)"
                $g.title | Should -Match "^$name \($($b["hot;$name"]) samples"
            }
        }
        # The work moved from alpha to beta: beta red, alpha blue.
        $frames = @(Select-Xml -Xml ([xml](Get-Content -Raw (Export-FlameGraph -ReferencePath $Before -DifferencePath $After -OutFile $svgPath))) -XPath '//s:g[@class="f"]' -Namespace @{ s = 'http://www.w3.org/2000/svg' } | ForEach-Object Node)
        ($frames | Where-Object { $_.title -like 'beta (*' }).rect.fill | Should -Match '^rgb\(255,\d+,\d+\)$'
        ($frames | Where-Object { $_.title -like 'alpha (*' }).rect.fill | Should -Match '^rgb\(\d+,\d+,255\)$'
    }

    It 'reports a corrupt input file as an error, writing nothing' {
        $bad = Join-Path $TestDrive 'bad.data'
        [System.IO.File]::WriteAllBytes($bad, [byte[]](1..200))
        { Export-FlameGraph -Path $bad -OutFile (Join-Path $TestDrive 'bad.svg') } | Should -Throw -ErrorId 'PerfDataCorrupt*'
        Join-Path $TestDrive 'bad.svg' | Should -Not -Exist
    }
}
