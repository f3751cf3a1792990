using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Management.Automation;
using KernelDebug.Native;
using Microsoft.Win32.SafeHandles;

namespace KernelDebug.Perf;

/// <summary>
/// Writes a perf.data file as perf record does: a header rewritten at the end, the attributes (in perf 6.1's
/// 128-byte layout) with their ids, the data section as the ring buffers deliver it, then the feature sections
/// perf report and perf script read (EVENT_DESC, HOSTNAME, OSRELEASE, VERSION, ARCH, NRCPUS, TOTAL_MEM, CMDLINE,
/// BUILD_ID empty, SAMPLE_TIME). It writes to "&lt;path&gt;.kerneldebug-tmp" in the same directory, locked (flock) for
/// the whole recording, and renames it to the path when finished, after keeping the file it replaces as
/// "&lt;path&gt;.old" (perf record's rotation): a reader of the old file never sees it truncated, and a second recording
/// to the same path fails at once (PerfRecordPathBusy) instead of both writing one file.
/// </summary>
public sealed class PerfDataWriter : IDisposable
{
    /// <summary>perf_event_attr as perf 6.1 reads it (PERF_ATTR_SIZE_VER7); later fields are zero for our events.</summary>
    public const int FileAttrSize = 128;

    private readonly FileStream _stream;
    private readonly IReadOnlyList<(PerfEventAttr Attr, string Name, ulong[] Ids)> _attrs;
    private long _dataOffset;
    private ulong _firstSample = ulong.MaxValue, _lastSample;
    private bool _finished, _committed;
    private ulong _inode;

    public string Path { get; }
    /// <summary>Where the file is written until it is finished.</summary>
    public string TemporaryPath { get; }

    public const string TemporarySuffix = ".kerneldebug-tmp";

    public PerfDataWriter(string path, IReadOnlyList<(PerfEventAttr Attr, string Name, ulong[] Ids)> attrs)
    {
        Path = System.IO.Path.GetFullPath(path);
        TemporaryPath = Path + TemporarySuffix;
        _attrs = attrs;
        _stream = OpenLocked();
        try { WriteStart(); }
        catch { Dispose(); throw; }
    }

    /// <summary>
    /// Opens (creating) the temporary file and takes its lock. A file left by a killed recording is reused; one
    /// another recording holds is refused. The lock holder may rename its file into place between our open and our
    /// lock: then the name no longer points at the inode we locked, and we open again.
    /// </summary>
    private FileStream OpenLocked()
    {
        if (Directory.Exists(Path))
            throw new KernelDebugException($"'{Path}' is a directory; give a file name for the recording.", "PerfRecordPathIsDirectory", ErrorCategory.InvalidArgument) { Target = Path };
        for (int attempt = 0; ; attempt++)
        {
            int fd = (int)Interop.RetryOnEintr(() => Interop.open(TemporaryPath, Interop.O_RDWR | Interop.O_CREAT | Interop.O_NOFOLLOW | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0x1b6));
            if (fd < 0)
            {
                int errno = Errno.Last;
                if (errno == Errno.ELOOP)
                    throw new KernelDebugException($"'{TemporaryPath}' is a symbolic link: the recording's temporary file is never written through one.", "PerfRecordTemporaryIsLink", ErrorCategory.SecurityError) { Target = TemporaryPath };
                throw new KernelDebugException(errno, "create", TemporaryPath, "PerfRecordCreate." + Errno.Name(errno));
            }
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            try
            {
                var st = Interop.FStat(handle, out int statErrno) ?? throw new KernelDebugException(statErrno, "fstat", TemporaryPath);
                if ((st.Mode & Interop.S_IFMT) != Interop.S_IFREG || st.Uid != Interop.geteuid())
                    throw new KernelDebugException($"'{TemporaryPath}' exists and is not a regular file of this user: remove it, or record to another path.",
                        "PerfRecordTemporaryForeign", ErrorCategory.SecurityError) { Target = TemporaryPath };
                if (Interop.flock(handle, Interop.LOCK_EX | Interop.LOCK_NB) < 0)
                {
                    int errno = Errno.Last;
                    if (errno is Errno.EAGAIN)
                        throw new KernelDebugException($"Another recording is writing '{Path}' (it holds '{TemporaryPath}'). Stop it first, or record to another path.",
                            "PerfRecordPathBusy", ErrorCategory.ResourceBusy) { Target = Path };
                    throw new KernelDebugException(errno, "flock", TemporaryPath);
                }
                if (Interop.LStatInode(TemporaryPath) == st.Inode)
                {
                    _inode = st.Inode;
                    var stream = new FileStream(handle, FileAccess.ReadWrite, 1 << 20);
                    stream.SetLength(0);
                    return stream;
                }
                if (attempt >= 10) throw new KernelDebugException($"'{TemporaryPath}' keeps being replaced while it is opened.", "PerfRecordPathBusy", ErrorCategory.ResourceBusy) { Target = Path };
            }
            catch { handle.Dispose(); throw; }
            handle.Dispose();
        }
    }

