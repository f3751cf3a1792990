using System.Globalization;
using KernelDebug.Host;
using KernelDebug.Symbols;
using Xunit;

namespace KernelDebug.Tests.Symbols;

/// <summary>The one ELF type against readelf and nm on this host's libc, and on files built here with gcc and objcopy.</summary>
public class ElfFileTests
{
    private const string Libc = "/lib/x86_64-linux-gnu/libc.so.6";

    private static string? Run(string program, params string[] args)
    {
        var path = ProgramLocator.Find(program);
        if (path is null) return null;
        var r = ProgramLocator.Run(path, args, TimeSpan.FromSeconds(60));
        return r is { ExitCode: 0 } ok ? ok.StdOut : null;
    }

    /// <summary>readelf -Ws --dyn-syms: every defined FUNC and IFUNC with its version (@ hidden, @@ default), address and kind.</summary>
    [Fact]
    public void DynamicSymbolsVersionsAndIfuncsAgreeWithReadelf()
    {
        if (!File.Exists(Libc)) return;
        var text = Run("readelf", "-W", "--dyn-syms", Libc);
        Assert.NotNull(text);
        var expected = new HashSet<(string, string?, bool, ulong, bool)>();
        foreach (var line in text!.Split('\n'))
        {
            var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (p.Length < 8 || !p[0].EndsWith(':') || p[3] is not ("FUNC" or "IFUNC") || p[6] == "UND") continue;
            ulong value = ulong.Parse(p[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (value == 0) continue;
            var full = p[7];
            int at = full.IndexOf('@', StringComparison.Ordinal);
            string name = at < 0 ? full : full[..at];
            string? version = at < 0 ? null : full[at..].TrimStart('@');
            expected.Add((name, version, at >= 0 && !full.Contains("@@", StringComparison.Ordinal), value, p[3] == "IFUNC"));
        }
        Assert.True(expected.Count > 1000);
        Assert.Contains(expected, e => e.Item5); // libc has IFUNCs (memcpy, strlen)
        var elf = ElfFile.Open(Libc);
        var actual = elf.Symbols.Where(s => s.Source == ElfSymbolSource.DynSym)
            .Select(s => (s.Name, s.Version, s.IsHiddenVersion, s.Address, s.IsIndirect)).ToHashSet();
        Assert.Empty(expected.Except(actual).Take(10));
        Assert.Empty(actual.Except(expected).Take(10));
        var memcpy = elf.Resolve("memcpy");
        Assert.True(memcpy.IsIndirect);
        Assert.Equal("GLIBC_2.14", memcpy.Version);
        Assert.False(memcpy.IsHiddenVersion);
        Assert.Equal(elf.Resolve("memcpy@GLIBC_2.2.5").Version, "GLIBC_2.2.5");
    }

    /// <summary>nm -D marks IFUNCs 'i': the same set.</summary>
    [Fact]
    public void IfuncsAgreeWithNm()
    {
        if (!File.Exists(Libc)) return;
        var nm = Run("nm", "-D", "--defined-only", Libc);
        Assert.NotNull(nm);
        var ifuncs = nm!.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length == 3 && p[1] == "i")
            .Select(p => ulong.Parse(p[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToHashSet();
        Assert.NotEmpty(ifuncs);
        Assert.Equal(ifuncs.Order(), ElfFile.Open(Libc).Symbols.Where(s => s.IsIndirect).Select(s => s.Address).ToHashSet().Order());
    }

    /// <summary>Build-id as readelf -n prints it; the debug link as objdump shows the section; the load map as readelf -lW's LOAD lines.</summary>
    [Fact]
    public void BuildIdDebugLinkAndLoadMapAgreeWithReadelf()
    {
        if (!File.Exists(Libc)) return;
        var elf = ElfFile.Open(Libc);
        var notes = Run("readelf", "-n", Libc);
        var id = notes!.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("Build ID:", StringComparison.Ordinal))["Build ID:".Length..].Trim();
        Assert.Equal(id, elf.BuildId);
        var dump = Run("readelf", "-W", "--string-dump=.gnu_debuglink", Libc);
        if (dump is not null && dump.Contains("[", StringComparison.Ordinal))
            Assert.Contains(elf.DebugLink!, dump, StringComparison.Ordinal);
        var loads = Run("readelf", "-lW", Libc)!.Split('\n').Where(l => l.TrimStart().StartsWith("LOAD", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.NotEmpty(loads);
        foreach (var p in loads)
        {
            ulong off = Convert.ToUInt64(p[1], 16), va = Convert.ToUInt64(p[2], 16), filesz = Convert.ToUInt64(p[4], 16);
            if (filesz == 0) continue;
            Assert.Equal(off, elf.VirtualAddressToFileOffset(va));
            Assert.Equal(va + filesz - 1, elf.FileOffsetToVirtualAddress(off + filesz - 1));
            Assert.Equal(p.Skip(6).SkipLast(1).Contains("E") || p[6].Contains('E', StringComparison.Ordinal), elf.IsExecutableOffset(off)); // flags "R E" or "RWE"
        }
    }

    /// <summary>
    /// A stripped binary whose .symtab is in a detached file named by .gnu_debuglink (objcopy --add-gnu-debuglink):
    /// the address table comes from &lt;dir&gt;/.debug/&lt;link&gt; when the CRC matches, and never from a file whose CRC does not.
    /// </summary>
    [Fact]
    public void DebugLinkIsFollowedOnlyWithTheRightCrc()
    {
        if (ProgramLocator.Find("gcc") is null || ProgramLocator.Find("objcopy") is null) return;
        var dir = Directory.CreateTempSubdirectory("kd-dbglink-");
        try
        {
            var src = Path.Combine(dir.FullName, "t.c");
            File.WriteAllText(src, "static int __attribute__((noinline)) hidden_helper(int x) { return x * 7; }\nint main(int c, char **v) { return hidden_helper(c); }\n");
            var exe = Path.Combine(dir.FullName, "t");
            Assert.NotNull(Run("gcc", "-O1", "-g", "-Wl,--build-id=none", "-o", exe, src));
            Directory.CreateDirectory(Path.Combine(dir.FullName, ".debug"));
            var debug = Path.Combine(dir.FullName, ".debug", "t.debug");
            Assert.NotNull(Run("objcopy", "--only-keep-debug", exe, debug));
            Assert.NotNull(Run("objcopy", "--strip-all", exe));
            Assert.NotNull(Run("objcopy", "--add-gnu-debuglink=" + debug, exe));
            var helperAddress = ElfFile.Open(debug).SymbolValue("hidden_helper");
            Assert.NotNull(helperAddress);

            var elf = ElfFile.Open(exe);
            Assert.False(elf.HasSymTab);
            Assert.Null(elf.BuildId);
            Assert.Equal("t.debug", elf.DebugLink);
            Assert.Equal(ElfFile.FileCrc32(debug), elf.DebugLinkCrc);
            Assert.Equal("hidden_helper", elf.Table.Find(helperAddress!.Value, out var start));
            Assert.Equal(helperAddress, start);
            Assert.Equal(Path.GetFullPath(debug), elf.SymbolSource);

            // The same debug file changed by one byte at its end: its CRC no longer matches, so it is not used.
            var bytes = File.ReadAllBytes(debug);
            bytes[^1] ^= 0xff;
            File.WriteAllBytes(debug, bytes);
            var again = ElfFile.Open(exe);
            Assert.Null(again.Table.Find(helperAddress.Value, out _));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void CacheKeepsOneInstancePerFileVersion()
    {
        if (!File.Exists(Libc)) return;
        Assert.Same(ElfFile.Open(Libc), ElfFile.TryOpen(Libc));
        Assert.Null(ElfFile.TryOpen("/etc/hostname"));
        Assert.Null(ElfFile.TryOpen("/no/such/file"));
    }
}
