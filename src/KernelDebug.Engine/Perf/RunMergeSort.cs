using System.Runtime.CompilerServices;

namespace KernelDebug.Perf;

/// <summary>
/// A stable merge sort of the sorted runs already in its input: perf.data rounds hold one time-ordered run per CPU
/// buffer, and kallsyms and most symbol tables are nearly sorted, so this is linear on them where a quicksort is not.
/// </summary>
internal static class RunMergeSort
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sort<T>(Span<T> items, ref T[]? scratch) where T : IComparable<T>
    {
        int n = items.Length;
        if (n < 2) return;
        // The run boundaries: runEnds[i] is where run i ends.
        var runEnds = new List<int>();
        for (int i = 1; i < n; i++)
            if (items[i].CompareTo(items[i - 1]) < 0) runEnds.Add(i);
        if (runEnds.Count == 0) return;
        runEnds.Add(n);
        if (scratch is null || scratch.Length < n) scratch = new T[Math.Max(n, 16)];
        var tmp = scratch.AsSpan(0, n);
        // Merge neighbouring runs pairwise until one is left (log2 of the run count passes).
        while (runEnds.Count > 1)
        {
            int start = 0, w = 0;
            for (int r = 0; r < runEnds.Count; r += 2)
            {
                if (r + 1 == runEnds.Count) { runEnds[w++] = runEnds[r]; break; }
                int mid = runEnds[r], end = runEnds[r + 1];
                Merge(items, start, mid, end, tmp);
                runEnds[w++] = end;
                start = end;
            }
            runEnds.RemoveRange(w, runEnds.Count - w);
        }
    }

    private static void Merge<T>(Span<T> items, int start, int mid, int end, Span<T> tmp) where T : IComparable<T>
    {
        items[start..mid].CopyTo(tmp[start..mid]);
        int i = start, j = mid, k = start;
        while (i < mid && j < end)
            items[k++] = items[j].CompareTo(tmp[i]) < 0 ? items[j++] : tmp[i++]; // ties take the left run: stable
        while (i < mid) items[k++] = tmp[i++];
    }
}
