namespace KernelDebug.Probes;

/// <summary>
/// The kernel's number parsing rules (kstrtoul, kstrtol, simple_strtoul with base 0), so that our verdict on a
/// definition agrees with the kernel's: "0x" hex, a leading "0" octal, one trailing newline, overflow rejected.
/// </summary>
public static class KernelNumber
{
    /// <summary>kstrtoul/kstrtoull: unsigned, optional leading '+', base 0 = auto (0x hex, 0 octal, else decimal).</summary>
    public static bool TryParseUnsigned(string s, int numberBase, out ulong value)
    {
        value = 0;
        int i = 0;
        if (i < s.Length && s[i] == '+') i++;
        int b = FixupRadix(s, ref i, numberBase);
        int start = i;
        ulong acc = 0;
        for (; i < s.Length; i++)
        {
            int d = DigitValue(s[i]);
            if (d < 0 || d >= b) break;
            if (acc > (ulong.MaxValue - (ulong)d) / (ulong)b) return false; // ERANGE
            acc = acc * (ulong)b + (ulong)d;
        }
        if (i == start) return false;
        if (i < s.Length && s[i] == '\n') i++;
        if (i != s.Length) return false;
        value = acc;
        return true;
    }

    /// <summary>kstrtol/kstrtoll: a leading '-' negates; the magnitude must fit a signed 64-bit value.</summary>
    public static bool TryParseSigned(string s, int numberBase, out long value)
    {
        value = 0;
        if (s.Length > 0 && s[0] == '-')
        {
            if (!TryParseUnsigned(s[1..], numberBase, out var m) || s.Length > 1 && s[1] == '+') return false;
            if (m > (ulong)long.MaxValue + 1) return false;
            value = unchecked(-(long)m);
            return true;
        }
        if (!TryParseUnsigned(s, numberBase, out var u) || u > long.MaxValue) return false;
        value = (long)u;
        return true;
    }

    /// <summary>kstrtouint: as TryParseUnsigned, limited to 32 bits.</summary>
    public static bool TryParseUInt32(string s, int numberBase, out uint value)
    {
        value = 0;
        if (!TryParseUnsigned(s, numberBase, out var v) || v > uint.MaxValue) return false;
        value = (uint)v;
        return true;
    }

    /// <summary>simple_strtoul: parses what it can and says where it stopped (never fails).</summary>
    public static ulong SimpleParse(string s, int start, int numberBase, out int end)
    {
        int i = start;
        int b = FixupRadix(s, ref i, numberBase);
        ulong acc = 0;
        for (; i < s.Length; i++)
        {
            int d = DigitValue(s[i]);
            if (d < 0 || d >= b) break;
            acc = unchecked(acc * (ulong)b + (ulong)d);
        }
        end = i;
        return acc;
    }

    private static int FixupRadix(string s, ref int i, int numberBase)
    {
        if (numberBase == 0)
        {
            if (i < s.Length && s[i] == '0')
            {
                if (i + 2 < s.Length && char.ToLowerInvariant(s[i + 1]) == 'x' && Uri.IsHexDigit(s[i + 2])) { i += 2; return 16; }
                return 8;
            }
            return 10;
        }
        if (numberBase == 16 && i + 1 < s.Length && s[i] == '0' && char.ToLowerInvariant(s[i + 1]) == 'x') i += 2;
        return numberBase;
    }

    private static int DigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
