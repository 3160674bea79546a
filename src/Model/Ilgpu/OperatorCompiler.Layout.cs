using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Operators that only move data: reshapes (free: the output shares the input's memory), Cast, and the
/// strided copies Transpose, Concat, Split, Slice, Expand; plus Gather.</summary>
internal sealed partial class OperatorCompiler
{
    private void Reshape()
    {
        var x = Get(0);
        int[] shape = _node.OpType switch
        {
            "Reshape" => ReshapeTarget(x.Shape, HostInput(1).ToLongs(), _node.Int("allowzero", 0) != 0),
            "Flatten" => FlattenShape(x.Shape, Axis(_node.Int("axis", 1), x.Shape.Length)),
            "Squeeze" => SqueezeShape(x.Shape, AxesInput(1, x.Shape.Length)),
            "Unsqueeze" => UnsqueezeShape(x.Shape, AxesInput(1, -1) ?? throw Invalid("axes are missing")),
            _ => x.Shape,
        };
        Set(0, Reshaped(x, shape, x.IsInteger));
    }

    private static Value Reshaped(Value x, int[] shape, bool isInteger) => x.Host is { } h
        ? h with { Shape = shape, IsInteger = isInteger }
        : new DeviceTensor(shape, x.Device!.Storage, isInteger);

    /// <summary>Axes from the attribute (older opsets) or input <paramref name="input"/>, normalised against
    /// <paramref name="rank"/> (-1: normalised later by the caller).</summary>
    private long[]? AxesInput(int input, int rank)
    {
        var axes = _node.Ints("axes") ?? (_node.Input(input) is not null ? HostInput(input).ToLongs() : null);
        return axes is null || rank < 0 ? axes : axes.Select(a => (long)Axis(a, rank)).ToArray();
    }

    private int[] ReshapeTarget(int[] input, long[] target, bool allowZero)
    {
        var shape = target.Select((d, i) => d == 0 && !allowZero ? input[i] : (int)d).ToArray();
        int known = shape.Where(d => d != -1).Aggregate(1, (a, b) => a * b);
        int free = Array.IndexOf(shape, -1);
        if (free >= 0) shape[free] = known == 0 ? 0 : Elements(input) / known;
        if (Elements(shape) != Elements(input))
            throw Invalid($"cannot reshape [{string.Join(",", input)}] to [{string.Join(",", target)}]");
        return shape;
    }

    private static int[] FlattenShape(int[] s, int axis) => [s[..axis].Aggregate(1, (a, b) => a * b), s[axis..].Aggregate(1, (a, b) => a * b)];

    private static int[] SqueezeShape(int[] s, long[]? axes) =>
        s.Where((d, i) => axes is null ? d != 1 : !axes.Contains(i)).ToArray();

    private static int[] UnsqueezeShape(int[] s, long[] axes)
    {
        int rank = s.Length + axes.Length;
        var normalised = axes.Select(a => Axis(a, rank)).ToHashSet();
        var shape = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) shape[i] = normalised.Contains(i) ? 1 : s[j++];
        return shape;
    }

    /// <summary>Cast: integer targets truncate floats (the engine keeps integers as exact floats); float targets
    /// and integer→integer casts only relabel.</summary>
    private void Cast()
    {
        var x = Get(0);
        long to = _node.Int("to", 1);
        bool toInteger = to is not (1 or 10 or 11 or 16);
        if (to == 9) throw Invalid("Cast to bool is not supported");
        // Truncating whole numbers changes nothing: such a Cast (CenterNet's decoder, after each Floor) relabels its input.
        if (!toInteger || x.IsInteger || _wholeNumbers.Contains(InputName(0))) { Set(0, Reshaped(x, x.Shape, toInteger)); return; }
        var truncate = new Activation(UnaryFunction.Truncate);
        if (x.Host is { } h) { Set(0, ShapeFolding.Unary(h, truncate) with { IsInteger = true }); return; }
        var input = x.Device!;
        var y = NewTensor(input.Shape, isInteger: true);
        var kernel = _kernels.Unary;
        Emit(() => kernel(y.Length, input.View, y.View, truncate), input, y);
        Set(0, y);
    }

    private void Transpose()
    {
        var x = Get(0);
        int rank = x.Shape.Length;
        var perm = _node.Ints("perm")?.Select(p => (int)p).ToArray() ?? Enumerable.Range(0, rank).Reverse().ToArray();
        if (perm.Length != rank || perm.Order().Where((p, i) => p != i).Any())
            throw Invalid($"perm [{string.Join(",", perm)}] is not a permutation of the input's {rank} axes");
        var shape = perm.Select(p => x.Shape[p]).ToArray();
        var strides = Layout.Strides(x.Shape);
        var region = new Layout.Region(0, 0, shape, perm.Select(p => strides[p]).ToArray(), 0, Layout.Strides(shape), 0);
        Set(0, Relayout([x], [(shape, x.IsInteger)], [region])[0]);
    }

    private void Concat()
    {
        var names = _node.Inputs.Where(n => n.Length > 0).ToArray();
        var inputs = names.Select(Lookup).ToArray();
        int axis = Axis(_node.Int("axis", 0), inputs[0].Shape.Length);
        var shape = (int[])inputs[0].Shape.Clone();
        shape[axis] = inputs.Sum(v => v.Shape[axis]);
        var strides = Layout.Strides(shape);
        var regions = new List<Layout.Region>();
        int offset = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            regions.Add(new Layout.Region(i, 0, inputs[i].Shape, Layout.Strides(inputs[i].Shape), 0, strides, offset * strides[axis]));
            offset += inputs[i].Shape[axis];
        }
        bool isInteger = inputs.All(v => v.IsInteger);
        if (inputs.Any(v => v.Host is not null) || axis != 1 || shape.Length != 4)
        {
            Set(0, Relayout(names.Select(Get).ToArray(), [(shape, isInteger)], regions)[0]);
            return;
        }
        // Inputs whose producers can write strided are placed as slices of the output, and not copied; so are runs of
        // channel ranges that make up a whole tensor such a producer writes (the whole is placed).
        var output = NewTensor(shape, isInteger);
        var tensors = inputs.Select(v => v.Device!).ToArray();
        var copied = new List<Layout.Region>();
        for (int i = 0; i < tensors.Length; i++)
        {
            if (TryPlaceWhole(tensors, i, output, regions[i].TargetStart, strides[0]) is int covered and > 0) i += covered - 1;
            else if (!TryPlace(names[i], tensors[i], output, regions[i].TargetStart, strides[0])) copied.Add(regions[i]);
        }
        foreach (var r in copied.Where(r => tensors[r.Source].IsStrided))
            EmitStridedCopy(tensors[r.Source], output, strides[0], r.TargetStart, _node.Fused);
        EmitCopies(tensors, [output], copied.Where(r => !tensors[r.Source].IsStrided).ToList());
        Set(0, output);
    }

    /// <summary>Places a Concat input as the slice of <paramref name="output"/> at <paramref name="offset"/> where its
    /// producer can write it there (<see cref="CanPlace"/>) and its other readers can follow it (<see cref="MayMove"/>).</summary>
    private bool TryPlace(string name, DeviceTensor input, DeviceTensor output, long offset, int imageStride)
    {
        if (!CanPlace(input, _node.Fused) || _node.Inputs.Count(n => n == name) != 1 || !MayMove(name, input, readsHere: 1)) return false;
        Place(input, output, offset, imageStride);
        return true;
    }

    /// <summary>Whether value <paramref name="name"/> may move into this Concat's output: nothing else reads it; or the
    /// Concat applies no activation (its other readers must see the values unchanged) and every other reader so far
    /// reads it where it lies, as all do at batch 1 (its images stay one contiguous run there), and at batch &gt; 1 those
    /// that take an image stride. Readers compiled later find it placed (<see cref="DeviceTensor.IsStrided"/>).</summary>
    private bool MayMove(string name, DeviceTensor tensor, int readsHere)
    {
        if (_graph.OutputNames.Contains(name)) return false;
        if (DataReaders.GetValueOrDefault(name) == readsHere) return true;
        if (_node.Fused.Function != UnaryFunction.Identity) return false;
        return tensor.Shape[0] == 1 || _dataReadsSoFar.GetValueOrDefault(name) - readsHere == _inPlaceReads.GetValueOrDefault(name);
    }

    /// <summary>Where inputs from <paramref name="first"/> on are channel ranges, in order, that make up the whole of one
    /// tensor (a C2f block's Concat of the two halves it split), places that whole in <paramref name="output"/> at
    /// <paramref name="offset"/> so that its producer writes it there and none of them is copied; the whole's other
    /// ranges keep reading it where it then lies. Only where the Concat applies no activation (the ranges' other readers
    /// must see the values unchanged) and the whole's other readers can follow it (<see cref="MayMove"/>). Returns how
    /// many inputs it covers (0: not placed).</summary>
    private int TryPlaceWhole(DeviceTensor[] inputs, int first, DeviceTensor output, long offset, int imageStride)
    {
        if (inputs[first] is not { Whole: { } whole, FirstChannel: 0 } || !_rangeWholes.TryGetValue(whole, out var name)) return 0;
        int covered = 0, channels = 0;
        while (first + covered < inputs.Length && inputs[first + covered] is { } range && range.Whole == whole && range.FirstChannel == channels)
        {
            channels += range.Shape[1];
            covered++;
        }
        if (channels != whole.Shape[1] || _node.Fused.Function != UnaryFunction.Identity || !CanPlace(whole, _node.Fused)) return 0;
        if (!MayMove(name, whole, readsHere: 0)) return 0;
        Place(whole, output, offset, imageStride);
        return covered;
    }

    /// <summary>Whether <paramref name="input"/>'s producer can write it into a Concat's output (<see cref="OutputPlacement"/>)
    /// with the Concat's <paramref name="activation"/>, and its memory is its own.</summary>
    private static bool CanPlace(DeviceTensor input, Activation activation) =>
        input.Placement is { } placement && placement.Accepts(activation)
        && !input.Storage.Pinned && input.Storage.Parent is null && input.Storage.Length == input.Length;

    private void Place(DeviceTensor input, DeviceTensor output, long offset, int imageStride)
    {
        input.Storage.PlaceIn(output.Storage, offset, spread: output.Shape[0] > 1);
        input.Placement!.Place(imageStride, _node.Fused);
    }

    /// <summary>Copies a strided tensor (<see cref="DeviceTensor.IsStrided"/>) as it lies into <paramref name="target"/>,
    /// whose images are <paramref name="targetImageStride"/> apart from <paramref name="targetStart"/> on, applying
    /// <paramref name="activation"/>. Its image stride is read when the plan runs.</summary>
    private void EmitStridedCopy(DeviceTensor source, DeviceTensor target, int targetImageStride, long targetStart, Activation activation)
    {
        var inner = Layout.Strides(source.Shape)[1..];
        int start = checked((int)targetStart);
        var kernels = _kernels;
        string detail = (source.Whole is { } whole ? $"channels {source.FirstChannel}–{source.FirstChannel + source.Shape[1] - 1} of {whole.Shape[1]}" : "placed in a Concat")
            + $", batch {source.Shape[0]}";
        // The source's image stride is final only once the plan is compiled (a later Concat may still place it).
        CopyLayout? walk = null;
        EmitKind("strided copy", detail, 0, () =>
        {
            walk ??= CollapsedCopy(source.Shape, [source.ImageStride, .. inner], 0, [targetImageStride, .. inner], start);
            kernels.Copy(source.StridedView, target.View, walk.Value, activation);
        }, source, target);
    }

    private void Split()
    {
        var x = GetInPlace(0);
        int axis = Axis(_node.Int("axis", 0), x.Shape.Length);
        int outputs = _node.Outputs.Count;
        var sizes = _node.Ints("split") ?? (_node.Input(1) is not null ? HostInput(1).ToLongs() : null);
        int[] parts = sizes?.Select(s => (int)s).ToArray()
            ?? Enumerable.Range(0, outputs).Select(i => (x.Shape[axis] + outputs - 1) / outputs).Select((s, i) => Math.Min(s, x.Shape[axis] - i * s)).ToArray();
        var strides = Layout.Strides(x.Shape);
        var targets = new List<(int[], bool)>();
        var regions = new List<Layout.Region>();
        int offset = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            var shape = (int[])x.Shape.Clone();
            shape[axis] = parts[i];
            targets.Add((shape, x.IsInteger));
            regions.Add(new Layout.Region(0, i, shape, strides, offset * strides[axis], Layout.Strides(shape), 0));
            offset += parts[i];
        }
        bool inPlace = Enumerable.Range(0, parts.Length).All(i => SharesMemory(x, i));
        if (inPlace && IsChannelAxis(x.Shape, axis))
        {
            NoteRangeRead(x.Device!);
            int first = 0;
            for (int i = 0; i < parts.Length; first += parts[i], i++) Set(i, ChannelRange(x.Device!, parts[i], first));
            return;
        }
        if (inPlace && LeadingOnes(x.Shape, axis) && !x.Device!.IsStrided)
        {
            for (int i = 0; i < parts.Length; i++) Set(i, ContiguousPart(x.Device!, regions[i].Sizes, regions[i].SourceStart));
            return;
        }
        var results = Relayout([Get(0)], targets, regions);
        for (int i = 0; i < results.Length; i++) Set(i, results[i]);
    }

    /// <summary>Whether the dimensions before <paramref name="axis"/> are all 1 (batch 1, cutting along channels): a run of
    /// whole indices along it is then one contiguous run of the tensor.</summary>
    private static bool LeadingOnes(int[] shape, int axis) => shape[..axis].All(d => d == 1);

    private static bool IsChannelAxis(int[] shape, int axis) => shape.Length == 4 && axis == 1;

    /// <summary>Notes that this node reads x where it lies, to take channel ranges of it (<see cref="TryPlaceWhole"/>).</summary>
    private void NoteRangeRead(DeviceTensor x)
    {
        NoteInPlaceRead(_node.Inputs[0]);
        if (x.Whole is null) _rangeWholes[x] = _node.Inputs[0];
    }

    /// <summary>Channels [first, first + count) of x, not copied but read where they lie (<see cref="DeviceTensor.Whole"/>):
    /// at batch 1 a contiguous run, at batch &gt; 1 images x's image stride apart, which GEMMs and Concat read as they lie
    /// and other readers copy out (<see cref="Get(string)"/>). A range of a range is a range of the same whole.</summary>
    private DeviceTensor ChannelRange(DeviceTensor x, int count, int first)
    {
        var whole = x.Whole ?? x;
        int pixels = x.Shape[2] * x.Shape[3];
        var storage = new Storage(Math.Max(1, (long)x.Shape[0] * count * pixels), _steps.Count);
        _storages.Add(storage);
        var range = new DeviceTensor([x.Shape[0], count, x.Shape[2], x.Shape[3]], storage, x.IsInteger) { Whole = whole, FirstChannel = x.FirstChannel + first };
        storage.PlaceIn(whole.Storage, (long)range.FirstChannel * pixels, spread: x.Shape[0] > 1);
        return range;
    }

    /// <summary>Whether output <paramref name="output"/> may be a part of x's memory (<see cref="ContiguousPart"/>): x is on
    /// the device, the node applies no activation, and the output is not one of the graph's (those keep memory of their own).</summary>
    private bool SharesMemory(Value x, int output) =>
        x.Device is not null && _node.Fused.Function == UnaryFunction.Identity && !_graph.OutputNames.Contains(_node.Outputs[output]);

    /// <summary>The <paramref name="shape"/>d run of x's memory from <paramref name="offset"/> on, as a tensor of its own
    /// that is not copied. Placed in the memory x lies in where x is itself placed (a part of a part), so that every
    /// placed storage has a parent of its own memory.</summary>
    private DeviceTensor ContiguousPart(DeviceTensor x, int[] shape, int offset)
    {
        var part = NewTensor(shape, x.IsInteger);
        part.Storage.PlaceIn(x.Storage.Parent ?? x.Storage, x.Storage.Offset + offset, x.Storage.Spread);
        return part;
    }

    private void Slice()
    {
        var x = GetInPlace(0);
        int rank = x.Shape.Length;
        long[] starts, ends;
        long[]? axes, steps = null;
        if (_graph.Opset < 10)
        {
            starts = _node.Ints("starts")!; ends = _node.Ints("ends")!; axes = _node.Ints("axes");
        }
        else
        {
            starts = HostInput(1).ToLongs(); ends = HostInput(2).ToLongs();
            axes = _node.Input(3) is not null ? HostInput(3).ToLongs() : null;
            steps = _node.Input(4) is not null ? HostInput(4).ToLongs() : null;
        }
        var shape = (int[])x.Shape.Clone();
        var inStrides = Layout.Strides(x.Shape);
        var readStrides = (int[])inStrides.Clone();
        int start = 0;
        for (int i = 0; i < starts.Length; i++)
        {
            int axis = Axis(axes?[i] ?? i, rank), dim = x.Shape[axis];
            long step = steps?[i] ?? 1;
            long s = starts[i] < 0 ? starts[i] + dim : starts[i], e = ends[i] < 0 ? ends[i] + dim : ends[i];
            if (step > 0) { s = Math.Clamp(s, 0, dim); e = Math.Clamp(e, 0, dim); }
            else { s = Math.Clamp(s, 0, dim - 1); e = Math.Clamp(e, -1, dim - 1); }
            shape[axis] = (int)Math.Max(0, step > 0 ? (e - s + step - 1) / step : (s - e - step - 1) / -step);
            readStrides[axis] = (int)(inStrides[axis] * step);
            start += (int)s * inStrides[axis];
        }
        // One axis cut with step 1: along channels a channel range of x; behind dimensions of 1 a contiguous run of x.
        var cut = Enumerable.Range(0, rank).Where(a => shape[a] != x.Shape[a]).ToArray();
        bool inPlace = cut.Length <= 1 && readStrides.SequenceEqual(inStrides) && SharesMemory(x, 0);
        if (inPlace && cut.Length == 1 && IsChannelAxis(x.Shape, cut[0]))
        {
            NoteRangeRead(x.Device!);
            Set(0, ChannelRange(x.Device!, shape[1], start / inStrides[1]));
            return;
        }
        if (inPlace && LeadingOnes(x.Shape, cut.FirstOrDefault()) && !x.Device!.IsStrided)
        {
            Set(0, ContiguousPart(x.Device!, shape, start));
            return;
        }
        var region = new Layout.Region(0, 0, shape, readStrides, start, Layout.Strides(shape), 0);
        Set(0, Relayout([Get(0)], [(shape, x.IsInteger)], [region])[0]);
    }

    private void Expand()
    {
        var x = Get(0);
        var shape = Layout.Broadcast(x.Shape, HostInput(1).ToInts()) ?? throw Invalid("the shape does not broadcast with the input");
        var region = new Layout.Region(0, 0, shape, Layout.BroadcastStrideArray(x.Shape, shape), 0, Layout.Strides(shape), 0);
        Set(0, Relayout([x], [(shape, x.IsInteger)], [region])[0]);
    }

    /// <summary>Pad, constant mode (other modes and an axes input fail at load, <see cref="OperatorSupport"/>); what
    /// GraphFusion did not fold into a window (TensorFlow converters emit it before stride-2 convolutions): pads from the
    /// attribute (opset &lt; 11) or input 1, the fill value from input 2 (default 0); negative pads crop.</summary>
    private void Pad()
    {
        var x = Get(0);
        int rank = x.Shape.Length;
        long[] pads = _node.Ints("pads") ?? HostInput(1).ToLongs();
        if (pads.Length != 2 * rank) throw Invalid($"{pads.Length} pads for a rank-{rank} input; expected {2 * rank}");
        float value = _node.Input(2) is not null ? (float)HostInput(2).Data[0] : _node.Float("value", 0);
        var begin = pads[..rank].Select(p => (int)p).ToArray();
        var shape = x.Shape.Select((d, a) => d + (int)pads[a] + (int)pads[a + rank]).ToArray();
        var input = Device(x, _node.Input(0));
        var y = NewTensor(shape, x.IsInteger);
        var inputSizes = Dims6.From(input.Shape, 1);
        var outputSizes = Dims6.From(shape, 1);
        var beginPads = Dims6.From(begin, 0);
        var pad = _kernels.Pad;
        Emit(() => pad(y.Length, input.View, y.View, inputSizes, outputSizes, beginPads, value), input, y);
        Set(0, y);
    }

    private void Gather()
    {
        var data = Get(0);
        var indices = Get(1);
        int axis = Axis(_node.Int("axis", 0), data.Shape.Length);
        if (data.Host is { } hd && indices.Host is { } hi) { Set(0, ShapeFolding.Gather(hd, hi, axis)); return; }
        var x = Device(data, _node.Input(0));
        var idx = Device(indices, _node.Input(1));
        var (_, length, inner) = Layout.Split3(x.Shape, axis, axis + 1);
        var y = NewTensor([.. x.Shape[..axis], .. idx.Shape, .. x.Shape[(axis + 1)..]], x.IsInteger);
        int count = idx.Length;
        var gather = _kernels.Gather;
        Emit(() => gather(y.Length, x.View, idx.View, y.View, length, inner, count), x, idx, y);
        Set(0, y);
    }

    /// <summary>Runs strided copies on the host when every source is known there, otherwise as device launches. The
    /// node's fused activation (a Concat's, <see cref="GraphFusion"/>) is applied to every copied value.</summary>
    private Value[] Relayout(Value[] sources, IReadOnlyList<(int[] Shape, bool IsInteger)> targets, IReadOnlyList<Layout.Region> regions)
    {
        var activation = _node.Fused;
        if (sources.All(s => s.Host is not null))
            return ShapeFolding.Copy(sources.Select(s => s.Host!).ToArray(), targets, regions)
                .Select(h => (Value)(activation.Function == UnaryFunction.Identity ? h : ShapeFolding.Unary(h, activation))).ToArray();
        var inputs = sources.Select((s, i) => Device(s, _node.Input(i))).ToArray();
        var outputs = targets.Select(t => NewTensor(t.Shape, t.IsInteger)).ToArray();
        EmitCopies(inputs, outputs, regions);
        return outputs.Select(o => (Value)o).ToArray();
    }

    /// <summary>A launch per region, copying (with the node's fused activation) between device tensors.</summary>
    private void EmitCopies(DeviceTensor[] inputs, DeviceTensor[] outputs, IReadOnlyList<Layout.Region> regions)
    {
        var activation = _node.Fused;
        var kernels = _kernels;
        foreach (var r in regions)
        {
            var (src, dst) = (inputs[r.Source], outputs[r.Target]);
            if (Elements(r.Sizes) == 0) continue;
            var walk = CollapsedCopy(r.Sizes, r.SourceStrides, r.SourceStart, r.TargetStrides, r.TargetStart);
            Emit(() => kernels.Copy(src.View, dst.View, walk, activation), src, dst);
        }
    }

    /// <summary>A copy's walk over <paramref name="sizes"/> between two layouts, its dimensions collapsed (<see cref="Dims6.Collapse"/>).</summary>
    private static CopyLayout CollapsedCopy(int[] sizes, int[] sourceStrides, int sourceStart, int[] targetStrides, int targetStart)
    {
        var (s, a, b) = Dims6.Collapse(Dims6.From(sizes, 1), Dims6.From(sourceStrides, 0), Dims6.From(targetStrides, 0));
        return new CopyLayout(s, a, sourceStart, b, targetStart);
    }
}
