# Should -HaveNoMemoryErrors: fails listing every KASAN/KFENCE/UBSAN report and kmemleak suspect it got. Nothing piped in
# passes only when a detector could have reported: the last Get-KasanReport, Get-KmemleakReport or Invoke-KmemleakScan
# of this session says which detectors it read and whether the kernel has them (a saved log always counts); when no
# such command ran here, at least one of KASAN, KFENCE, UBSAN and kmemleak must be built in.
# Shipped in the module's folder; in a Pester file's BeforeAll, after Import-Module KernelDebug:
#   . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')
# (about_KernelDebug_HealthChecks). Needs Pester 5 (Add-ShouldOperator) loaded.
# The engine's types load with the first cmdlet call; the operator may run before any.
if (-not ('KernelDebug.Memory.MemoryDetectors' -as [type])) { Add-Type -Path (Join-Path $PSScriptRoot 'KernelDebug.Engine.dll') }

function Should-HaveNoMemoryErrors {
    param($ActualValue, [switch] $Negate, [string] $Because)
    $found = @($ActualValue | Where-Object { $null -ne $_ })
    $describe = foreach ($f in $found) {
        if ($f -is [KernelDebug.MemoryErrorReport]) {
            $where = if ($null -ne $f.TimeSinceBoot) { " at $('{0:F6}' -f $f.TimeSinceBoot.TotalSeconds) s" } else { '' }
            "$($f.Title) (task $($f.Task)/$($f.ProcessId)$where, signature $($f.Signature))"
        }
        elseif ($f -is [KernelDebug.KmemleakObject]) {
            "kmemleak: $($f.Size) bytes at 0x$('{0:x}' -f $f.Address) allocated by $($f.Comm)/$($f.ProcessId)$(if ($f.AllocatedIn) { " in $($f.AllocatedIn)" })"
        }
        else { "$f" }
    }
    # An empty pipeline is healthy only if something could have reported.
    $blind = $null
    if ($found.Count -eq 0) {
        $state = [KernelDebug.Memory.MemoryDetectors]::Last
        if ($null -eq $state) {
            $state = [KernelDebug.Memory.MemoryDetectorState]::new('Should -HaveNoMemoryErrors',
                [KernelDebug.Memory.MemoryDetectors]::Probe([string[]] ('Kasan', 'Kfence', 'Ubsan', 'Kmemleak')), $false, $false)
        }
        if (-not $state.Satisfied) { $blind = "$($state.Command) proves nothing: $($state.Reason). $($state.Remedy)".Trim() }
    }
    $pass = $found.Count -eq 0 -and -not $blind
    if ($Negate) { $pass = $found.Count -gt 0 }
    $because = if ($Because) { " because $Because" } else { '' }
    $message = if ($Negate) { "Expected memory errors$because, but the kernel reported none." }
    elseif ($blind) { "Expected no memory errors$because, but no detector could report any: $blind" }
    else { "Expected no memory errors$because, but found $($found.Count):`n  " + ($describe -join "`n  ") }
    [pscustomobject]@{ Succeeded = $pass; FailureMessage = $message }
}

if (-not (Get-ShouldOperator | Where-Object Name -eq 'HaveNoMemoryErrors')) {
    Add-ShouldOperator -Name HaveNoMemoryErrors -Test ${function:Should-HaveNoMemoryErrors} -SupportsArrayInput
}
