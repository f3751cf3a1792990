using KernelDebug.Host;
using KernelDebug.Syscall.LibraryCalls;
using Xunit;

namespace KernelDebug.Tests.Syscall;

public class EntryProbePlacementTests
{
    // What arch/x86/kernel/uprobes.c emulates (branch_setup_xol_ops, push_setup_xol_ops); measured on this host's
    // kernel: 1-2 us a hit for these, 10-15 us for the single-stepped ones.
    [Theory]
    [InlineData("90")]                   // nop
    [InlineData("55")]                   // push %rbp
    [InlineData("41 54")]                // push %r12
    [InlineData("eb 10")]                // jmp rel8
    [InlineData("e9 00 01 00 00")]       // jmp rel32
    [InlineData("e8 00 01 00 00")]       // call rel32
    [InlineData("74 05")]                // je rel8
    [InlineData("0f 84 bf 00 00 00")]    // je rel32 (glibc's free+3)
    [InlineData("f2 e9 00 01 00 00")]    // bnd jmp
    public void EmulatedInstructions(string hex) => Assert.True(EntryProbePlacement.IsEmulated(Bytes(hex)));

    [Theory]
    [InlineData("f3 0f 1e fa")]          // endbr64
    [InlineData("48 85 ff")]             // test %rdi,%rdi
    [InlineData("48 83 ec 08")]          // sub $8,%rsp
    [InlineData("89 f8")]                // mov %edi,%eax
    [InlineData("41 90")]                // xchg %r8,%rax (REX.B 90 is not a nop)
    [InlineData("66 e9 00 01")]          // jmp with an operand-size prefix: refused by the kernel
    [InlineData("48 55")]                // push with REX.W: only 0x41 is emulated
    [InlineData("c3")]                   // ret
    public void SingleSteppedInstructions(string hex) => Assert.False(EntryProbePlacement.IsEmulated(Bytes(hex)));

    [Fact]
    public void StartTimeOfThisProcessMatchesDotnet()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var started = OrphanSweep.StartTime(stat);
        Assert.NotNull(started);
        var expected = System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime();
        Assert.InRange((started!.Value - expected).Duration().TotalSeconds, 0, 1.5);
    }

    [Fact]
    public void StartTimeSkipsACommWithSpacesAndParentheses()
    {
        var real = File.ReadAllText("/proc/self/stat");
        var rest = real[(real.LastIndexOf(')') + 1)..];
        Assert.Equal(OrphanSweep.StartTime(real), OrphanSweep.StartTime("123 (a) b (c)" + rest));
    }

    private static byte[] Bytes(string hex) => hex.Split(' ').Select(h => Convert.ToByte(h, 16)).ToArray();
}
