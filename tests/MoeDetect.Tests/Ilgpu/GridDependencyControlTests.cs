using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The PTX rewrite that makes each kernel wait for the grids it depends on (<see cref="GridDependencyControl"/>),
/// on PTX shaped as ILGPU writes it. That ptxas takes it and that graphs with programmatic edges give the same outputs
/// is checked on the GPU machine (<c>ilgpu-bench</c>'s accuracy step).</summary>
public sealed class GridDependencyControlTests
{
    private const string Header = ".version 8.3\n.target sm_90\n.address_size 64\n\n";

    private const string Entry = """
        .visible .entry Kernel_Run(
        	.param .align 4 .b8 _n[4]
        )
        {
        	.local .align 4 .b8 __local_depot0[4];
        	.shared .align 4 .b8 __shared_alloca0[256];

        	.reg .pred	%p<2>;
        	.reg .b32	%r<9>;

        	mov.u32	%r1, %tid.x;
        	setp.ge.s32	%p1, %r1, 4;
        	@%p1 bra	$L_exit;
        	ret;
        $L_exit:
        	ret;
        }

        """;

    [Fact]
    public void The_wait_comes_after_the_declarations_and_before_the_first_instruction()
    {
        string ptx = GridDependencyControl.Insert(Header + Entry);

        int wait = ptx.IndexOf("griddepcontrol.wait;", StringComparison.Ordinal);
        Assert.True(wait > ptx.IndexOf(".reg .b32\t%r<9>;", StringComparison.Ordinal));
        Assert.True(wait < ptx.IndexOf("mov.u32\t%r1, %tid.x;", StringComparison.Ordinal));
        Assert.DoesNotContain("griddepcontrol.launch_dependents", ptx); // dependents are released as groups end
        Assert.Equal(Header + Entry, ptx.Replace(GridDependencyControl.Instructions, ""));
    }

    [Fact]
    public void Every_entry_of_a_module_gets_the_wait_once()
    {
        string ptx = GridDependencyControl.Insert(Header + Entry + Entry.Replace("Kernel_Run", "Kernel_Other"));

        Assert.Equal(2, ptx.Split("griddepcontrol.wait;").Length - 1);
    }

    [Fact]
    public void An_sm_80_target_is_raised_to_sm_90_and_a_later_one_kept()
    {
        Assert.Contains("\n.target sm_90\n", GridDependencyControl.Insert(".version 8.5\n.target sm_80\n" + Entry));
        Assert.Contains("\n.target sm_100\n", GridDependencyControl.Insert(".version 8.7\n.target sm_100\n" + Entry));
    }

    [Theory]
    [InlineData(".version 8.3\n.target sm_90\n", 90, true)]
    [InlineData(".version 8.5\n.target sm_80\n", 90, true)] // ILGPU 1.5.3's PTX on the H100
    [InlineData(".version 7.8\n.target sm_80\n", 100, true)]
    [InlineData(".version 7.7\n.target sm_80\n", 90, false)]
    [InlineData(".version 8.5\n.target sm_80\n", 89, false)]
    [InlineData(".version 8.5\n.target sm_80\n", 80, false)]
    [InlineData(".target sm_80\n", 90, false)]
    public void Only_sm_90_devices_and_PTX_7_8_or_later_take_it(string header, int deviceSm, bool supported) =>
        Assert.Equal(supported, GridDependencyControl.Supports(header + Entry, deviceSm));
}
