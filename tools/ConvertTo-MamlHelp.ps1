<#
.SYNOPSIS
    The project's own small PlatyPS-markdown to MAML generator (PlatyPS is not served by our registries).
.DESCRIPTION
    Reads docs/en-US/<Cmdlet>.md files in PlatyPS 2.0 schema (front matter, SYNOPSIS, SYNTAX, DESCRIPTION,
    EXAMPLES, PARAMETERS with yaml blocks, INPUTS, OUTPUTS, NOTES, RELATED LINKS) and writes one MAML file,
    <AssemblyName>-Help.xml, that Get-Help reads for a binary module. about_*.md become about_*.help.txt.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputPath,
    [Parameter(Mandatory)] [string] $AssemblyName
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Split-Sections([string[]] $Lines, [string] $Prefix) {
    # Returns an ordered dictionary heading -> lines for headings that start with $Prefix ('## ' or '### '), skipping code fences.
    $sections = [ordered]@{}
    $current = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($Prefix) -and -not $line.StartsWith($Prefix + '#')) {
            $current = $line.Substring($Prefix.Length).Trim()
            $sections[$current] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $current) { $sections[$current].Add($line) }
    }
    return $sections
}

function Get-Paragraphs([System.Collections.Generic.IEnumerable[string]] $Lines) {
    # Blank-line separated paragraphs, code fences kept whole.
    $paras = [System.Collections.Generic.List[string]]::new()
    $buf = [System.Collections.Generic.List[string]]::new()
    $inFence = $false
    foreach ($l in $Lines) {
        if ($l -match '^```') { $inFence = -not $inFence; continue }
        if (-not $inFence -and [string]::IsNullOrWhiteSpace($l)) {
            if ($buf.Count) { $paras.Add(($buf -join "`n")); $buf.Clear() }
        } else { $buf.Add($l) }
    }
    if ($buf.Count) { $paras.Add(($buf -join "`n")) }
    return , $paras
}

function Add-Paras([System.Xml.XmlWriter] $W, [System.Collections.Generic.IEnumerable[string]] $Lines) {
    $W.WriteStartElement('maml', 'description', $script:Maml)
    foreach ($p in (Get-Paragraphs $Lines)) { $W.WriteElementString('maml', 'para', $script:Maml, $p) }
    $W.WriteEndElement()
}

function Get-Yaml([System.Collections.Generic.IEnumerable[string]] $Lines) {
    $yaml = @{}
    $in = $false
    foreach ($l in $Lines) {
        if ($l -match '^```yaml') { $in = $true; continue }
        if ($in -and $l -match '^```') { break }
        if ($in -and $l -match '^([^:]+):\s*(.*)$') { $yaml[$Matches[1].Trim()] = $Matches[2].Trim() }
    }
    return $yaml
}

function Get-ParameterInfo($Sections) {
    $params = [ordered]@{}
    if (-not $Sections.Contains('PARAMETERS')) { return $params }
    $sub = Split-Sections $Sections['PARAMETERS'] '### '
    foreach ($name in $sub.Keys) {
        if ($name -eq 'CommonParameters') { continue }
        $lines = $sub[$name]
        $descLines = [System.Collections.Generic.List[string]]::new()
        foreach ($l in $lines) { if ($l -match '^```') { break }; $descLines.Add($l) }
        $params[$name.TrimStart('-')] = [pscustomobject]@{
            Name        = $name.TrimStart('-')
            Description = $descLines
            Yaml        = Get-Yaml $lines
        }
    }
    return $params
}

