# Dot-sourced by every *.Tests.ps1: imports the built module named by build.ps1 (or the newest one in output/).
if (-not $env:KERNELDEBUG_MODULE_PATH) {
    $env:KERNELDEBUG_MODULE_PATH = Get-ChildItem (Join-Path $PSScriptRoot '../../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse |
        Sort-Object FullName -Descending | Select-Object -First 1 -ExpandProperty FullName
}
Import-Module $env:KERNELDEBUG_MODULE_PATH -Force -ErrorAction Stop
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:TraceFs = (Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'tracefs *' } | Select-Object -First 1) -split ' ' | Select-Object -Index 4

function Test-CanRunAsNobody {
    [Environment]::UserName -eq 'root' -and [bool](Get-Command unshare -ErrorAction Ignore) -and [bool](Get-Command setpriv -ErrorAction Ignore)
}

function Invoke-AsNobody([string] $Command) {
    # Runs a pwsh command with the module imported as nobody, without capabilities, and returns its output lines.
    # pwsh and the module may sit under /root (mode 700): both are bind-mounted into /tmp in a private mount namespace.
    $dir = Join-Path ([System.IO.Path]::GetTempPath()) "kd-nobody-$PID"
    New-Item -ItemType Directory "$dir/pwsh", "$dir/module", "$dir/home" -Force | Out-Null
    & chmod 0777 "$dir/home"
    try {
        $self = [Environment]::ProcessPath
        [string[]] $run = if ((Split-Path $self -Leaf) -eq 'dotnet') { @($self, "$dir/pwsh/pwsh.dll") } else { @("$dir/pwsh/$(Split-Path $self -Leaf)") }
        $moduleDir = Split-Path $env:KERNELDEBUG_MODULE_PATH
        $full = "Import-Module $dir/module/KernelDebug.psd1; $Command"
        $inner = "mount --bind '$PSHOME' '$dir/pwsh' && mount --bind '$moduleDir' '$dir/module' && exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all env HOME='$dir/home' " +
            (($run | ForEach-Object { "'$_'" }) -join ' ') + " -NoProfile -NonInteractive -Command `"$($full -replace '"', '\"' -replace '\$', '\$')`""
        & unshare --mount --propagation private -- sh -c $inner 2>&1
    }
    finally { Remove-Item $dir -Recurse -Force -ErrorAction Ignore }
}

function Test-NobodyOpens([string] $Path) {
    # The oracle for a run as nobody: whether nobody itself can open the file.
    & setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all sh -c 'exec 3< "$1"' sh $Path *> $null
    $LASTEXITCODE -eq 0
}

function Invoke-ChildPwsh([string[]] $ArgumentList) {
    # A child pwsh of this version; under 'dotnet pwsh' this process is dotnet, so pwsh.dll runs through it.
    $self = [Environment]::ProcessPath
    if ((Split-Path $self -Leaf) -eq 'dotnet') { & $self (Join-Path $PSHOME 'pwsh.dll') @ArgumentList } else { & $self @ArgumentList }
}
