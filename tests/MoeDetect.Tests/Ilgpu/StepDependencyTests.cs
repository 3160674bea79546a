using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Which launches of a plan wait for which (<see cref="StepDependencies"/>): what a CUDA graph with branches
/// keeps in order. The plans here run on the CPU accelerator in another order those waits allow (latest ready launch
/// first, intermediate memory poisoned with NaN beforehand) and must give what the plan order gives.</summary>
public sealed class StepDependencyTests(ITestOutputHelper log)
{
    private static MemoryAccess Read(long start, long end) => new(start, end, Writes: false);
    private static MemoryAccess Write(long start, long end) => new(start, end, Writes: true);

    [Fact]
    public void Readers_wait_for_writers_and_writers_for_readers_but_readers_not_for_each_other()
    {
        var dependencies = new StepDependencies([
            [Write(0, 100)],                  // 0 writes a
            [Read(0, 100), Write(100, 200)],  // 1 reads a, writes b
            [Read(0, 100), Write(200, 300)],  // 2 reads a too: beside 1
            [Write(50, 60)],                  // 3 reuses part of a: after both readers
            [Read(300, 400)],                 // 4 touches nothing anyone writes
        ]);

        Assert.Equal([[], [0], [0], [2, 1], []], dependencies.WaitsFor);
        Assert.Equal(3, dependencies.LongestChain());
    }

    [Fact]
    public void A_wait_implied_through_another_is_left_out()
    {
        var waits = new StepDependencies([
            [Write(0, 10)],
            [Read(0, 10), Write(10, 20)],
            [Read(0, 10), Read(10, 20), Write(20, 30)], // conflicts with 0 and 1; 1 already waits for 0
        ]).WaitsFor;

        Assert.Equal([[], [0], [1]], waits);
    }

    [Fact]
    public void Ranges_that_only_touch_end_to_start_do_not_conflict()
    {
        Assert.False(Write(0, 10).Conflicts(Write(10, 20)));
        Assert.True(Write(0, 11).Conflicts(Read(10, 20)));
        Assert.False(Read(0, 11).Conflicts(Read(10, 20)));
    }

    [Fact]
    public void A_freed_slot_goes_only_to_a_tensor_whose_steps_already_wait_for_its_last_tensor()
    {
        Storage input = new(16, -1), a = new(16, 0), b = new(16, 1), c = new(16, 2), d = new(16, 3);
        var reuse = new SlotReuse([
            new StepMemory([input], [a]), // 0: a from the input
            new StepMemory([a], [b]),     // 1: b from a
            new StepMemory([input], [c]), // 2: c from the input, beside 0 and 1
            new StepMemory([b], [d]),     // 3: d from b, after 1 and so after 0
        ]);

        Assert.False(reuse.MayFollow(a, c)); // c's step would have to wait for a's reader
        Assert.True(reuse.MayFollow(a, d));
        Assert.False(reuse.MayFollow(b, d)); // step 3 reads b: it does not wait for itself
    }

    [Fact]
    public void The_memory_plan_reuses_a_slot_only_where_allowed()
    {
        Storage first = new(100, 0) { LastStep = 1 }, second = new(80, 2) { LastStep = 3 };

        Assert.Single(MemoryPlan.Slots([first, second], (_, _) => true));
        Assert.Equal(2, MemoryPlan.Slots([first, second], (_, _) => false).Count);
    }

