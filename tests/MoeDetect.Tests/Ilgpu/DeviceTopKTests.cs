using Xunit;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model;
using MoeDetect.Model.Ilgpu;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The device TopK (radix select, ordered compaction, bitonic sort; in one group for short rows) against ONNX
/// Runtime (CPU) on heatmap-like data, on ILGPU's CPU accelerator: values and indices must be identical, ties ordered by index.</summary>
public sealed class DeviceTopKTests(ITestOutputHelper log)
{
    /// <summary>CenterNet's tail: flatten [N, C, H, W] and take the top k of each image.</summary>
    private static byte[] FlatTopK(int[] itemShape, int k, int largest = 1) =>
        new TinyOnnxGraph().Input("x", itemShape).Longs("flat", 0, -1).Longs("k", k)
            .Node("Reshape", ["x", "flat"], ["f"])
            .Node("TopK", ["f", "k"], ["scores", "idx"], ("axis", 1), ("largest", largest))
            .Output("scores").Output("idx", isLong: true).Build();

    private void AssertIdentical(string what, byte[] model, int[] inputShape, float[] input)
    {
        float error = OrtParity.MaxAbsError(model, inputShape, input);
        log.WriteLine($"{what}: max abs error {error:E2} (values and indices)");
        Assert.Equal(0f, error);
    }

