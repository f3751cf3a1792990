using System.Diagnostics;
using System.Runtime.InteropServices;
using KernelDebug.Native;
using KernelDebug.Perf;
using KernelDebug.Probes;
using KernelDebug.Syscall.LibraryCalls;
using Xunit;
using Xunit.Abstractions;

namespace KernelDebug.Tests.Probes;

/// <summary>
/// Seeded fuzzing of the module's ELF readers (uprobe placement, library-call entry placement, perf symbolization)
/// with mutated copies of real ELF files: only KernelDebugException may come out, the symbolizer never throws, and
/// every file offset given out lies inside the file.
/// </summary>
public class ElfFuzzTests
{
    private readonly ITestOutputHelper _output;

    public ElfFuzzTests(ITestOutputHelper output) => _output = output;

    private const int Seed = 14, CasesPerFile = 150;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private static readonly string[] Seeds =
    {
        "/bin/true", "/usr/bin/true",
        "/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6",
    };

    [Fact]
    public void MutatedElfFilesGiveOnlyKernelDebugException()
    {
        var seeds = Seeds.Where(File.Exists).Select(p => new FileInfo(p).ResolveLinkTarget(true)?.FullName ?? p).Distinct().ToList();
        Assert.NotEmpty(seeds);
        var dir = Directory.CreateTempSubdirectory("kerneldebug_elffuzz_");
        var clock = Stopwatch.StartNew();
        var random = new Random(Seed);
        int tried = 0, clean = 0, refused = 0;
        var failures = new List<string>();
        try
        {
            foreach (var seed in seeds)
            {
                var original = File.ReadAllBytes(seed);
                for (int i = 0; i < CasesPerFile && clock.Elapsed < Budget; i++)
                {
                    var bytes = Mutate(original, random);
                    var path = Path.Combine(dir.FullName, $"case{tried}.elf");
                    File.WriteAllBytes(path, bytes);
                    tried++;
                    try
                    {
                        if (Exercise(path, bytes.Length)) clean++;
                        else refused++;
                    }
                    catch (Exception e)
                    {
                        failures.Add($"{Path.GetFileName(seed)} case {i}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                    }
                    File.Delete(path);
                }
            }
        }
        finally { dir.Delete(recursive: true); }
        _output.WriteLine($"ELF fuzz: tried {tried}, parsed {clean}, refused cleanly {refused}, raw exceptions {failures.Count} in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(tried >= 100, $"only {tried} cases ran in the time budget");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>True when the file was read; false when it was refused with a KernelDebugException. Anything else escapes.</summary>
    private static bool Exercise(string path, long length)
    {
        // perf symbolization: never throws, whatever the file.
        if (KernelDebug.Symbols.ElfFile.TryOpen(path) is { } symbols)
        {
            _ = symbols.Table.Find(0x1000, out _);
            _ = symbols.OffsetToAddress(0x1000);
        }
        try
        {
            var elf = KernelDebug.Symbols.ElfFile.Open(path);
            foreach (var s in elf.Symbols)
                if (s.FileOffset >= (ulong)length) throw new InvalidDataException($"{s.Name} resolved to file offset 0x{s.FileOffset:x} beyond the {length}-byte file");
            var some = elf.Symbols.Take(4).ToList();
            foreach (var s in some)
            {
                ulong offset = elf.ResolveFileOffset(s.Name + (s.Version is null ? "" : (s.IsHiddenVersion ? "@" : "@@") + s.Version));
                if (offset >= (ulong)length) throw new InvalidDataException($"{s.Name} resolved to file offset 0x{offset:x} beyond the {length}-byte file");
                _ = elf.IsExecutableOffset(offset);
            }
            foreach (var p in EntryProbePlacement.Choose(elf, some, Architecture.X64))
                if (p.FileOffset >= (ulong)length) throw new InvalidDataException($"a probe placed at file offset 0x{p.FileOffset:x} beyond the {length}-byte file");
            return true;
        }
        catch (KernelDebugException) { return false; }
    }

    /// <summary>One to eight changes, most of them where the ELF reader looks: the headers and the section table at the end.</summary>
    private static byte[] Mutate(byte[] original, Random random)
    {
        var b = (byte[])original.Clone();
        int changes = 1 + random.Next(8);
        for (int c = 0; c < changes; c++)
        {
            int region = random.Next(4);
            int at = region switch
            {
                0 => random.Next(Math.Min(64, b.Length)),                               // ELF header
                1 => random.Next(Math.Min(4096, b.Length)),                             // program headers, early sections
                2 => Math.Max(0, b.Length - 1 - random.Next(Math.Min(8192, b.Length))), // section headers, .symtab, .shstrtab
                _ => random.Next(b.Length),
            };
            switch (random.Next(4))
            {
                case 0: b[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: b[at] = (byte)random.Next(256); break;
                case 2: // a 64-bit field set to an extreme
                    var v = random.Next(3) switch { 0 => ulong.MaxValue, 1 => 0x8000000000000000UL + (ulong)random.Next(4096), _ => (ulong)random.NextInt64() };
                    for (int k = 0; k < 8 && at + k < b.Length; k++) b[at + k] = (byte)(v >> (8 * k));
                    break;
                default: // a 32-bit field
                    uint w = random.Next(2) == 0 ? uint.MaxValue : (uint)random.Next();
                    for (int k = 0; k < 4 && at + k < b.Length; k++) b[at + k] = (byte)(w >> (8 * k));
                    break;
            }
        }
        if (random.Next(10) == 0) Array.Resize(ref b, random.Next(b.Length)); // truncated
        return b;
    }
}
