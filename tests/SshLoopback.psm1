<#
.SYNOPSIS
    A fleet of sshd instances on 127.0.0.1 for PowerShell remoting tests, started and stopped by the tests themselves.

.DESCRIPTION
    Start-SshLoopback starts N sshd processes on free loopback ports, each with its own host key and config in one
    temporary directory, key-only root login with a generated client key, and the powershell subsystem pointing at the
    pwsh this process runs (under 'dotnet pwsh', a wrapper script that execs dotnet with pwsh.dll). It opens one
    PSSession per sshd, named by an alias (PSComputerName), with ssh options that read nothing from ~/.ssh:
    the host keys are pinned in a temporary known_hosts (StrictHostKeyChecking=yes).
    Stop-SshLoopback removes the sessions, ends the sshd processes and their children, and deletes the directory.

    Needs openssh-server and openssh-client (.ci/run installs them) and root (login as root over loopback).
    sshd insists on its privilege separation directory (/run/sshd); it is created when missing and left in place,
    as the package's own service would leave it (it is on tmpfs, gone at reboot).
#>

function Get-FreeLoopbackPort {
    $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $l.Start()
    try { $l.LocalEndpoint.Port } finally { $l.Stop() }
}

function Get-DescendantProcessId([int] $ProcessId) {
    # Children by /proc/<pid>/stat's ppid (field 4, after the parenthesised comm).
    $parents = @{}
    foreach ($d in [System.IO.Directory]::GetDirectories('/proc')) {
        $name = [System.IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        try { $stat = [System.IO.File]::ReadAllText("$d/stat") } catch { continue }
        $rest = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
        $parents[[int] $name] = [int] $rest[1]
    }
    $found = [System.Collections.Generic.List[int]]::new()
    $queue = [System.Collections.Generic.Queue[int]]::new(); $queue.Enqueue($ProcessId)
    while ($queue.Count) {
        $p = $queue.Dequeue()
        foreach ($kv in $parents.GetEnumerator()) { if ($kv.Value -eq $p) { $found.Add($kv.Key); $queue.Enqueue($kv.Key) } }
    }
    $found
}

function Start-SshLoopback {
    [CmdletBinding()]
    param(
        # Host aliases: one sshd and one session each; PSComputerName of remote output is the alias.
        [string[]] $HostAlias = @('kd-fleet-a', 'kd-fleet-b'),
        # Seconds to wait for each session (pwsh starts slowly on a loaded 2-core machine).
        [int] $TimeoutSeconds = 180
    )
    $sshd = '/usr/sbin/sshd'
    foreach ($tool in $sshd, '/usr/bin/ssh', '/usr/bin/ssh-keygen') {
        if (-not (Test-Path $tool)) { throw "$tool is missing: apt-get install openssh-server openssh-client" }
    }
    $dir = Join-Path ([System.IO.Path]::GetTempPath()) "kerneldebug-ssh-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
    $null = New-Item -ItemType Directory -Path $dir, "$dir/home"
    # sshd refuses keys in a group/world-readable file; the whole directory is private to root.
    chmod 700 $dir
    $fleet = [pscustomobject]@{ Directory = $dir; Daemons = @(); Sessions = @(); Hosts = @() }
    try {
        if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory -Path /run/sshd; chmod 755 /run/sshd }
        $null = ssh-keygen -q -t ed25519 -N '' -C kerneldebug-test-client -f "$dir/client_key" 2>&1
        Copy-Item "$dir/client_key.pub" "$dir/authorized_keys"

        # The subsystem: sshd runs it through root's login shell with a scrubbed environment.
        $self = [Environment]::ProcessPath
        $pwshCmd = if ((Split-Path $self -Leaf) -eq 'dotnet') { "'$self' '$(Join-Path $PSHOME 'pwsh.dll')'" } else { "'$self'" }
        $dotnetRoot = Split-Path $self
        @(
            '#!/bin/sh'
            "export DOTNET_ROOT='$dotnetRoot' HOME='$dir/home' PATH='${dotnetRoot}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'"
            'export DOTNET_CLI_TELEMETRY_OPTOUT=1 POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off'
            "exec $pwshCmd -sshs -NoLogo -NoProfile"
        ) | Set-Content "$dir/pwsh-sshs"
        chmod 755 "$dir/pwsh-sshs"

        $known = foreach ($alias in $HostAlias) {
            $null = ssh-keygen -q -t ed25519 -N '' -C $alias -f "$dir/$alias.host_key" 2>&1
            $port = Get-FreeLoopbackPort
            @(
                "Port $port"
                'ListenAddress 127.0.0.1'
                "HostKey $dir/$alias.host_key"
                "PidFile $dir/$alias.pid"
                "AuthorizedKeysFile $dir/authorized_keys"
                'PermitRootLogin prohibit-password'
                'PubkeyAuthentication yes'
                'PasswordAuthentication no'
                'KbdInteractiveAuthentication no'
                'UsePAM no'
                'StrictModes no'
                'UseDNS no'
                'PrintMotd no'
                'X11Forwarding no'
                "Subsystem powershell $dir/pwsh-sshs"
            ) | Set-Content "$dir/$alias.sshd_config"
            $psi = [System.Diagnostics.ProcessStartInfo]::new($sshd)
            foreach ($a in '-D', '-f', "$dir/$alias.sshd_config", '-E', "$dir/$alias.log") { $psi.ArgumentList.Add($a) }
            $psi.UseShellExecute = $false
            $fleet.Daemons += [System.Diagnostics.Process]::Start($psi)
            $fleet.Hosts += [pscustomobject]@{ Alias = $alias; Port = $port }
            "$alias $((Get-Content "$dir/$alias.host_key.pub") -replace ' \S+$', '')"
        }
        $known | Set-Content "$dir/known_hosts"

        # Wait for each sshd to listen (or to have died, with its log as the reason).
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        for ($i = 0; $i -lt $fleet.Hosts.Count; $i++) {
            while ($true) {
                if ($fleet.Daemons[$i].HasExited) { throw "sshd for $($fleet.Hosts[$i].Alias) exited: $(Get-Content -Raw "$dir/$($fleet.Hosts[$i].Alias).log" -ErrorAction Ignore)" }
                $c = [System.Net.Sockets.TcpClient]::new()
                try { $c.Connect('127.0.0.1', $fleet.Hosts[$i].Port); break } catch { } finally { $c.Dispose() }
                if ([DateTime]::UtcNow -gt $deadline) { throw "sshd for $($fleet.Hosts[$i].Alias) did not listen on port $($fleet.Hosts[$i].Port) within 30 s" }
                Start-Sleep -Milliseconds 100
            }
        }

        # One session per host, opened together; the alias is what PSComputerName shows.
        $connections = foreach ($h in $fleet.Hosts) { New-SshLoopbackConnection -Fleet $fleet -Alias $h.Alias }
        $fleet.Sessions = @(New-PSSession -SSHConnection $connections -ErrorAction Stop)
        if ($fleet.Sessions.Count -ne $fleet.Hosts.Count -or @($fleet.Sessions | Where-Object State -ne Opened).Count) {
            throw "Opened $(@($fleet.Sessions | Where-Object State -eq Opened).Count) of $($fleet.Hosts.Count) sessions"
        }
        $fleet
    }
    catch {
        $log = Get-ChildItem $dir -Filter *.log -ErrorAction Ignore | ForEach-Object { "--- $($_.Name)`n$(Get-Content -Raw $_.FullName)" }
        Stop-SshLoopback -Fleet $fleet
        throw "Could not start the sshd loopback fleet: $($_.Exception.Message)`n$log"
    }
}

