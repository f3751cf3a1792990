namespace KernelDebug
{
    /// <summary>One instruction of an annotated symbol (perf annotate): its samples, disassembly and source line.</summary>
    public sealed class PerfAnnotatedInstruction
    {
        /// <summary>The event sampled: perf annotate annotates each event apart.</summary>
        public string Event { get; init; } = string.Empty;
        public string Dso { get; init; } = string.Empty;
        public string Symbol { get; init; } = string.Empty;
        /// <summary>The instruction's address in the DSO (objdump's and perf annotate's address column).</summary>
        public ulong Address { get; init; }
        /// <summary>The distance from the start of the symbol.</summary>
        public ulong Offset { get; init; }
        /// <summary>Samples whose instruction pointer is this instruction.</summary>
        public long Samples { get; init; }
        /// <summary>The sum of those samples' periods.</summary>
        public ulong Period { get; init; }
        /// <summary>Percent of the symbol's period at this instruction (perf annotate's default, "local period").</summary>
        public double Percent { get; init; }
        /// <summary>The symbol's samples in all (perf annotate's header count).</summary>
        public long SymbolSamples { get; init; }
        /// <summary>The disassembly in AT&amp;T syntax (x86-64), or the raw instruction word (".word 0x…") where no decoder is served (aarch64); null when the file's bytes cannot be read.</summary>
        public string? Instruction { get; init; }
        /// <summary>The instruction's bytes as hex.</summary>
        public string? Bytes { get; init; }
        /// <summary>The source file from the DWARF line table, when the binary or its debug file has one.</summary>
        public string? SourceFile { get; init; }
        public int? SourceLine { get; init; }

        public override string ToString() => $"{Percent,7:F2} : {Address:x}: {Instruction}";
    }
}
