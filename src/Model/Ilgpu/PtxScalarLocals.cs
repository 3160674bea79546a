using System.Text.RegularExpressions;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Rewrites ILGPU's PTX so that the 4-byte local variables behind inline-PTX operands
/// (<c>CudaAsm.Emit</c>'s output, <c>CudaAsm.EmitRef</c>'s operands) are registers. ILGPU gives each such operand its own
/// <c>.local</c> slot and moves the value through it around the instruction; ptxas turns those slots back into
/// registers at ILGPU's O2 but, at the default O1, kept all 176 of the tensor-core GEMM's in memory (704 of its 736
/// bytes of stack a thread, with 255 registers; 4× slower than the SIMT GEMM on the H100). A slot is rewritten only where its address
/// register is used for nothing but whole loads and stores of one 32-bit type; any other slot stays as it was.</summary>
internal static partial class PtxScalarLocals
{
    public static string Promote(string ptx)
    {
        var addresses = new Dictionary<string, string>(); // address register → slot
        foreach (Match m in SlotAddress().Matches(ptx)) addresses[m.Groups["reg"].Value] = m.Groups["slot"].Value;
        var types = new Dictionary<string, string?>(); // address register → the one type it is accessed as; null: mixed
        var accesses = new Dictionary<string, int>();
        foreach (Match m in Access().Matches(ptx))
        {
            string reg = m.Groups["reg"].Value, type = m.Groups["type"].Value;
            if (!addresses.ContainsKey(reg)) continue;
            types[reg] = types.TryGetValue(reg, out var seen) && seen != type ? null : type;
            accesses[reg] = accesses.GetValueOrDefault(reg) + 1;
        }
        // Every use of a promoted address register is a whole load or store through it (no copy of the address escapes):
        // its mentions are its accesses and its definition.
        var mentions = Register().Matches(ptx).CountBy(m => m.Value).ToDictionary();
        var promoted = addresses.Keys.Where(reg => types.GetValueOrDefault(reg) is not null
            && mentions.GetValueOrDefault(reg) == accesses.GetValueOrDefault(reg) + 1).ToHashSet();
        if (promoted.Count == 0) return ptx;
        string Name(string reg) => "%" + addresses[reg].Replace("__local_depot", "slot");
        ptx = Access().Replace(ptx, m =>
        {
            string reg = m.Groups["reg"].Value;
            if (!promoted.Contains(reg)) return m.Value;
            string type = m.Groups["type"].Value;
            return m.Groups["op"].Value == "st"
                ? $"mov.{type}\t{Name(reg)}, {m.Groups["value"].Value};"
                : $"mov.{type}\t{m.Groups["value"].Value}, {Name(reg)};";
        });
        ptx = SlotAddress().Replace(ptx, m => promoted.Contains(m.Groups["reg"].Value) ? "" : m.Value);
        var slots = promoted.Select(reg => addresses[reg]).ToHashSet();
        ptx = SlotDeclaration().Replace(ptx, m => slots.Contains(m.Groups["slot"].Value) ? "" : m.Value);
        // Declared where ILGPU declares its own registers, before the first instruction.
        string declarations = string.Concat(promoted.Select(reg => $"\t.reg .{types[reg]}\t{Name(reg)};\n"));
        int at = ptx.IndexOf("\t.reg ", StringComparison.Ordinal);
        return at < 0 ? throw new InvalidOperationException("PTX without register declarations") : ptx.Insert(at, declarations);
    }

    [GeneratedRegex(@"^\s*\.local \.align 4 \.b8 (?<slot>__local_depot\d+)\[4\];\n", RegexOptions.Multiline)]
    private static partial Regex SlotDeclaration();

    [GeneratedRegex(@"^\s*mov\.b64\s+(?<reg>%rd\d+), (?<slot>__local_depot\d+);\n", RegexOptions.Multiline)]
    private static partial Regex SlotAddress();

    [GeneratedRegex(@"%rd\d+\b")]
    private static partial Regex Register();

    // st.local.T [%rdN], value;  |  ld.local.T value, [%rdN];
    [GeneratedRegex(@"(?<op>st)\.local\.(?<type>[bfsu]32)\s+\[(?<reg>%rd\d+)\],\s*(?<value>[^;]+);|(?<op>ld)\.local\.(?<type>[bfsu]32)\s+(?<value>%\w+),\s*\[(?<reg>%rd\d+)\];")]
    private static partial Regex Access();
}
