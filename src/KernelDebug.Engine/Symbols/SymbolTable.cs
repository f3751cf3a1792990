using KernelDebug.Perf;

namespace KernelDebug.Symbols;

/// <summary>
/// A sorted symbol table with perf's rules: duplicates at one address resolved to the best name, zero-size symbols
/// extended to the next one, lookup by the greatest start at or below the address whose end is above it.
/// </summary>
public sealed class SymbolTable
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;
    private readonly int[] _inputs;

    public static SymbolTable Empty { get; } = new(new List<(ulong, ulong, string, int)>(), kallsyms: false);

    /// <param name="symbols">start, size, name, rank (higher wins a tie at one address: global 2, local 1, weak 0)</param>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal SymbolTable(List<(ulong Start, ulong Size, string Name, int Rank)> symbols, bool kallsyms)
    {
        // As perf: sort (stable, so file order breaks ties), extend zero-size symbols to the next start, then
        // resolve duplicates at one address to the best name.
        var sorted = new Entry[symbols.Count];
        for (int i = 0; i < sorted.Length; i++) sorted[i] = new Entry(symbols[i].Start, symbols[i].Size, symbols[i].Name, symbols[i].Rank, i);
        Entry[]? scratch = null;
        RunMergeSort.Sort(sorted.AsSpan(), ref scratch);
        var starts = new List<ulong>(sorted.Length);
        var ends = new List<ulong>(sorted.Length);
        var names = new List<string>(sorted.Length);
        var ranks = new List<int>(sorted.Length);
        var inputs = new List<int>(sorted.Length);
        for (int i = 0; i < sorted.Length; i++)
        {
            var k = sorted[i];
            ulong end = k.Start + k.Size;
            if (k.Size == 0)
            {
                if (i + 1 < sorted.Length)
                    end = kallsyms && IsModule(k.Name) != IsModule(sorted[i + 1].Name) ? RoundUp(k.Start + 4096) : sorted[i + 1].Start;
                else end = RoundUp(k.Start) + 4096;
            }
            int last = starts.Count - 1;
            if (last >= 0 && starts[last] == k.Start)
            {
                if (Better((k.Start, end, k.Name, k.Rank), (starts[last], ends[last], names[last], ranks[last])))
                {
                    ends[last] = end; names[last] = k.Name; ranks[last] = k.Rank; inputs[last] = k.Index;
                }
                continue;
            }
            starts.Add(k.Start); ends.Add(end); names.Add(k.Name); ranks.Add(k.Rank); inputs.Add(k.Index);
        }
        _starts = starts.ToArray();
        _ends = ends.ToArray();
        _names = names.ToArray();
        _inputs = inputs.ToArray();
    }

    /// <summary>A symbol in the order perf sorts them: by address, then by its place in the input.</summary>
    private readonly record struct Entry(ulong Start, ulong Size, string Name, int Rank, int Index) : IComparable<Entry>
    {
        public int CompareTo(Entry other) => Start != other.Start ? Start.CompareTo(other.Start) : Index.CompareTo(other.Index);
    }

    private static bool IsModule(string name) => name.Contains('[');

    private static ulong RoundUp(ulong v) => (v + 4095) & ~4095UL;

    // perf's choice between two symbols at one address: a sized one, then global over local over weak, then fewer leading underscores, then the longer name.
    private static bool Better((ulong Start, ulong End, string Name, int Rank) a, (ulong Start, ulong End, string Name, int Rank) b)
    {
        ulong aSize = a.End - a.Start, bSize = b.End - b.Start;
        if ((aSize == 0) != (bSize == 0)) return aSize != 0;
        if (a.Rank != b.Rank) return a.Rank > b.Rank;
        int ua = a.Name.TakeWhile(c => c == '_').Count(), ub = b.Name.TakeWhile(c => c == '_').Count();
        if (ua != ub) return ua < ub;
        return a.Name.Length > b.Name.Length;
    }

    public int Count => _names.Length;

    /// <summary>The symbol containing the address, with its start; null when none does.</summary>
    public string? Find(ulong address, out ulong start)
    {
        int i = IndexOf(address);
        start = i < 0 ? 0 : _starts[i];
        return i < 0 ? null : _names[i];
    }

    /// <summary>The place in the constructor's input of the symbol containing the address, or -1.</summary>
    internal int InputIndexOf(ulong address, out ulong start)
    {
        int i = IndexOf(address);
        start = i < 0 ? 0 : _starts[i];
        return i < 0 ? -1 : _inputs[i];
    }

    private int IndexOf(ulong address)
    {
        int lo = 0, hi = _starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_starts[mid] <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found >= 0 && address < _ends[found] ? found : -1;
    }
}
