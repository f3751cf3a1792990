namespace KernelDebug;

/// <summary>syslog levels, named as dmesg --level names them (emerg … debug).</summary>
public enum KernelLogLevel
{
    Emerg = 0, Alert = 1, Crit = 2, Err = 3, Warn = 4, Notice = 5, Info = 6, Debug = 7,
}

/// <summary>syslog facilities, named as dmesg --facility names them.</summary>
public enum KernelLogFacility
{
    Kern = 0, User, Mail, Daemon, Auth, Syslog, Lpr, News, Uucp, Cron, AuthPriv, Ftp, Res0, Res1, Res2, Res3,
    Local0, Local1, Local2, Local3, Local4, Local5, Local6, Local7,
}

/// <summary>One record of the kernel log (/dev/kmsg, or a line of a saved dmesg file).</summary>
public sealed class KernelLogEntry
{
    /// <summary>The kernel's sequence number; null for saved text logs, which do not carry it.</summary>
    public ulong? Sequence { get; init; }
    /// <summary>Wall-clock time (local), from the boot time plus TimeSinceBoot, or as printed by dmesg -T.</summary>
    public DateTime? Timestamp { get; init; }
    /// <summary>The record's kernel timestamp (local_clock, microseconds), as dmesg prints it in brackets.</summary>
    public TimeSpan? TimeSinceBoot { get; init; }
    /// <summary>Null for saved logs printed without levels.</summary>
    public KernelLogLevel? Level { get; init; }
    public KernelLogFacility? Facility { get; init; }
    /// <summary>The text, unescaped; a record of several lines keeps its newlines.</summary>
    public string Message { get; init; } = string.Empty;
    /// <summary>T&lt;pid&gt; (task) or C&lt;cpu&gt; (interrupt context), with CONFIG_PRINTK_CALLER.</summary>
    public string? Caller { get; init; }
    public string? Subsystem { get; init; }
    public string? Device { get; init; }
    /// <summary>The record was a fragment continued by the next one (kmsg flag 'c').</summary>
    public bool IsContinued { get; init; }
    /// <summary>All KEY=value lines the kernel attached (SUBSYSTEM, DEVICE and others).</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = EmptyProperties;
    /// <summary>The file the entry was read from; null for the live log.</summary>
    public string? Source { get; init; }
    /// <summary>1-based line in Source where the entry starts.</summary>
    public int? LineNumber { get; init; }

    internal static readonly IReadOnlyDictionary<string, string> EmptyProperties = new ItemDictionary<string, string>();

    public override string ToString() =>
        TimeSinceBoot is { } t ? $"[{t.TotalSeconds,12:F6}] {Message}" : Message;
}
