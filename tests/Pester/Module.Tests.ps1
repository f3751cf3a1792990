BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Cmdlets = Get-Command -Module KernelDebug -CommandType Cmdlet | ForEach-Object {
        @{ Name = $_.Name; Parameters = @($_.Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters -and $_ -notin [System.Management.Automation.PSCmdlet]::OptionalCommonParameters }) }
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Manifest = Import-PowerShellDataFile $env:KERNELDEBUG_MODULE_PATH
}

Describe 'Module manifest' {
    It 'loads in PowerShell 7.4 and later, Core edition only, tagged Linux' {
        $Manifest.PowerShellVersion | Should -Be '7.4'
        $Manifest.CompatiblePSEditions | Should -Be @('Core')
        $Manifest.PrivateData.PSData.Tags | Should -Contain 'Linux'
    }

    It 'exports exactly the cmdlets the assembly defines' {
        $defined = [System.AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'KernelDebug' } |
            ForEach-Object { $_.GetExportedTypes() } |
            Where-Object { $_.IsSubclassOf([System.Management.Automation.Cmdlet]) -and -not $_.IsAbstract } |
            ForEach-Object { $a = $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]; "$($a.VerbName)-$($a.NounName)" }
        ($Manifest.CmdletsToExport | Sort-Object) | Should -Be ($defined | Sort-Object)
        (Get-Command -Module KernelDebug -CommandType Cmdlet).Count | Should -Be $Manifest.CmdletsToExport.Count
    }

    It 'uses only approved verbs' {
        $approved = (Get-Verb).Verb
        Get-Command -Module KernelDebug | ForEach-Object { $_.Verb | Should -BeIn $approved -Because $_.Name }
    }

    It 'ships every format and types file it names' {
        $dir = Split-Path $env:KERNELDEBUG_MODULE_PATH
        foreach ($f in @($Manifest.FormatsToProcess) + @($Manifest.TypesToProcess)) { Join-Path $dir $f | Should -Exist }
    }
}

Describe 'Cmdlet <Name>' -ForEach $Cmdlets {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Command = Get-Command $Name
    }

    It 'is documented in docs/en-US' {
        Join-Path $RepoRoot "docs/en-US/$Name.md" | Should -Exist
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -BeLike "$Name *"   # PowerShell's placeholder synopsis is the syntax line
        $Help.Description.Text | Should -Not -BeNullOrEmpty
    }

    It 'has an example that Get-Help -Examples shows' {
        $examples = (Get-Help $Name -Examples).Examples.Example
        @($examples).Count | Should -BeGreaterThan 0
        @($examples)[0].Code | Should -Match $Name.Split('-')[1]
        (Get-Help $Name -Examples | Out-String) | Should -Match ([regex]::Escape(@($examples)[0].Code.Split("`n")[0]))
    }

    It 'documents parameter -<_>' -ForEach $Parameters {
        $p = $Help.Parameters.Parameter | Where-Object Name -eq $_
        $p | Should -Not -BeNullOrEmpty -Because "docs/en-US/$Name.md should have a '### -$_' section"
        ($p.Description.Text -join '') | Should -Not -BeNullOrEmpty
    }

    It 'documents every output type it declares' {
        $declared = $Command.OutputType.Name | Where-Object { $_ }
        $documented = @($Help.ReturnValues.ReturnValue.Type.Name)
        foreach ($t in $declared) { $documented | Should -Contain $t }
    }

    It 'has a table view of 4 to 6 columns, readable at 120 columns, for each KernelDebug output type' {
        foreach ($t in $Command.OutputType.Name | Where-Object { $_ -like 'KernelDebug.*' }) {
            # The views as loaded, in the order PowerShell picks the default: the first view for the type.
            $views = @((Get-FormatData -TypeName $t -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition)
            $views.Count | Should -BeGreaterThan 0 -Because "module/*.Format.ps1xml should have a view for $t"
            $table = if ($views[0].Control -is [System.Management.Automation.TableControl]) { $views[0] } else {
                # A custom default (output printed as the anchor tool prints it) needs a named table view, said in NOTES.
                $named = @($views | Where-Object { $_.Control -is [System.Management.Automation.TableControl] })
                $named.Count | Should -BeGreaterThan 0 -Because "$t's default view $($views[0].Name) is not a table, so it needs a named table view for Format-Table -View"
                (@($Help.alertSet.alert.Text) -join "`n") | Should -Match "Format-Table -View $([regex]::Escape($named[0].Name))\b" -Because "the NOTES of $Name should name the table view of $t"
                $named[0]
            }
            $headers = @($table.Control.Headers)
            $columns = if ($headers.Count) { $headers.Count } else { @($table.Control.Rows[0].Columns).Count }
            $columns | Should -BeGreaterOrEqual 4 -Because "$t's table view $($table.Name) should show the 4 to 6 columns a person wants first"
            $columns | Should -BeLessOrEqual 6 -Because "$t's table view $($table.Name) should show the 4 to 6 columns a person wants first (the rest stay in Format-List)"
            foreach ($row in $table.Control.Rows) { @($row.Columns).Count | Should -Be $columns -Because "every row of $($table.Name) fills each column" }
            # In a 120-column console: the fixed widths and the space between columns fit, and leave an unsized last column 10.
            $fixed = ($headers | Measure-Object -Property Width -Sum).Sum + $columns - 1
            $fixed | Should -BeLessOrEqual $(if ($headers.Count -and $headers[-1].Width -eq 0) { 110 } else { 120 }) -Because "$($table.Name) should be readable at 120 columns"
        }
    }

    It 'has -WhatIf and -Confirm when its verb changes state' {
        $changing = 'New', 'Remove', 'Set', 'Clear', 'Enable', 'Disable', 'Start', 'Stop', 'Write', 'Add', 'Reset', 'Register', 'Unregister'
        if ($Command.Verb -in $changing) {
            $Command.Parameters.Keys | Should -Contain 'WhatIf'
            $Command.Parameters.Keys | Should -Contain 'Confirm'
        }
    }
}