    private void WriteStart()
    {
        // Header (written last), _attrs, their ids, then the data.
        _stream.Write(new byte[PerfFormat.HeaderSize]);
        long idsOffset = PerfFormat.HeaderSize + _attrs.Count * (FileAttrSize + 16);
        foreach (var (attr, _, ids) in _attrs)
        {
            _stream.Write(AttrBytes(attr));
            WriteU64(idsOffset);
            WriteU64((ulong)ids.Length * 8);
            idsOffset += ids.Length * 8;
        }
        foreach (var (_, _, ids) in _attrs)
            foreach (var id in ids) WriteU64(id);
        _dataOffset = _stream.Position;
        // From here on the file has a valid header (see Checkpoint): a SIGKILL leaves a readable, empty recording.
        Checkpoint();
    }

    public long DataSize => _stream.Position - _dataOffset;

    internal static byte[] AttrBytes(PerfEventAttr attr)
    {
        attr.Size = FileAttrSize;
        var bytes = new byte[FileAttrSize];
        unsafe
        {
            new ReadOnlySpan<byte>(&attr, FileAttrSize).CopyTo(bytes);
        }
        return bytes;
    }

    private void WriteU64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        _stream.Write(b);
    }

    private void WriteU64(long v) => WriteU64((ulong)v);

    /// <summary>Appends records exactly as the kernel wrote them.</summary>
    public void WriteRecords(ReadOnlySpan<byte> records) => _stream.Write(records);

    /// <summary>Notes a sample's time for the SAMPLE_TIME feature.</summary>
    public void NoteSampleTime(ulong time)
    {
        if (time < _firstSample) _firstSample = time;
        if (time > _lastSample) _lastSample = time;
    }

    /// <summary>perf's FINISHED_ROUND: everything before it may be sorted and flushed by a reader.</summary>
    public void WriteFinishedRound()
    {
        Span<byte> r = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(r, PerfFormat.RecordFinishedRound);
        BinaryPrimitives.WriteUInt16LittleEndian(r[6..], 8);
        _stream.Write(r);
    }

    /// <summary>Writes the feature sections and the header; the file is then complete.</summary>
    public void Finish(IReadOnlyList<string> commandLine)
    {
        if (_finished) return;
        _finished = true;
        long dataEnd = _stream.Position;
        var features = new SortedDictionary<int, byte[]>
        {
            [PerfFormat.FeatBuildId] = Array.Empty<byte>(),
            [PerfFormat.FeatHostname] = PerfString(Environment.MachineName),
            [PerfFormat.FeatOsRelease] = PerfString(ReadTrimmed("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.Version.ToString()),
            [PerfFormat.FeatVersion] = PerfString("6.1.kerneldebug"),
            [PerfFormat.FeatArch] = PerfString(System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.X64 => "x86_64",
                System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
                var a => a.ToString().ToLowerInvariant(),
            }),
            [PerfFormat.FeatNrCpus] = NrCpus(),
            [PerfFormat.FeatTotalMem] = TotalMem(),
            [PerfFormat.FeatCmdline] = Cmdline(commandLine),
            [PerfFormat.FeatEventDesc] = EventDesc(),
            [PerfFormat.FeatSampleTime] = SampleTime(),
        };
        // The section table (offset, size per feature in bit order) comes first, then the contents.
        long contents = dataEnd + features.Count * 16;
        foreach (var f in features.Values)
        {
            WriteU64(contents);
            WriteU64(f.Length);
            contents += f.Length;
        }
        foreach (var f in features.Values) _stream.Write(f);

        var h = Header(dataEnd, features.Keys);
        _stream.Position = 0;
        _stream.Write(h);
        _stream.Flush(flushToDisk: true);
        Commit();
    }

    /// <summary>The file header: the attribute and data sections, and a bit for each feature section that follows the data.</summary>
    private byte[] Header(long dataEnd, IEnumerable<int> featureBits)
    {
        var h = new byte[PerfFormat.HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(h, PerfFormat.Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), PerfFormat.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), FileAttrSize + 16);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), PerfFormat.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(32), (ulong)(_attrs.Count * (FileAttrSize + 16)));
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(40), (ulong)_dataOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(48), (ulong)(dataEnd - _dataOffset));
        foreach (var bit in featureBits)
        {
            int word = 72 + bit / 64 * 8;
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(h.AsSpan(word)) | (1UL << (bit % 64));
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(word), v);
        }
        return h;
    }

    /// <summary>
    /// Makes what was written so far a readable perf.data: the data is flushed, then the header is rewritten in place
    /// with the current data size and no feature sections. A recording killed with SIGKILL leaves its temporary file
    /// readable (perf report -i, Get-PerfSample) up to the last checkpoint. Only whole records are ever written, so
    /// the size always ends on a record boundary.
    /// </summary>
    public void Checkpoint()
    {
        if (_finished) return;
        _stream.Flush();
        long dataEnd = _stream.Position;
        RandomAccess.Write(_stream.SafeFileHandle, Header(dataEnd, Array.Empty<int>()), 0);
    }

    /// <summary>
    /// Puts the finished file in place: the file it replaces becomes path.old (a hard link, so the path never goes
    /// missing), then the temporary file is renamed over the path in one step.
    /// </summary>
    private void Commit()
    {
        var old = Path + ".old";
        if (new FileInfo(Path) is { Exists: true, Length: > 0 })
        {
            Interop.unlink(old);
            if (Interop.link(Path, old) < 0) File.Move(Path, old, overwrite: true);
        }
        Interop.Check(Interop.rename(TemporaryPath, Path), "rename", Path);
        _committed = true;
    }

    private static string? ReadTrimmed(string path) => Host.ControlFile.TryReadText(path, out _)?.Trim();

    /// <summary>perf's string: u32 length (NUL included, padded to 64), then the bytes.</summary>
    internal static byte[] PerfString(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        int len = (bytes.Length + 1 + 63) / 64 * 64;
        var r = new byte[4 + len];
        BinaryPrimitives.WriteUInt32LittleEndian(r, (uint)len);
        bytes.CopyTo(r, 4);
        return r;
    }

    private static byte[] NrCpus()
    {
        var r = new byte[8];
        uint online = (uint)PerfStat.OnlineCpus().Count;
        uint present = (uint)Math.Max(online, Environment.ProcessorCount);
        BinaryPrimitives.WriteUInt32LittleEndian(r, present);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(4), online);
        return r;
    }

    private static byte[] TotalMem()
    {
        ulong kb = 0;
        var line = ReadTrimmed("/proc/meminfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        if (line is not null) ulong.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.None, CultureInfo.InvariantCulture, out kb);
        var r = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(r, kb);
        return r;
    }

    private static byte[] Cmdline(IReadOnlyList<string> args)
    {
        var ms = new MemoryStream();
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)args.Count);
        ms.Write(n);
        foreach (var a in args) ms.Write(PerfString(a));
        return ms.ToArray();
    }

    private byte[] EventDesc()
    {
        var ms = new MemoryStream();
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)_attrs.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], FileAttrSize);
        ms.Write(b);
        foreach (var (attr, name, ids) in _attrs)
        {
            ms.Write(AttrBytes(attr));
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)ids.Length);
            ms.Write(b[..4]);
            ms.Write(PerfString(name));
            foreach (var id in ids) { BinaryPrimitives.WriteUInt64LittleEndian(b, id); ms.Write(b); }
        }
        return ms.ToArray();
    }

    private byte[] SampleTime()
    {
        var r = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(r, _firstSample == ulong.MaxValue ? 0 : _firstSample);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(8), _lastSample);
        return r;
    }

    /// <summary>Closes the file; an unfinished recording's temporary file is removed (the path keeps what it had).</summary>
    public void Dispose()
    {
        if (!_committed && _inode != 0 && Interop.LStatInode(TemporaryPath) == _inode) Interop.unlink(TemporaryPath);
        _inode = 0;
        _stream?.Dispose();
    }
}
