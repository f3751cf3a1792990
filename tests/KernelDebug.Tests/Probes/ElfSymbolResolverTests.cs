using System.Globalization;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Probes;
using Xunit;

namespace KernelDebug.Tests.Probes;

/// <summary>The ELF resolver against perf probe -x -D (the uprobe definition perf would write), nm and readelf.</summary>
public class ElfSymbolResolverTests
{
    private static string? Run(string program, params string[] args)
    {
        var path = ProgramLocator.Find(program);
        if (path is null) return null;
        var r = ProgramLocator.Run(path, args, TimeSpan.FromSeconds(60));
        return r is { ExitCode: 0 } ok ? ok.StdOut + ok.StdErr : null;
    }

    /// <summary>
    /// The file offsets in "p:probe_x/f /path:0x1234" lines that perf probe -x FILE -D FUNC prints (perf also offers the
    /// function's PLT stub, so there can be two).
    /// </summary>
    private static ulong[] PerfOffsets(string file, string function)
    {
        var text = Run("perf", "probe", "-x", file, "-D", function) ?? string.Empty;
        return Regex.Matches(text, @":0x([0-9a-f]+)").Select(m => ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber)).ToArray();
    }

    private static string? Libc => new[] { "/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6" }.FirstOrDefault(File.Exists);

    [Fact]
    public void SharedLibraryOffsetsAgreeWithPerfProbe()
    {
        var libc = Libc;
        if (libc is null || ProgramLocator.Find("perf") is null) return;
        var elf = KernelDebug.Symbols.ElfFile.Open(libc);
        Assert.Equal(ElfFileKind.SharedObject, elf.Kind);
        foreach (var fn in new[] { "malloc", "getenv", "open", "write" })
        {
            var perf = PerfOffsets(libc, fn);
            Assert.True(perf.Length > 0, $"perf probe -x {libc} -D {fn} gave no offset");
            Assert.Contains(elf.ResolveFileOffset(fn), perf);
        }
    }

    [Fact]
    public void StrippedPieFindsDynamicSymbolsAsPerfAndNmDo()
    {
        if (!File.Exists("/bin/bash")) return;
        var elf = KernelDebug.Symbols.ElfFile.Open("/bin/bash");
        Assert.Equal(ElfFileKind.PositionIndependentExecutable, elf.Kind);
        if (ProgramLocator.Find("perf") is not null) Assert.Contains(elf.ResolveFileOffset("readline"), PerfOffsets("/bin/bash", "readline"));
        var nm = Run("nm", "-D", "--defined-only", "/bin/bash");
        if (nm is null) return;
        // nm -D: "000000000c6c20 T readline"; T/t (text) and i (IFUNC) are functions; W may be data (data_start).
        var functions = nm.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length == 3 && p[1] is "T" or "t" or "i")
            .ToDictionary(p => p[2], p => ulong.Parse(p[0], NumberStyles.HexNumber));
        Assert.True(functions.Count > 100);
        var missing = functions.Where(f => !elf.Find(f.Key).Any(s => s.Address == f.Value)).Select(f => $"{f.Key}@0x{f.Value:x}").ToList();
        Assert.True(missing.Count == 0, "not found: " + string.Join(", ", missing.Take(10)));
    }

    [Fact]
    public void NonPieExecutableTranslatesAddressesThroughProgramHeaders()
    {
        var gcc = ProgramLocator.Find("gcc");
        if (gcc is null) return;
        var dir = Directory.CreateTempSubdirectory("kd-elf-");
        try
        {
            var src = Path.Combine(dir.FullName, "t.c");
            File.WriteAllText(src, "static int __attribute__((noinline)) helper(int x) { return x * 3; }\nint shared_fn(int x) { return helper(x) + 1; }\nint main(int c, char **v) { return shared_fn(c); }\n");
            var exe = Path.Combine(dir.FullName, "t");
            var lib = Path.Combine(dir.FullName, "libt.so");
            Assert.NotNull(Run("gcc", "-O1", "-no-pie", "-o", exe, src));
            Assert.NotNull(Run("gcc", "-O1", "-shared", "-fPIC", "-o", lib, src));
            var elf = KernelDebug.Symbols.ElfFile.Open(exe);
            {
                Assert.Equal(ElfFileKind.Executable, elf.Kind);
                Assert.True(elf.HasSymTab);
                var helper = elf.Resolve("helper");
                Assert.Equal("Local", helper.Binding);
                Assert.Equal(ElfSymbolSource.SymTab, helper.Source);
                Assert.NotEqual(helper.Address, helper.FileOffset); // linked at 0x400000, so the two differ
                Assert.Equal(helper.Address, elf.FileOffsetToVirtualAddress(helper.FileOffset));
                Assert.Equal(ReadelfOffset(exe, helper.Address), helper.FileOffset);
                if (ProgramLocator.Find("perf") is not null)
                {
                    Assert.Contains(helper.FileOffset, PerfOffsets(exe, "helper"));
                    Assert.Contains(elf.ResolveFileOffset("main"), PerfOffsets(exe, "main"));
                }
                Assert.Equal(helper.FileOffset + 1, elf.ResolveFileOffset("helper", 1));
                Assert.Equal("OffsetOutsideFunction", Assert.Throws<KernelDebug.Native.KernelDebugException>(() => elf.ResolveFileOffset("helper", 100000)).ErrorId);
                Assert.Equal("SymbolNotFound", Assert.Throws<KernelDebug.Native.KernelDebugException>(() => elf.Resolve("no_such_function")).ErrorId);
                Assert.Equal(helper, elf.SymbolAt(helper.FileOffset));
            }
            var so = KernelDebug.Symbols.ElfFile.Open(lib);
            {
                Assert.Equal(ElfFileKind.SharedObject, so.Kind);
                var s = so.Resolve("shared_fn");
                Assert.Equal(ReadelfOffset(lib, s.Address), s.FileOffset);
                if (ProgramLocator.Find("perf") is not null) Assert.Contains(s.FileOffset, PerfOffsets(lib, "shared_fn"));
            }
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void RefusesWhatIsNotAnElfFile()
    {
        Assert.Equal("NotAnElfFile", Assert.Throws<KernelDebug.Native.KernelDebugException>(() => KernelDebug.Symbols.ElfFile.Open("/etc/hostname")).ErrorId);
        Assert.Equal("ElfFileNotFound", Assert.Throws<KernelDebug.Native.KernelDebugException>(() => KernelDebug.Symbols.ElfFile.Open("/no/such/file")).ErrorId);
        var dir = Assert.Throws<KernelDebug.Native.KernelDebugException>(() => KernelDebug.Symbols.ElfFile.Open("/bin"));
        Assert.Equal(("NotAnElfFile", System.Management.Automation.ErrorCategory.InvalidArgument), (dir.ErrorId, dir.Category));
        Assert.Contains("is a directory", dir.Message);
    }

    /// <summary>One address/offset translation (ElfLoadMap) serves uprobes and perf: both agree with readelf's LOAD lines.</summary>
    [Fact]
    public void PerfSymbolsAndUprobesShareOneLoadMap()
    {
        var libc = Libc;
        if (libc is null) return;
        var elf = KernelDebug.Symbols.ElfFile.Open(libc);
        var perf = KernelDebug.Symbols.ElfFile.TryOpen(libc)!;
        foreach (var fn in new[] { "malloc", "getenv", "open", "write" })
        {
            var sym = elf.Resolve(fn);
            Assert.Equal(ReadelfOffset(libc, sym.Address), sym.FileOffset);
            Assert.Equal(sym.Address, perf.OffsetToAddress(sym.FileOffset));
            Assert.Equal(sym.Address, elf.FileOffsetToVirtualAddress(sym.FileOffset));
            Assert.NotNull(perf.Table.Find(sym.Address, out var start));
            Assert.Equal(sym.Address, start);
        }
        // An offset outside every PT_LOAD: the resolver says so; perf keeps the offset (its [unknown] path).
        Assert.Null(elf.FileOffsetToVirtualAddress(ulong.MaxValue - 1));
        Assert.Equal(ulong.MaxValue - 1, perf.OffsetToAddress(ulong.MaxValue - 1));
    }

    /// <summary>Versioned names (.gnu.version/.gnu.version_d) as nm -D prints them; a bare name picks the default version, as perf probe -x does.</summary>
    [Fact]
    public void SymbolVersionsAgreeWithNmAndPerf()
    {
        var libc = Libc;
        var nm = libc is null ? null : Run("nm", "-D", "--defined-only", libc);
        if (nm is null) return;
        var elf = KernelDebug.Symbols.ElfFile.Open(libc!);
        // "00000000000a2d70 T memcpy@GLIBC_2.2.5", "000000000009be70 i memcpy@@GLIBC_2.14"
        var versioned = nm.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length == 3 && p[1] is "T" or "i" && p[2].Contains('@')).ToList();
        Assert.True(versioned.Count > 100);
        foreach (var p in versioned)
        {
            var sym = elf.Resolve(p[2]);
            Assert.Equal(ulong.Parse(p[0], NumberStyles.HexNumber), sym.Address);
            Assert.Equal(!p[2].Contains("@@"), sym.IsHiddenVersion);
        }
        var names = versioned.GroupBy(p => p[2][..p[2].IndexOf('@')]).Where(g => g.Count() > 1 && g.Count(p => p[2].Contains("@@")) == 1).ToList();
        Assert.NotEmpty(names);
        foreach (var g in names)
            Assert.Equal(ulong.Parse(g.Single(p => p[2].Contains("@@"))[0], NumberStyles.HexNumber), elf.Resolve(g.Key).Address);
        if (ProgramLocator.Find("perf") is not null && elf.Find("memcpy").Count > 1)
            Assert.Contains(elf.ResolveFileOffset("memcpy"), PerfOffsets(libc!, "memcpy"));
        Assert.Equal("SymbolNotFound", Assert.Throws<KernelDebug.Native.KernelDebugException>(() => elf.Resolve("memcpy@GLIBC_0.0")).ErrorId);
    }

    /// <summary>GNU indirect functions are flagged as nm -D marks them ('i'), so library-call tracing needs no second reader.</summary>
    [Fact]
    public void IndirectFunctionsAgreeWithNm()
    {
        var libc = Libc;
        var nm = libc is null ? null : Run("nm", "-D", "--defined-only", libc);
        if (nm is null) return;
        var kinds = nm.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length == 3 && p[1] is "T" or "i")
            .Select(p => (Name: p[2].Split('@')[0], Address: ulong.Parse(p[0], NumberStyles.HexNumber), Indirect: p[1] == "i")).ToList();
        Assert.Contains(kinds, k => k.Indirect);
        var elf = KernelDebug.Symbols.ElfFile.Open(libc!);
        foreach (var k in kinds)
        {
            var sym = elf.Find(k.Name).FirstOrDefault(s => s.Address == k.Address);
            Assert.True(sym is not null, $"{k.Name}@0x{k.Address:x} missing");
            Assert.True(k.Indirect == sym!.IsIndirect, $"{k.Name}: nm says {(k.Indirect ? "IFUNC" : "function")}");
        }
    }

    /// <summary>Address to offset by hand from readelf -lW's LOAD lines (the independent way).</summary>
    private static ulong? ReadelfOffset(string file, ulong address)
    {
        var text = Run("readelf", "-lW", file);
        if (text is null) return address; // no oracle: do not fail on a missing tool
        foreach (var line in text.Split('\n').Where(l => l.TrimStart().StartsWith("LOAD", StringComparison.Ordinal)))
        {
            var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            ulong off = Convert.ToUInt64(p[1], 16), va = Convert.ToUInt64(p[2], 16), filesz = Convert.ToUInt64(p[4], 16);
            if (address >= va && address < va + filesz) return address - va + off;
        }
        return null;
    }
}
