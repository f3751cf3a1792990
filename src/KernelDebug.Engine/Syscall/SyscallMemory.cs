namespace KernelDebug.Syscall;

/// <summary>
/// Where the decoder reads a tracee's memory from: the stopped tracee itself (ptrace engine, <see cref="TraceeMemory"/>)
/// or the bytes the BPF engine captured in the kernel (<see cref="CapturedMemory"/>). Both engines share the decoder.
/// </summary>
public interface ISyscallMemory
{
    /// <summary>Reads up to buffer.Length bytes at address; returns how many were readable (0 for a bad pointer).</summary>
    int Read(int tid, ulong address, Span<byte> buffer);
}

/// <summary>Strings and words on top of <see cref="ISyscallMemory.Read"/>, the same for every memory source.</summary>
public static class SyscallMemoryExtensions
{
    /// <summary>A NUL-terminated string of at most max bytes; Truncated when no NUL was found within max.</summary>
    public static (byte[] Bytes, bool Truncated)? ReadCString(this ISyscallMemory memory, int tid, ulong address, int max)
    {
        if (address == 0) return null;
        var result = new List<byte>(Math.Min(max, 256));
        var chunk = new byte[256];
        while (result.Count < max)
        {
            ulong at = address + (ulong)result.Count;
            int want = (int)Math.Min((ulong)Math.Min(chunk.Length, max - result.Count), 4096 - (at & 4095));
            int n = memory.Read(tid, at, chunk.AsSpan(0, want));
            if (n <= 0) return result.Count == 0 ? null : (result.ToArray(), false);
            int nul = Array.IndexOf(chunk, (byte)0, 0, n);
            if (nul >= 0) { result.AddRange(chunk.AsSpan(0, nul).ToArray()); return (result.ToArray(), false); }
            result.AddRange(chunk.AsSpan(0, n).ToArray());
        }
        // Exactly max bytes: truncated only if the next byte is not the terminator.
        Span<byte> next = stackalloc byte[1];
        bool truncated = memory.Read(tid, address + (ulong)max, next) == 1 && next[0] != 0;
        return (result.ToArray(), truncated);
    }

    public static ulong? ReadWord(this ISyscallMemory memory, int tid, ulong address)
    {
        Span<byte> b = stackalloc byte[8];
        return memory.Read(tid, address, b) == 8 ? BitConverter.ToUInt64(b) : null;
    }
}

/// <summary>
/// User memory the BPF engine captured in the kernel: regions (address, bytes) taken at the call's entry and at its
/// exit. Reads see the regions of the current phase first (entry arguments were read before the call changed them),
/// then the others; anything not captured reads as unreadable, which the decoder shows as an address.
/// </summary>
public sealed class CapturedMemory : ISyscallMemory
{
    private readonly List<(ulong Address, int Offset, int Length, bool Exit)> _regions = new();
    private byte[] _data = Array.Empty<byte>();

    /// <summary>True while the exit arguments are decoded.</summary>
    public bool ExitPhase { get; set; }

    public int RegionCount => _regions.Count;

    /// <summary>Forgets the previous call's regions; data backs the ones added next (it is not copied).</summary>
    public void Reset(byte[] data)
    {
        _regions.Clear();
        _data = data;
        ExitPhase = false;
    }

    public void Add(ulong address, int offset, int length, bool exit) => _regions.Add((address, offset, length, exit));

    public int Read(int tid, ulong address, Span<byte> buffer)
    {
        if (address == 0 || buffer.Length == 0) return 0;
        int best = 0;
        for (int pass = 0; pass < 2 && best == 0; pass++)
        {
            bool phase = pass == 0 ? ExitPhase : !ExitPhase;
            foreach (var r in _regions)
            {
                if (r.Exit != phase || address < r.Address || address >= r.Address + (ulong)r.Length) continue;
                int skip = (int)(address - r.Address);
                int n = Math.Min(buffer.Length, r.Length - skip);
                if (n <= best) continue;
                _data.AsSpan(r.Offset + skip, n).CopyTo(buffer);
                best = n;
            }
        }
        return best;
    }
}
