using System.Globalization;
using System.Net;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>How much -DecodeFd says about a descriptor: strace -y (Path) or -yy (Detailed).</summary>
public enum FdDecoding
{
    None,
    /// <summary>strace -y: the /proc/&lt;pid&gt;/fd link (a path, socket:[inode], pipe:[inode]); AT_FDCWD with the working directory.</summary>
    Path,
    /// <summary>strace -yy: sockets with protocol and addresses, devices with their numbers.</summary>
    Detailed,
}

/// <summary>
/// Says what a tracee's fd refers to, read from /proc at the syscall stop (strace -y / -yy). Socket addresses come
/// from the tracee's own network namespace (/proc/&lt;tid&gt;/net/*), where strace asks sock_diag; a UNIX socket's
/// peer (which only sock_diag knows) is not shown.
/// </summary>
internal sealed class FileDescriptorDecoder
{
    private readonly bool _detailed;
    private readonly byte[] _link = new byte[4096];

    public FileDescriptorDecoder(FdDecoding mode) => _detailed = mode == FdDecoding.Detailed;

    /// <summary>The descriptor, or null when the tracee has no such fd (closed, or a bad number).</summary>
    public SyscallFileDescriptor? Describe(int tid, int fd)
    {
        if (fd < 0) return null;
        var path = $"/proc/{tid}/fd/{fd.ToString(CultureInfo.InvariantCulture)}";
        var bytes = Interop.ReadLink(path, _link);
        if (bytes.IsEmpty) return null;
        var target = Encoding.UTF8.GetString(bytes);
        if (target.StartsWith("socket:[", StringComparison.Ordinal)) return Socket(tid, fd, path, target);
        if (target.StartsWith("pipe:[", StringComparison.Ordinal))
            return new SyscallFileDescriptor { Number = fd, Kind = "Pipe", Target = target, Inode = InodeOf(target), Text = target };
        if (target.StartsWith("anon_inode:", StringComparison.Ordinal))
            return new SyscallFileDescriptor { Number = fd, Kind = "AnonInode", Target = target, Text = target };
        if (!target.StartsWith('/'))
            return new SyscallFileDescriptor { Number = fd, Kind = "Other", Target = target, Text = target };
        string text = target;
        if (_detailed && Interop.StatRawDevice(path) is { } st && (st.Mode & Interop.S_IFMT) is Interop.S_IFCHR or Interop.S_IFBLK)
            text = $"{target}<{((st.Mode & Interop.S_IFMT) == Interop.S_IFCHR ? "char" : "block")} {st.RdevMajor}:{st.RdevMinor}>";
        return new SyscallFileDescriptor { Number = fd, Kind = "File", Target = target, Text = text };
    }

    /// <summary>AT_FDCWD: the tracee's working directory (strace 6 -y prints AT_FDCWD&lt;/dir&gt;).</summary>
    public SyscallFileDescriptor? WorkingDirectory(int tid)
    {
        var bytes = Interop.ReadLink($"/proc/{tid}/cwd", _link);
        if (bytes.IsEmpty) return null;
        var target = Encoding.UTF8.GetString(bytes);
        return new SyscallFileDescriptor { Number = -100, Kind = "Directory", Target = target, Text = target };
    }

