# Should -HaveNoMemoryErrors: passes when nothing is piped in; fails listing every KASAN/KFENCE/UBSAN report and
# kmemleak suspect it got. Shipped in the module's folder; in a Pester file's BeforeAll, after Import-Module KernelDebug:
#   . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')
# (about_KernelDebug_HealthChecks). Needs Pester 5 (Add-ShouldOperator) loaded.
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
    $pass = $found.Count -eq 0
    if ($Negate) { $pass = -not $pass }
    $because = if ($Because) { " because $Because" } else { '' }
    $message = if ($Negate) { "Expected memory errors$because, but the kernel reported none." }
    else { "Expected no memory errors$because, but found $($found.Count):`n  " + ($describe -join "`n  ") }
    [pscustomobject]@{ Succeeded = $pass; FailureMessage = $message }
}

if (-not (Get-ShouldOperator | Where-Object Name -eq 'HaveNoMemoryErrors')) {
    Add-ShouldOperator -Name HaveNoMemoryErrors -Test ${function:Should-HaveNoMemoryErrors} -SupportsArrayInput
}
