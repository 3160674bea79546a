using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The PTX rewrite that turns ILGPU's 4-byte local slots of inline-PTX operands into registers
/// (<see cref="PtxScalarLocals"/>), on PTX shaped as ILGPU writes it. Whether ptxas then keeps them in registers is
/// checked on the GPU machine (<c>ptxas -v</c>: no stack frame).</summary>
public sealed class PtxScalarLocalsTests
{
    private const string Kernel = """
        .visible .entry Kernel_Run(
        	.param .align 8 .b8 _x[16]
        )
        {
        	.local .align 4 .b8 __local_depot0[4];
        	.local .align 4 .b8 __local_depot1[4];
        	.local .align 4 .b8 __local_depot2[4];

        	.reg .pred	%p<2>;
        	.reg .b32	%r<9>;
        	.reg .b64	%rd<9>;
        	.reg .f32	%f<9>;

        	mov.b64	%rd1, __local_depot0;
        	mov.b64	%rd2, __local_depot1;
        	mov.b64	%rd3, __local_depot2;
        	st.local.f32	[%rd1], 0f00000000;
        	st.local.f32	[%rd1], %f1;
        	st.local.b32	[%rd2], %r1;
        	ld.local.f32	%f2, [%rd1];
        	ld.local.b32	%r2, [%rd2];
        	mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f2, %f2, %f2, %f2}, {%r2, %r2, %r2, %r2}, {%r2, %r2}, {%f2, %f2, %f2, %f2};
        	st.local.f32	[%rd1], %f2;
        	ld.local.f32	%f3, [%rd1];
        	st.local.b32	[%rd3], %r3;
        	add.s64	%rd4, %rd3, 0;
        	ld.local.b32	%r4, [%rd3];
        	ret;
        }
        """;

    [Fact]
    public void Slots_used_only_through_loads_and_stores_become_registers_of_their_type()
    {
        string ptx = PtxScalarLocals.Promote(Kernel);

        Assert.Contains("\t.reg .f32\t%slot0;", ptx);
        Assert.Contains("\t.reg .b32\t%slot1;", ptx);
        Assert.Contains("mov.f32\t%slot0, 0f00000000;", ptx);
        Assert.Contains("mov.f32\t%slot0, %f1;", ptx);
        Assert.Contains("mov.b32\t%slot1, %r1;", ptx);
        Assert.Contains("mov.f32\t%f2, %slot0;", ptx);
        Assert.Contains("mov.b32\t%r2, %slot1;", ptx);
        Assert.Contains("mov.f32\t%f3, %slot0;", ptx);
        Assert.DoesNotContain("__local_depot0", ptx);
        Assert.DoesNotContain("__local_depot1", ptx);
        Assert.DoesNotContain("[%rd1]", ptx);
    }

    [Fact]
    public void A_slot_whose_address_is_used_otherwise_stays_in_local_memory()
    {
        string ptx = PtxScalarLocals.Promote(Kernel);

        Assert.Contains(".local .align 4 .b8 __local_depot2[4];", ptx);
        Assert.Contains("mov.b64\t%rd3, __local_depot2;", ptx);
        Assert.Contains("st.local.b32\t[%rd3], %r3;", ptx);
        Assert.Contains("ld.local.b32\t%r4, [%rd3];", ptx);
        Assert.DoesNotContain("%slot2", ptx);
    }

    [Fact]
    public void Ptx_without_local_slots_is_returned_unchanged()
    {
        const string plain = ".visible .entry K()\n{\n\t.reg .b32\t%r<2>;\n\tret;\n}\n";

        Assert.Equal(plain, PtxScalarLocals.Promote(plain));
    }
}