    private static ulong? InodeOf(string target)
    {
        int open = target.IndexOf('[', StringComparison.Ordinal), close = target.LastIndexOf(']');
        return open >= 0 && close > open && ulong.TryParse(target.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;
    }

    private SyscallFileDescriptor Socket(int tid, int fd, string path, string target)
    {
        ulong? inode = InodeOf(target);
        // The kernel names a socket's protocol in this attribute of its /proc fd link (as strace -yy reads it).
        string? protocol = Interop.GetXattrText(path, "system.sockprotoname");
        if (!_detailed || inode is null || protocol is null)
            return new SyscallFileDescriptor { Number = fd, Kind = "Socket", Target = target, Inode = inode, Protocol = protocol, Text = target };
        string? local = null, remote = null, label = protocol;
        bool inet = protocol is "TCP" or "UDP" or "TCPv6" or "UDPv6";
        if (inet && SocketNames(tid, fd) is { } names) (local, remote) = names;
        else
        {
            switch (protocol)
            {
                case "TCP": (local, remote) = InetAddresses(tid, "tcp", inode.Value, v6: false); break;
                case "UDP": (local, remote) = InetAddresses(tid, "udp", inode.Value, v6: false); break;
                case "TCPv6": (local, remote) = InetAddresses(tid, "tcp6", inode.Value, v6: true); break;
                case "UDPv6": (local, remote) = InetAddresses(tid, "udp6", inode.Value, v6: true); break;
                case "UNIX":
                    (label, local) = UnixSocket(tid, inode.Value);
                    break;
            }
        }
        string inner = protocol == "UNIX"
            ? (local is null ? $"{inode}" : $"{inode},{SyscallDecoder.Quote(Encoding.UTF8.GetBytes(local), false)}")
            : local is null ? $"{inode}" : remote is null ? local : $"{local}->{remote}";
        return new SyscallFileDescriptor
        {
            Number = fd, Kind = "Socket", Target = target, Inode = inode, Protocol = protocol,
            LocalAddress = local, RemoteAddress = remote, Text = $"{label}:[{inner}]",
        };
    }

    private bool _pidfdWorks = true;

    /// <summary>
    /// An inet socket's own and peer address, asked of a copy of the tracee's fd (pidfd_getfd, Linux 5.6; the tracer
    /// may take it): this sees a bound socket that is not listening yet, which /proc/net/tcp does not list. Null where
    /// the copy cannot be made (then /proc/net is read).
    /// </summary>
    private (string? Local, string? Remote)? SocketNames(int tid, int fd)
    {
        if (!_pidfdWorks) return null;
        using var pidfd = Interop.PidfdOpen(tid, 0, out int errno) ?? (errno == Errno.EINVAL ? Interop.PidfdOpen(tid, Interop.PIDFD_THREAD, out errno) : null);
        if (pidfd is null)
        {
            if (errno is Errno.ENOSYS or Errno.EPERM) _pidfdWorks = false;
            return null;
        }
        using var copy = Interop.PidfdGetfd(pidfd, fd, out errno);
        if (copy is null)
        {
            if (errno is Errno.ENOSYS or Errno.EPERM) _pidfdWorks = false;
            return null;
        }
        var local = Interop.GetSockName(copy) is { } l ? EndpointOf(l) : null;
        var remote = Interop.GetPeerName(copy) is { } r ? EndpointOf(r) : null;
        // An unbound socket has the any address and port 0: strace shows its inode instead.
        string? localText = local is null || (local.Port == 0 && (local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any))) ? null : Format(local);
        return (localText, remote is null ? null : Format(remote));
    }

    private static IPEndPoint? EndpointOf(byte[] sockaddr) =>
        sockaddr.Length >= 2 ? SyscallDecoder.DecodeSockaddr("", 0, sockaddr).Value as IPEndPoint : null;

    /// <summary>The socket's row in /proc/&lt;tid&gt;/net/{tcp,udp}[6]: local, and remote unless unconnected or listening.</summary>
    private static (string? Local, string? Remote) InetAddresses(int tid, string table, ulong inode, bool v6)
    {
        try
        {
            var wanted = inode.ToString(CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines($"/proc/{tid}/net/{table}").Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 10 || f[9] != wanted) continue;
                var local = Endpoint(f[1], v6);
                var remote = Endpoint(f[2], v6);
                bool listening = f[3] == "0A";
                bool unconnected = remote is null || remote.Port == 0;
                return (local is null ? null : Format(local), listening || unconnected ? null : Format(remote!));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return (null, null);
    }

    private static string Format(IPEndPoint e) => e.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{e.Address}]:{e.Port}" : $"{e.Address}:{e.Port}";

    /// <summary>/proc/net's hex address: each 32-bit word in host (little-endian) order, then the port in hex.</summary>
    private static IPEndPoint? Endpoint(string field, bool v6)
    {
        int colon = field.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !int.TryParse(field.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int port)) return null;
        var hex = field.AsSpan(0, colon);
        int words = v6 ? 4 : 1;
        if (hex.Length != words * 8) return null;
        var bytes = new byte[words * 4];
        for (int w = 0; w < words; w++)
        {
            if (!uint.TryParse(hex.Slice(w * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint word)) return null;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(w * 4), word);
        }
        return new IPEndPoint(new IPAddress(bytes), port);
    }

    /// <summary>UNIX-STREAM / UNIX-DGRAM and the bound path from /proc/&lt;tid&gt;/net/unix.</summary>
    private static (string Label, string? Path) UnixSocket(int tid, ulong inode)
    {
        try
        {
            var wanted = inode.ToString(CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines($"/proc/{tid}/net/unix").Skip(1))
            {
                var f = line.Split(' ', 8, StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 7 || f[6] != wanted) continue;
                string label = f[4] switch { "0001" => "UNIX-STREAM", "0002" => "UNIX-DGRAM", "0005" => "UNIX-SEQPACKET", _ => "UNIX" };
                return (label, f.Length > 7 ? f[7] : null);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return ("UNIX", null);
    }
}