function New-SshLoopbackConnection {
    # The -SSHConnection hashtable for one host of the fleet (also for New-PSSession/Invoke-Command -SSHConnection).
    param([Parameter(Mandatory)] $Fleet, [Parameter(Mandatory)] [string] $Alias, [int] $TimeoutSeconds = 180)
    $h = $Fleet.Hosts | Where-Object Alias -eq $Alias
    @{
        HostName          = $Alias
        UserName          = 'root'
        Port              = $h.Port
        KeyFilePath       = "$($Fleet.Directory)/client_key"
        ConnectingTimeout = $TimeoutSeconds * 1000
        Options           = @{
            HostName              = '127.0.0.1'
            # pwsh 7.6 sometimes leaves -p out of the ssh command for -SSHConnection; the option always gets through.
            Port                  = $h.Port
            HostKeyAlias          = $Alias
            UserKnownHostsFile    = "$($Fleet.Directory)/known_hosts"
            GlobalKnownHostsFile  = '/dev/null'
            StrictHostKeyChecking = 'yes'
            IdentitiesOnly        = 'yes'
            BatchMode             = 'yes'
            LogLevel              = 'ERROR'
        }
    }
}

function Stop-SshLoopback {
    [CmdletBinding()]
    param([Parameter(Mandatory)] $Fleet)
    if ($Fleet.Sessions) { $Fleet.Sessions | Remove-PSSession -ErrorAction Ignore }
    foreach ($p in $Fleet.Daemons) {
        if (-not $p) { continue }
        # Connection children outlive a killed listener: end them first (they end by themselves once the sessions close).
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while (($kids = @(Get-DescendantProcessId $p.Id)).Count -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        foreach ($k in $kids) { Stop-Process -Id $k -Force -ErrorAction Ignore }
        if (-not $p.HasExited) { $p.Kill(); $null = $p.WaitForExit(10000) }
        $p.Dispose()
    }
    if ($Fleet.Directory -and (Test-Path $Fleet.Directory)) { Remove-Item -Recurse -Force $Fleet.Directory }
}

Export-ModuleMember -Function Start-SshLoopback, Stop-SshLoopback, New-SshLoopbackConnection