    /// <summary>A suppressed heatmap: exact zeros except sparse peaks on a coarse value grid (many ties), like
    /// sigmoid scores after CenterNet's 3×3 max-pool suppression.</summary>
    private static float[] Heatmap(int seed, int count, int oneIn)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(oneIn) == 0 ? random.Next(1, 64) / 64f : 0f).ToArray();
    }

    [Fact]
    public void Top_100_of_sparse_heatmaps_with_ties_match_onnx_runtime()
    {
        int[] shape = [2, 8, 48, 64];
        AssertIdentical("top 100 of 2 × 24576 sparse heatmap cells", FlatTopK(shape[1..], 100), shape, Heatmap(3, 2 * 8 * 48 * 64, 50));
    }

    [Fact]
    public void K_above_the_nonzero_count_takes_the_lowest_indexed_zeros()
    {
        // About 12 peaks per image and k = 100: most of the answer is zeros, which ONNX Runtime takes lowest index first.
        int[] shape = [2, 4, 40, 40];
        AssertIdentical("k = 100 with ~12 non-zeros per image", FlatTopK(shape[1..], 100), shape, Heatmap(5, 2 * 4 * 40 * 40, 500));
    }

    [Fact]
    public void Negative_values_signed_zeros_constant_rows_and_smallest_k()
    {
        int[] shape = [3, 9000];
        var input = new float[3 * 9000];
        var random = new Random(11);
        for (int i = 0; i < 9000; i++) input[i] = (random.Next(7) - 3) * 0.5f;   // ties among negatives, zeros, positives
        for (int i = 0; i < 9000; i++) input[9000 + i] = i % 3 == 0 ? -0f : random.Next(2) == 0 ? 0f : -1e-30f;
        Array.Fill(input, 2.5f, 18000, 9000);                                     // one constant row
        AssertIdentical("largest, mixed signs, −0/+0, constant row", FlatTopK([9000], 37), shape, input);
        AssertIdentical("smallest (largest = 0), same rows", FlatTopK([9000], 37, largest: 0), shape, input);
    }

    [Fact]
    public void Top_k_along_a_middle_axis_spanning_several_chunks()
    {
        // [N, 9000, 3]: rows are strided by 3 and longer than one compaction chunk (4096).
        var model = new TinyOnnxGraph().Input("x", 9000, 3).Longs("k", 250)
            .Node("TopK", ["x", "k"], ["v", "i"], ("axis", 1)).Output("v").Output("i", isLong: true).Build();
        var input = TinyOnnxGraph.RandomValues(13, 2 * 9000 * 3).Select(v => MathF.Round(v * 100) / 100).ToArray();
        AssertIdentical("axis 1 of [2, 9000, 3], k = 250, values rounded to 0.01 (ties)", model, [2, 9000, 3], input);
    }

    [Fact]
    public void K_beyond_the_device_sort_fails_at_planning_naming_the_limit()
    {
        var model = FlatTopK([3000], 2500);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        var e = Assert.Throws<InvalidModelException>(() => engine.Run(new float[3000], 1));
        Assert.Contains("k = 2500", e.Message);
        Assert.Contains("1..2048", e.Message);
    }

    /// <summary>Which path each row takes: a sparse heatmap has a few hundred candidates in the k-th key's bin and above
    /// (the filter's), a constant row has all of its values in one bin (the radix select's); both give the host's order.</summary>
    [Fact]
    public void The_filter_takes_rows_with_few_candidates_and_leaves_the_rest_to_the_radix_select()
    {
        const int length = 20000;
        var sparse = Heatmap(17, length, 40);
        var constant = Enumerable.Repeat(0.5f, length).ToArray();
        Assert.Equal([1, 0], FilterFlags(TopKMatchesHost(sparse.Concat(constant).ToArray(), length, k: 100), length, rows: 2, k: 100));
    }

    /// <summary>Rows the radix select takes (their k-th key's bin holds thousands) whose kept keys lie in every chunk:
    /// each chunk's group places its keys above the threshold after those of the chunks before it, and its ties too.</summary>
    [Fact]
    public void The_radix_select_keeps_keys_of_every_chunk_in_index_order()
    {
        const int length = 20000;
        // 60 distinct keys above a constant spread over the row; the ties taken are the first ones.
        var spreadAbove = Enumerable.Repeat(0.5f, length).ToArray();
        for (int i = 0; i < 60; i++) spreadAbove[331 * i + 7] = 0.6f + i / 1000f;
        // 21 keys above 4,000 ties (every fifth) above the rest: the 1,979 ties kept reach into the third chunk.
        var spreadTies = Enumerable.Range(0, length).Select(j => j % 997 == 1 ? 0.75f : j % 5 == 0 ? 0.25f : 0.1f).ToArray();
        Assert.Equal([0, 0], FilterFlags(TopKMatchesHost(spreadAbove.Concat(spreadTies).ToArray(), length, k: 2000), length, rows: 2, k: 2000));
    }

    /// <summary>Rows of at most <see cref="TopKKernels.GroupRowLength"/> (YOLOv8n's 8,400 anchors at 640, k = 1,000)
    /// are selected by one group each: the host's answer, with coarse scores (ties across the k-th key) and a constant
    /// row, and the chunked kernels' scratch left as it was.</summary>
    [Fact]
    public void Short_rows_are_selected_by_one_group_each_without_the_scratch()
    {
        const int length = 8400;
        var random = new Random(23);
        var coarse = Enumerable.Range(0, length).Select(_ => random.Next(40) / 40f).ToArray();
        var constant = Enumerable.Repeat(0.25f, length).ToArray();
        Assert.True(KernelLibrary.SelectsInOneGroup(new TopKShape { Length = length }));
        Assert.All(TopKMatchesHost(coarse.Concat(constant).ToArray(), length, k: 1000), value => Assert.Equal(0, value));
    }

    /// <summary>sorted = 0 on rows one group selects: no sort, the compaction's order (keys above the k-th by index, then
    /// the ties kept, by index), the same k as sorted.</summary>
    [Fact]
    public void Unsorted_short_rows_come_in_the_compactions_order()
    {
        const int length = 8400, k = 1000;
        var random = new Random(29);
        var coarse = Enumerable.Range(0, 2 * length).Select(_ => random.Next(40) / 40f).ToArray();
        var s = Shape(2, length, k) with { Unsorted = 1 };
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        using var input = device.Accelerator.Allocate1D(coarse);
        using var values = device.Accelerator.Allocate1D<float>(2 * k);
        using var indices = device.Accelerator.Allocate1D<float>(2 * k);

        using var unusedScratch = device.Accelerator.Allocate1D<int>(1);
        new KernelLibrary(device.Accelerator).TopK(input.View, unusedScratch.View, values.View, indices.View, s);
        device.Accelerator.Synchronize();

        var gotIndices = indices.GetAsArray1D();
        var gotValues = values.GetAsArray1D();
        for (int row = 0; row < 2; row++)
        {
            var x = coarse.AsSpan(row * length, length).ToArray();
            float kth = Enumerable.Range(0, length).Select(j => x[j]).OrderDescending().ElementAt(k - 1);
            var above = Enumerable.Range(0, length).Where(j => x[j] > kth).ToList();
            var expected = above.Concat(Enumerable.Range(0, length).Where(j => x[j] == kth).Take(k - above.Count)).ToArray();
            Assert.Equal(expected.Select(j => (float)j), gotIndices.Skip(row * k).Take(k));
            Assert.Equal(expected.Select(j => x[j]), gotValues.Skip(row * k).Take(k));
        }
    }

    /// <summary>A TopK node with sorted = 0 through the engine: the same values and indices as ONNX Runtime's, as sets
    /// (ONNX leaves their order open); distinct values, so that the k are the same whatever the ties.</summary>
    [Fact]
    public void An_unsorted_TopK_node_keeps_onnx_runtimes_k()
    {
        var model = new TinyOnnxGraph().Input("x", 8400).Longs("k", 1000)
            .Node("TopK", ["x", "k"], ["v", "i"], ("axis", 1), ("sorted", 0)).Output("v").Output("i", isLong: true).Build();
        var input = Enumerable.Range(0, 2 * 8400).Select(i => (float)((i * 7919L) % 16800) / 16800f).ToArray();
        var expected = OrtParity.RunOrt(model, [2, 8400], input);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        var actual = engine.Run(input, 2);
        foreach (var name in new[] { "v", "i" })
            for (int row = 0; row < 2; row++)
                Assert.Equal(expected[name].Values.Skip(row * 1000).Take(1000).Order(), actual.Tensor(name).Data.Skip(row * 1000).Take(1000).Order());
    }

    /// <summary>Runs the device TopK on rows of x of the given length, asserts every row's values and indices are the
    /// host's (largest first, ties by index), and returns the scratch as the kernels left it.</summary>
    private static int[] TopKMatchesHost(float[] x, int length, int k)
    {
        int rows = x.Length / length;
        var s = Shape(rows, length, k);
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        var kernels = new KernelLibrary(device.Accelerator);
        using var input = device.Accelerator.Allocate1D(x);
        using var scratch = device.Accelerator.Allocate1D<int>((long)rows * s.ScratchPerRow);
        scratch.MemSetToZero();
        using var values = device.Accelerator.Allocate1D<float>(rows * k);
        using var indices = device.Accelerator.Allocate1D<float>(rows * k);

        kernels.TopK(input.View, scratch.View, values.View, indices.View, s);
        device.Accelerator.Synchronize();

        var gotIndices = indices.GetAsArray1D();
        var gotValues = values.GetAsArray1D();
        for (int row = 0; row < rows; row++)
        {
            var expected = Enumerable.Range(0, length).OrderByDescending(j => x[row * length + j]).ThenBy(j => j).Take(k).ToArray();
            Assert.Equal(expected.Select(j => (float)j), gotIndices.Skip(row * k).Take(k));
            Assert.Equal(expected.Select(j => x[row * length + j]), gotValues.Skip(row * k).Take(k));
        }
        return scratch.GetAsArray1D();
    }

    private static TopKShape Shape(int rows, int length, int k) =>
        new() { Rows = rows, Length = length, Inner = 1, K = k, Largest = 1, Chunks = (length + TopKKernels.ChunkLength - 1) / TopKKernels.ChunkLength };

    /// <summary>Each row's filter flag in the scratch (1: the filter took it).</summary>
    private static int[] FilterFlags(int[] scratch, int length, int rows, int k) =>
        Enumerable.Range(0, rows).Select(row => scratch[Shape(rows, length, k).FilterTaken(row)]).ToArray();
}