function Write-Parameter([System.Xml.XmlWriter] $W, $P, [hashtable] $Override) {
    $y = $P.Yaml
    $type = if ($y['Type']) { $y['Type'] } else { 'Object' }
    $required = if ($Override -and $Override.ContainsKey('Required')) { $Override.Required } else { $y['Required'] -match '^True' }
    $position = if ($y['Position']) { $y['Position'] } else { 'Named' }
    $pipeline = if ($y['Accept pipeline input']) { $y['Accept pipeline input'] } else { 'False' }
    $W.WriteStartElement('command', 'parameter', $script:Command)
    $W.WriteAttributeString('required', $required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', ($type -like '*[[]]').ToString().ToLowerInvariant())
    $W.WriteAttributeString('globbing', ($y['Accept wildcard characters'] -eq 'True').ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $pipeline)
    $W.WriteAttributeString('position', $position.ToLowerInvariant())
    $W.WriteAttributeString('aliases', $(if ($y['Aliases']) { $y['Aliases'] } else { 'none' }))
    $W.WriteElementString('maml', 'name', $script:Maml, $P.Name)
    Add-Paras $W $P.Description
    if ($type -ne 'SwitchParameter') {
        $W.WriteStartElement('command', 'parameterValue', $script:Command)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString($type)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $script:Dev)
    $W.WriteElementString('maml', 'name', $script:Maml, $type)
    $W.WriteElementString('maml', 'uri', $script:Maml, '')
    $W.WriteEndElement()
    $W.WriteElementString('dev', 'defaultValue', $script:Dev, $(if ($y['Default value']) { $y['Default value'] } else { 'None' }))
    $W.WriteEndElement()
}

function Write-TypeList([System.Xml.XmlWriter] $W, $Lines, [string] $Outer, [string] $Inner) {
    $W.WriteStartElement('command', $Outer, $script:Command)
    $sub = Split-Sections $Lines '### '
    foreach ($t in $sub.Keys) {
        $W.WriteStartElement('command', $Inner, $script:Command)
        $W.WriteStartElement('dev', 'type', $script:Dev)
        $W.WriteElementString('maml', 'name', $script:Maml, $t)
        $W.WriteEndElement()
        Add-Paras $W $sub[$t]
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
}

function Write-Command([System.Xml.XmlWriter] $W, [string] $File) {
    $lines = Get-Content -LiteralPath $File
    # Skip the front matter, keeping its online version (the cmdlet's online help, if it has one).
    $online = ''
    if ($lines[0] -eq '---') {
        $end = [Array]::IndexOf($lines, '---', 1)
        $online = ($lines[1..($end - 1)] | Where-Object { $_ -match '^online version:\s*(\S*)' } | ForEach-Object { $Matches[1] } | Select-Object -First 1) ?? ''
        $lines = $lines[($end + 1)..($lines.Count - 1)]
    }
    $titleLine = $lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1
    if (-not $titleLine) { throw "${File}: no '# Cmdlet-Name' title." }
    $name = $titleLine.Substring(2).Trim()
    $verb, $noun = $name -split '-', 2
    $sections = Split-Sections $lines '## '
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS') {
        if (-not $sections.Contains($required)) { throw "${File}: section '## $required' is missing." }
    }
    $params = Get-ParameterInfo $sections

    $W.WriteStartElement('command', 'command', $script:Command)
    $W.WriteAttributeString('xmlns', 'maml', $null, $script:Maml)
    $W.WriteAttributeString('xmlns', 'command', $null, $script:Command)
    $W.WriteAttributeString('xmlns', 'dev', $null, $script:Dev)
    $W.WriteStartElement('command', 'details', $script:Command)
    $W.WriteElementString('command', 'name', $script:Command, $name)
    $W.WriteElementString('command', 'verb', $script:Command, $verb)
    $W.WriteElementString('command', 'noun', $script:Command, $noun)
    Add-Paras $W $sections['SYNOPSIS']
    $W.WriteEndElement()
    Add-Paras $W $sections['DESCRIPTION']

    # Syntax: one item per code block under SYNTAX; parameters in the order written there.
    $W.WriteStartElement('command', 'syntax', $script:Command)
    $inFence = $false
    $blocks = [System.Collections.Generic.List[string]]::new()
    $buf = ''
    foreach ($l in $sections['SYNTAX']) {
        if ($l -match '^```') { if ($inFence) { $blocks.Add($buf); $buf = '' }; $inFence = -not $inFence; continue }
        if ($inFence) { $buf += ' ' + $l }
    }
    foreach ($block in $blocks) {
        $W.WriteStartElement('command', 'syntaxItem', $script:Command)
        $W.WriteElementString('maml', 'name', $script:Maml, $name)
        foreach ($m in [regex]::Matches($block, '(\[*)-(\w+)')) {
            $pn = $m.Groups[2].Value
            if ($pn -eq 'CommonParameters' -or -not $params.Contains($pn)) { continue }
            # "[-N <T>]" and "[[-N] <T>]" are optional; "-N <T>" and "[-N] <T>" (positional) are required.
            $lead = $m.Groups[1].Value
            $after = $block.Substring($m.Index + $m.Length)
            $optional = $lead.Length -ge 2 -or ($lead.Length -eq 1 -and -not $after.StartsWith(']'))
            Write-Parameter $W $params[$pn] @{ Required = -not $optional }
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $script:Command)
    foreach ($p in $params.Values) { Write-Parameter $W $p $null }
    $W.WriteEndElement()

    Write-TypeList $W $sections['INPUTS'] 'inputTypes' 'inputType'
    Write-TypeList $W $sections['OUTPUTS'] 'returnValues' 'returnValue'

    if ($sections.Contains('NOTES')) {
        $W.WriteStartElement('maml', 'alertSet', $script:Maml)
        $W.WriteStartElement('maml', 'alert', $script:Maml)
        foreach ($p in (Get-Paragraphs $sections['NOTES'])) { $W.WriteElementString('maml', 'para', $script:Maml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }

    $W.WriteStartElement('command', 'examples', $script:Command)
    $examples = Split-Sections $sections['EXAMPLES'] '### '
    if ($examples.Count -eq 0) { throw "${File}: EXAMPLES has no '### Example' heading." }
    foreach ($title in $examples.Keys) {
        $code = [System.Collections.Generic.List[string]]::new()
        $remarks = [System.Collections.Generic.List[string]]::new()
        $inFence = $false; $seenCode = $false
        foreach ($l in $examples[$title]) {
            if ($l -match '^```') { $inFence = -not $inFence; $seenCode = $true; continue }
            if ($inFence) { $code.Add($l) } elseif ($seenCode) { $remarks.Add($l) }
        }
        if ($code.Count -eq 0) { throw "${File}: example '$title' has no code block." }
        $W.WriteStartElement('command', 'example', $script:Command)
        $W.WriteElementString('maml', 'title', $script:Maml, "--------- $title ---------")
        $W.WriteElementString('dev', 'code', $script:Dev, ($code -join "`n"))
        $W.WriteStartElement('dev', 'remarks', $script:Dev)
        foreach ($p in (Get-Paragraphs $remarks)) { $W.WriteElementString('maml', 'para', $script:Maml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # PowerShell takes a cmdlet's HelpUri (Get-Help -Online) from the first link with a uri: only the online version
    # gets one, so that all cmdlets have online help or none do; other web pages (man pages) keep their address in the text.
    $W.WriteStartElement('command', 'relatedLinks', $script:Command)
    if ($online) {
        $W.WriteStartElement('maml', 'navigationLink', $script:Maml)
        $W.WriteElementString('maml', 'linkText', $script:Maml, 'Online Version:')
        $W.WriteElementString('maml', 'uri', $script:Maml, $online)
        $W.WriteEndElement()
    }
    if ($sections.Contains('RELATED LINKS')) {
        foreach ($l in $sections['RELATED LINKS']) {
            if ($l -match '^\[(.+?)\]\((.*?)\)') {
                $W.WriteStartElement('maml', 'navigationLink', $script:Maml)
                $W.WriteElementString('maml', 'linkText', $script:Maml, $(if ($Matches[2] -like 'http*') { "$($Matches[1]): $($Matches[2])" } else { $Matches[1] }))
                $W.WriteElementString('maml', 'uri', $script:Maml, '')
                $W.WriteEndElement()
            }
        }
    }
    $W.WriteEndElement()
    $W.WriteEndElement()
}

$script:Maml = 'http://schemas.microsoft.com/maml/2004/10'
$script:Command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$script:Dev = 'http://schemas.microsoft.com/maml/dev/2004/10'

New-Item -ItemType Directory -Path $OutputPath -Force | Out-Null
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$target = Join-Path $OutputPath "$AssemblyName-Help.xml"
$writer = [System.Xml.XmlWriter]::Create($target, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    $count = 0
    foreach ($md in Get-ChildItem $DocsPath -Filter '*-*.md' | Sort-Object Name) {
        Write-Command $writer $md.FullName
        $count++
    }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally { $writer.Dispose() }

foreach ($about in Get-ChildItem $DocsPath -Filter 'about_*.md') {
    $text = (Get-Content $about.FullName) | Where-Object { $_ -notmatch '^```' } | ForEach-Object { $_ -replace '^#+\s*', '' }
    Set-Content -Path (Join-Path $OutputPath ($about.BaseName + '.help.txt')) -Value $text -Encoding utf8NoBOM
}
Write-Verbose "Wrote $count commands to $target"