Describe 'Error categories' {
    It 'never uses NotSpecified: errno goes through Errno.ToCategory, other errors name their category' {
        $hits = Get-ChildItem (Join-Path $RepoRoot 'src') -Recurse -Filter *.cs | Where-Object FullName -notmatch '/(bin|obj)/' |
            Select-String -Pattern 'ErrorCategory\.NotSpecified' | ForEach-Object { "$($_.Path):$($_.LineNumber)" }
        $hits | Should -BeNullOrEmpty
    }
}

Describe 'about_KernelDebug' {
    It 'is shipped as a help topic' {
        (Get-Help about_KernelDebug | Out-String) | Should -Match 'private tracefs'
    }
}

Describe 'README and CI' {
    BeforeAll {
        $script:Readme = Get-Content (Join-Path $RepoRoot 'README.md') -Raw
        $script:ShellBlocks = @([regex]::Matches($Readme, '(?s)```sh\r?\n(.+?)\r?\n```') | ForEach-Object { $_.Groups[1].Value.Trim() })
    }

    It 'links every exported cmdlet to its doc, and every doc link resolves' {
        foreach ($c in $Manifest.CmdletsToExport) {
            $Readme | Should -Match ([regex]::Escape("[$c](docs/en-US/$c.md)")) -Because "the README's cmdlet table should link $c"
        }
        foreach ($m in [regex]::Matches($Readme, '\]\((docs/en-US/[^)#]+)')) { Join-Path $RepoRoot $m.Groups[1].Value | Should -Exist }
    }

    It 'gives one main-job command and one test command, and .ci/run runs exactly the test command' {
        $demo = @($ShellBlocks | Where-Object { $_ -match '-Task Demo$' })
        $test = @($ShellBlocks | Where-Object { $_ -match '-Task Test$' })
        $demo | Should -HaveCount 1
        $test | Should -HaveCount 1
        $ci = @(Get-Content (Join-Path $RepoRoot '.ci/run') | Where-Object { $_.Trim() -and $_ -notmatch '^\s*#' })
        $ci[-1].Trim() | Should -BeExactly $test[0]
    }

    It 'downloads nothing in any step but NuGet packages (modules come from local repository folders only)' {
        $files = @(Get-Item (Join-Path $RepoRoot 'build.ps1'), (Join-Path $RepoRoot '.ci/run')) +
            @(Get-ChildItem (Join-Path $RepoRoot 'tests'), (Join-Path $RepoRoot 'tools'), (Join-Path $RepoRoot 'bench') -Recurse -File -Include *.ps1, *.psm1, *.sh |
                Where-Object Name -ne 'Module.Tests.ps1')   # this file names the patterns
        $hits = foreach ($f in $files) {
            Select-String -LiteralPath $f.FullName -Pattern 'Invoke-WebRequest|Invoke-RestMethod|\bcurl\b|\bwget\b|PSGallery|^\s*(Install|Save|Update)-(Module|PSResource)\b' |
                Where-Object { $_.Line -notmatch '-Repository \$\w+\b' } | ForEach-Object { "$($f.Name):$($_.LineNumber): $($_.Line.Trim())" }
        }
        $hits | Should -BeNullOrEmpty
        Get-Content (Join-Path $RepoRoot '.config/dotnet-tools.json') -Raw | ConvertFrom-Json |
            ForEach-Object { $_.tools.powershell.version } | Should -Be '7.6.9'
    }
}

Describe 'VmTest part on CI' {
    It 'is a failure, not a silent skip, when it cannot run and CI=true (exit code <Expected> with CI=<Ci>)' -ForEach @(
        @{ Ci = 'true'; Expected = 2 }
        @{ Ci = ''; Expected = 3 }
    ) {
        $saved = $env:CI
        try {
            $env:CI = $Ci
            $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'tests/vm/Invoke-VmTest.ps1'),
                '-ModulePath', $env:KERNELDEBUG_MODULE_PATH, '-PesterPath', $env:KERNELDEBUG_MODULE_PATH, '-ResultsPath', (Join-Path $TestDrive 'vm'),
                '-KernelDirectory', (Join-Path $TestDrive 'no-kernel'), '-IfAvailable') 2>&1
            $LASTEXITCODE | Should -Be $Expected -Because ($out | Out-String)
        }
        finally { $env:CI = $saved }
    }
}
