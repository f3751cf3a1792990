using KernelDebug.Bpf;
using Xunit;

namespace KernelDebug.Tests.Bpf;

public class BpfDisassemblerTests
{
    // ld_imm64 of a map value (global data): the kernel's xlated dump holds the map id and the offset, as bpftool prints them.
    [Fact]
    public void MapValueLoadPrintsMapIdAndOffset()
    {
        byte[] code =
        {
            0x18, 0x21, 0, 0, 0x72, 0x0d, 0, 0,   // r1 = map value, src_reg 2, imm = map id 3442
            0, 0, 0, 0, 8, 0, 0, 0,               // second half: offset 8
            0x18, 0x11, 0, 0, 5, 0, 0, 0,         // r1 = map fd, src_reg 1, map id 5
            0, 0, 0, 0, 0, 0, 0, 0,
        };
        var insns = BpfDisassembler.Decode(code);
        Assert.Equal("(18) r1 = map[id:3442][0]+8", insns[0].Text);
        Assert.Equal("(18) r1 = map[id:5]", insns[1].Text);
    }
}
