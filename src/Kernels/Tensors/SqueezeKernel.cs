using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Sizes of a squeeze: the global mean of each channel of x [batch, channels, pixels], then two dense layers
/// on that vector (channels → hidden → outputs), as a squeeze-excite gate and an MoE router compute them. The layers'
/// parameters lie in one buffer: W1 transposed [channels, hidden], b1 [hidden], W2 transposed [hidden, outputs], b2
/// [outputs] (transposed so that a group's threads, one output each, read a weight row side by side).</summary>
public struct SqueezeShape
{
    public int Batch, Channels, Pixels, Hidden, Outputs;
    /// <summary>Threads that sum one channel's pixels together: a power of two that divides the group.</summary>
    public int Lanes;
    /// <summary>Groups per image; each averages group size ÷ <see cref="Lanes"/> channels.</summary>
    public int GroupsPerImage;

    public readonly int FirstBias => Channels * Hidden;
    public readonly int SecondWeights => FirstBias + Hidden;
    public readonly int SecondBias => SecondWeights + Hidden * Outputs;
    public readonly int ParameterCount => SecondBias + Outputs;
}

/// <summary>A squeeze (<see cref="SqueezeShape"/>) in one launch instead of three (mean, layer, layer), each of which
/// was latency-bound at a few microseconds: small vectors, one batch item a row. Groups average their channels; the last
/// group of an image to finish (an atomic count of arrivals) runs both layers for it from shared memory and resets the
/// count for the next run. Grid: batch × <see cref="SqueezeShape.GroupsPerImage"/> groups of any power-of-two size up
/// to <see cref="MaxGroupSize"/>.</summary>
public static class SqueezeKernel
{
    public const int MaxChannels = 2048, MaxHidden = 1024, MaxGroupSize = 1024;

    /// <summary>Largest layers (multiply-adds of both per image) worth one group: its threads run them in about
    /// 64 ÷ 4 rounds of cache latency. MobileNetV3's 720 → 184 → 720 gate (265,000) took 68 µs so on the H100 at batch 1,
    /// against 22 µs as three launches; its 72 → 24 → 72 (3,500) took 10 µs against 18.</summary>
    public const int MaxMultiplyAdds = 65536;

    /// <param name="means">Scratch of batch × channels values.</param>
    /// <param name="arrivals">One count per image, zero before the first run (each run leaves it zero).</param>
    public static void Run(ArrayView<float> x, ArrayView<float> parameters, ArrayView<float> y, ArrayView<float> means,
        ArrayView<int> arrivals, SqueezeShape s, Activation hiddenActivation, Activation outputActivation)
    {
        var vector = SharedMemory.Allocate<float>(MaxChannels);
        var hidden = SharedMemory.Allocate<float>(MaxHidden);
        var partial = SharedMemory.Allocate<float>(MaxGroupSize);
        var isLast = SharedMemory.Allocate<int>(1);
        int t = Group.IdxX, threads = Group.DimX;
        int image = Grid.IdxX / s.GroupsPerImage, block = Grid.IdxX % s.GroupsPerImage;
        int lane = t % s.Lanes, channel = block * (threads / s.Lanes) + t / s.Lanes;

        float sum = 0;
        if (channel < s.Channels)
        {
            long start = ((long)image * s.Channels + channel) * s.Pixels;
            for (int p = lane; p < s.Pixels; p += s.Lanes) sum += x[start + p];
        }
        partial[t] = sum;
        Group.Barrier();
        for (int stride = s.Lanes / 2; stride > 0; stride /= 2)
        {
            if (lane < stride) partial[t] += partial[t + stride];
            Group.Barrier();
        }
        if (lane == 0 && channel < s.Channels) means[image * s.Channels + channel] = partial[t] / s.Pixels;

        // Means written and visible device-wide before this group counts itself in.
        MemoryFence.DeviceLevel();
        Group.Barrier();
        if (t == 0) isLast[0] = Atomic.Add(ref arrivals[image], 1) == s.GroupsPerImage - 1 ? 1 : 0;
        Group.Barrier();
        if (isLast[0] == 0) return;
        MemoryFence.DeviceLevel();
        // Read through the atomics' path: other groups' means must not come from this multiprocessor's L1.
        for (int c = t; c < s.Channels; c += threads) vector[c] = Atomic.Add(ref means[image * s.Channels + c], 0f);
        if (t == 0) arrivals[image] = 0;
        Group.Barrier();

        Dense(vector, s.Channels, parameters, 0, s.FirstBias, s.Hidden, partial, hidden, 0, hiddenActivation);
        Dense(hidden, s.Hidden, parameters, s.SecondWeights, s.SecondBias, s.Outputs, partial, y, (long)image * s.Outputs, outputActivation);
    }

    /// <summary>output[o] = act(bias[o] + Σᵢ Wᵀ[i, o] · input[i]) by the whole group: up to a group's width of outputs
    /// at a time, the threads beyond them splitting the sum over i into parts that meet in <paramref name="partial"/>.</summary>
    private static void Dense(ArrayView<float> input, int inputs, ArrayView<float> parameters, int weights, int bias, int outputs,
        ArrayView<float> partial, ArrayView<float> output, long outputBase, Activation activation)
    {
        int t = Group.IdxX, threads = Group.DimX;
        for (int first = 0; first < outputs; first += threads)
        {
            int width = XMath.Min(threads, outputs - first), parts = threads / width;
            int o = first + t % width, part = t / width;
            partial[t] = part < parts ? DotStrided(input, inputs, parameters, weights, outputs, o, part, parts) : 0;
            Group.Barrier();
            if (t < width)
            {
                float v = parameters[bias + o];
                for (int q = 0; q < parts; q++) v += partial[q * width + t];
                output[outputBase + o] = ElementwiseKernels.ApplyFused(v, activation);
            }
            Group.Barrier();
        }
    }

    /// <summary>Σ Wᵀ[i, o] · input[i] over i = part, part + parts, …: four independent sums, so that four weight loads
    /// are in flight at once (one at a time, each waited for, the loop was bound by the cache's latency).</summary>
    private static float DotStrided(ArrayView<float> input, int inputs, ArrayView<float> parameters, int weights, int outputs, int o, int part, int parts)
    {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int i = part;
        for (; i + 3 * parts < inputs; i += 4 * parts)
        {
            a0 += parameters[weights + (long)i * outputs + o] * input[i];
            a1 += parameters[weights + (long)(i + parts) * outputs + o] * input[i + parts];
            a2 += parameters[weights + (long)(i + 2 * parts) * outputs + o] * input[i + 2 * parts];
            a3 += parameters[weights + (long)(i + 3 * parts) * outputs + o] * input[i + 3 * parts];
        }
        for (; i < inputs; i += parts) a0 += parameters[weights + (long)i * outputs + o] * input[i];
        return a0 + a1 + (a2 + a3);
    }

    /// <summary>Threads per channel for <paramref name="pixels"/> pixels: about eight pixels a thread, at most a group.</summary>
    public static int LanesFor(int pixels, int groupSize)
    {
        int lanes = 1;
        while (lanes * 2 <= groupSize && lanes * 16 <= pixels) lanes *= 2;
        return lanes;
    }
}
