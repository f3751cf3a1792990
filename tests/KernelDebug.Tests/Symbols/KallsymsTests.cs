using System.Globalization;
using KernelDebug.Symbols;
using Xunit;

namespace KernelDebug.Tests.Symbols;

/// <summary>The one kallsyms model: against this host's /proc/kallsyms and /proc/modules read line by line here.</summary>
public class KallsymsTests
{
    [Fact]
    public void ReadsEveryLineOfThisHostsKallsyms()
    {
        var lines = File.ReadAllLines("/proc/kallsyms");
        var k = Kallsyms.Load("/proc/kallsyms");
        Assert.Equal(lines.Length, k.Count);
        var text = lines.Select(l => l.Split(' ', 3)).Where(p => p[1] is "t" or "T").Select(p => p[2].Split('\t')[0]).ToList();
        Assert.Equal(text, k.TextSymbolNames());
        Assert.True(k.HasTextSymbols);
        // Counts by name: ambiguous names (several static functions) as kprobes see them.
        foreach (var g in text.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Take(20))
            Assert.Equal(g.Count(), k.TextSymbolCount(g.Key));
        Assert.Equal(0, k.TextSymbolCount("no_such_kernel_function_kd"));
        // Every loaded module that has symbols is named, with the name /proc/modules gives it.
        var withSymbols = lines.Where(l => l.Contains('\t', StringComparison.Ordinal)).Select(l => l.Split('\t')[1].Trim('[', ']')).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(withSymbols.Order(StringComparer.Ordinal), k.Modules.Order(StringComparer.Ordinal));
        var loaded = File.Exists("/proc/modules") ? File.ReadAllLines("/proc/modules") : Array.Empty<string>(); // a kernel without modules has none
        foreach (var m in loaded.Select(l => l.Split(' ')[0]))
            if (withSymbols.Contains(m)) Assert.Contains(m, k.Modules);
        if (!k.HasAddresses) return; // kptr_restrict: nothing more to check
        // name → address and address → symbol for global text symbols named once.
        var once = lines.Select(l => l.Split(' ', 3)).Where(p => p[1] == "T" && !p[2].Contains('\t', StringComparison.Ordinal))
            .GroupBy(p => p[2]).Where(g => g.Count() == 1).Select(g => g.Single()).Take(500).ToList();
        Assert.NotEmpty(once);
        foreach (var p in once)
        {
            ulong a = ulong.Parse(p[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.Equal(a, k.AddressOf(p[2]));
            Assert.Equal(a, k.Find(a)?.Address);
            Assert.Equal(p[2][0] == '_' ? k.Find(a)!.Value.Address : a, k.Find(a)!.Value.Address);
            Assert.StartsWith(k.NameAt(a)!, k.Describe(a), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ParsesTypesModulesAndShortAddresses()
    {
        var k = Kallsyms.Parse("80008000 T _text\n80008100 t local_fn\n80010000 D some_data\n7f000000 t mod_fn\t[snd]\n0000000000000000 A hidden\nbroken\n"u8);
        Assert.Equal(5, k.Count);
        Assert.True(k.HasAddresses);
        Assert.Equal(new KernelSymbol("local_fn", null, 0x80008100, 't'), k.Find(0x80008110));
        Assert.Equal(new KernelSymbol("mod_fn", "snd", 0x7f000000, 't'), k.Find(0x7f000010));
        Assert.Equal("some_data", k.Find(0x80010004)?.Name);
        Assert.Equal(0x80008000UL, k.AddressOf("_text"));
        Assert.Null(k.AddressOf("hidden"));
        Assert.Equal("local_fn+0x10", k.Describe(0x80008110));
        Assert.Equal(new[] { "snd" }, k.Modules);
        Assert.True(k.AnyNameStartsWith("mod_"));
        Assert.False(k.AnyNameStartsWith("nothing_"));
    }

    [Fact]
    public void HiddenAddressesKeepTheNames()
    {
        var k = Kallsyms.Parse("0000000000000000 T _text\n0000000000000000 t vfs_read\n0000000000000000 t vfs_read\n"u8);
        Assert.False(k.HasAddresses);
        Assert.False(k.Available);
        Assert.Equal(2, k.TextSymbolCount("vfs_read"));
        Assert.Null(k.Find(0x1000));
        Assert.Null(k.AddressOf("_text"));
    }

    [Fact]
    public void CurrentIsReadOnceWhileBootAndModulesStay()
    {
        Kallsyms.Forget();
        var a = Kallsyms.Current;
        Assert.Same(a, Kallsyms.Current);
        Kallsyms.Forget();
        Assert.NotSame(a, Kallsyms.Current);
    }
}