    /// <summary>Two branches off the input (one of them reads channel ranges of a Split), joined by a Concat whose inputs
    /// are written in place, then a residual and a pool: branches, placement, channel ranges and reused memory; and a
    /// second output off the input. At batch &gt; 1 the Concat's inputs lie spread through its output and are ordered as
    /// a whole; the second output still has a branch of its own.</summary>
    private static byte[] Branches() => new TinyOnnxGraph().Input("x", 8, 12, 12)
        .Random("wa", 1, 8, 8, 1, 1).Random("wb", 2, 4, 4, 3, 3).Random("wc", 3, 4, 4, 1, 1).Random("wd", 4, 16, 16, 1, 1)
        .Node("Conv", ["x", "wa"], ["a"]).Node("Relu", ["a"], ["ar"])
        .Node("Split", ["x"], ["s0", "s1"], ("axis", 1))
        .Node("Conv", ["s0", "wb"], ["b"], ("pads", new[] { 1, 1, 1, 1 })).Node("Conv", ["s1", "wc"], ["c"]).Node("Sigmoid", ["c"], ["cs"])
        .Node("Concat", ["ar", "b", "cs"], ["cat"], ("axis", 1))
        .Node("Conv", ["cat", "wd"], ["d"]).Node("Add", ["d", "cat"], ["e"])
        .Node("MaxPool", ["e"], ["y"], ("kernel_shape", new[] { 2, 2 }), ("strides", new[] { 2, 2 })).Output("y")
        .Random("wz", 5, 2, 8, 3, 3).Node("Conv", ["x", "wz"], ["z"], ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 })).Output("z").Build();

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_plan_run_in_another_order_its_waits_allow_gives_the_same_outputs(int batch)
    {
        using var cpu = new CpuPlan(Branches(), [batch, 8, 12, 12]);
        var plan = cpu.Plan;
        var input = TinyOnnxGraph.RandomValues(5, batch * 8 * 12 * 12);

        var inOrder = new[] { new float[batch * 16 * 6 * 6], new float[batch * 2 * 6 * 6] };
        plan.Run(view => view.SubView(0, input.Length).CopyFromCPU(input), [inOrder[0], inOrder[1]]);
        var order = RunInAnotherOrder(cpu);

        Assert.NotEqual(Enumerable.Range(0, order.Count), order);
        Assert.True(plan.Steps.LongestChain < plan.Steps.Launches, $"{plan.Steps.LongestChain} of {plan.Steps.Launches} launches on one chain");
        Assert.Equal(inOrder[0], plan.Outputs[0].Value.Device!.View.GetAsArray());
        Assert.Equal(inOrder[1], plan.Outputs[1].Value.Device!.View.GetAsArray());
    }

    /// <summary>The default model: its heads, the lateral branches of its upsampling path and the decoder's index
    /// arithmetic wait for none of each other, and a run in another order they allow gives the detections the plan
    /// order gives. Slow (the model on the CPU accelerator, twice): trait Category=Slow.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void The_default_model_run_in_another_order_its_waits_allow_gives_the_same_outputs()
    {
        using var cpu = new CpuPlan(File.ReadAllBytes(TestPaths.DefaultModel), [1, 512, 512, 3]);
        var plan = cpu.Plan;
        var input = TinyOnnxGraph.RandomValues(9, 512 * 512 * 3, scale: 255f).Select(Math.Abs).ToArray();
        var inOrder = plan.Outputs.Select(o => new float[o.Value.Device!.Length]).ToArray();
        plan.Run(view => view.SubView(0, input.Length).CopyFromCPU(input), inOrder.Select(a => (Memory<float>)a).ToList());

        RunInAnotherOrder(cpu);

        for (int o = 0; o < inOrder.Length; o++)
            Assert.Equal(inOrder[o], plan.Outputs[o].Value.Device!.View.GetAsArray());
    }

    [Fact]
    public void The_default_model_plan_has_branches_a_graph_runs_side_by_side()
    {
        using var cpu = new CpuPlan(File.ReadAllBytes(TestPaths.DefaultModel), [1, 512, 512, 3]);
        var plan = cpu.Plan;
        var waits = plan.Steps.Dependencies().WaitsFor;
        var steps = plan.Steps.Steps;
        log.WriteLine($"{plan.Steps.Launches} launches, {plan.Steps.LongestChain} on the longest chain of waits");

        // The box-size head does not wait for the class head, nor the class head for it.
        int classHead = Index(steps, "centernet_cls_output/BiasAdd"), sizeHead = Index(steps, "centernet_wh_output/BiasAdd");
        Assert.DoesNotContain(classHead, Ancestors(waits, sizeHead));
        Assert.DoesNotContain(sizeHead, Ancestors(waits, classHead));
        Assert.True(plan.Steps.LongestChain < plan.Steps.Launches * 0.9, $"{plan.Steps.LongestChain} of {plan.Steps.Launches}");
    }

    private static int Index(IReadOnlyList<PlanStep> steps, string node) =>
        steps.Select((s, i) => (s, i)).Single(p => p.s.Node.Contains(node) && p.s.Kind == "Conv pointwise").i;

    private static HashSet<int> Ancestors(int[][] waits, int step)
    {
        var seen = new HashSet<int>();
        var open = new Stack<int>(waits[step]);
        while (open.TryPop(out int j))
            if (seen.Add(j)) foreach (int i in waits[j]) open.Push(i);
        return seen;
    }

    /// <summary>Poisons every tensor a launch writes with NaN, then runs the launches latest ready first: each as soon as
    /// every launch it waits for has run. A missing wait reads NaN or a value overwritten too early.</summary>
    private static List<int> RunInAnotherOrder(CpuPlan cpu)
    {
        var steps = cpu.Plan.Steps.Steps;
        var waits = cpu.Plan.Steps.Dependencies().WaitsFor;
        foreach (var storage in steps.SelectMany(s => s.Memory.Writes).Distinct())
            storage.View.SubView(0, storage.Length).CopyFromCPU(Enumerable.Repeat(float.NaN, (int)storage.Length).ToArray());
        var done = new bool[steps.Count];
        var order = new List<int>();
        while (order.Count < steps.Count)
        {
            int next = Enumerable.Range(0, steps.Count).Last(k => !done[k] && waits[k].All(j => done[j]));
            steps[next].Run();
            done[next] = true;
            order.Add(next);
        }
        cpu.Device.Accelerator.Synchronize();
        return order;
    }

    /// <summary>A model's plan for one input shape on the CPU accelerator, as the engine prepares it (parsed, rewritten, fused).</summary>
    private sealed class CpuPlan : IDisposable
    {
        public IlgpuDevice Device { get; } = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        private readonly ConstantCache _constants;
        public ExecutionPlan Plan { get; }

        public CpuPlan(byte[] model, int[] inputShape)
        {
            _constants = new ConstantCache(Device.Accelerator);
            Plan = OperatorCompiler.Build(IlgpuEngine.PrepareGraph(model, "test", outputNames: null), new KernelLibrary(Device.Accelerator), _constants, inputShape);
        }

        public void Dispose()
        {
            Plan.Dispose();
            _constants.Dispose();
            Device.Dispose();
        }
    }
}
