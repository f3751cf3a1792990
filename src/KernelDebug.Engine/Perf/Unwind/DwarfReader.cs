using System.Buffers.Binary;

namespace KernelDebug.Perf.Unwind;

/// <summary>A cursor over DWARF bytes (little-endian): fixed-size values, LEB128 and DW_EH_PE-encoded pointers. Reading past the end throws <see cref="CfiException"/>.</summary>
internal ref struct DwarfReader
{
    private readonly ReadOnlySpan<byte> _data;

    public DwarfReader(ReadOnlySpan<byte> data, int position)
    {
        _data = data;
        Position = position;
    }

    public int Position;

    public readonly bool AtEnd(int end) => Position >= end;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || Position < 0 || Position > _data.Length - n) throw new CfiException("read past the end of the section");
        var s = _data.Slice(Position, n);
        Position += n;
        return s;
    }

    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public ulong Uleb()
    {
        ulong result = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = U8();
            if (shift < 64) result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }

    public long Sleb()
    {
        long result = 0;
        int shift = 0;
        byte b;
        do
        {
            b = U8();
            if (shift < 64) result |= (long)(b & 0x7f) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);
        if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
        return result;
    }

    public string CString()
    {
        int start = Position;
        while (U8() != 0) { }
        return System.Text.Encoding.ASCII.GetString(_data.Slice(start, Position - start - 1));
    }

    public void Skip(int n) => Take(n);

    /// <summary>
    /// A pointer in DW_EH_PE encoding. sectionAddress is the link-time address of the section's first byte (for
    /// pcrel), dataBase the base of datarel (the .eh_frame_hdr's address). Indirect pointers are not followed (none
    /// in the initial location of an FDE).
    /// </summary>
    public ulong Pointer(byte encoding, ulong sectionAddress, ulong dataBase = 0)
    {
        if (encoding == 0xff) throw new CfiException("an omitted pointer was read");
        ulong fieldAddress = sectionAddress + (ulong)Position;
        ulong value = (encoding & 0x0f) switch
        {
            0x00 => U64(),
            0x01 => Uleb(),
            0x02 => U16(),
            0x03 => U32(),
            0x04 => U64(),
            0x09 => (ulong)Sleb(),
            0x0a => (ulong)(long)(short)U16(),
            0x0b => (ulong)(long)(int)U32(),
            0x0c => U64(),
            _ => throw new CfiException($"pointer encoding 0x{encoding:x2}"),
        };
        return (encoding & 0x70) switch
        {
            0x00 => value,
            0x10 => value + fieldAddress,
            0x30 => value + dataBase,
            _ => throw new CfiException($"pointer application 0x{encoding:x2}"),
        };
    }
}

/// <summary>Malformed or unsupported call frame information: the unwinding of that frame stops there.</summary>
internal sealed class CfiException : Exception
{
    public CfiException(string message) : base(message) { }
    public CfiException() { }
    public CfiException(string message, Exception inner) : base(message, inner) { }
}
