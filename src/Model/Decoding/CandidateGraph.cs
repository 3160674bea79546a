using Google.Protobuf;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Decoding;

/// <summary>Appends candidate selection to a dense-output detector graph (YOLOv8/YOLO11, YOLOv5, NanoDet), for the
/// device engines: instead of one output row per anchor (YOLOv8n at 640: 8,400 rows of 84 values, 2.8 MB a frame)
/// only the rows of the <see cref="MaxCandidates"/> anchors with the highest class score come back, with their anchor
/// indices, and the host decodes them with the same code as the whole output, in anchor order. The result equals the whole output's whenever
/// no more than <see cref="MaxCandidates"/> anchors pass the score threshold (the usual cap before NMS: Ultralytics
/// caps at 30,000 boxes, the evaluation keeps 100 per image).</summary>
public static class CandidateGraph
{
    public const int MaxCandidates = 1000;

    /// <summary>The YOLO candidates' anchor indices [N, k] (as floats, exact below 2^24).</summary>
    public const string AnchorsOutput = "anchor_candidates";

    /// <summary>The graph with candidate selection and the decoder for its outputs; the graph and decoder as they were
    /// when the decoder has no dense output (CenterNet graphs pick their top 100 themselves) or its shape is open.</summary>
    public static (byte[] Model, IDetectionDecoder Decoder) Rewrite(byte[] model, IDetectionDecoder decoder)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var rewrite = new Rewriter(proto);
        IDetectionDecoder? candidates = decoder switch
        {
            YoloV8Decoder v8 => rewrite.Yolo(decoder, anchorAxis: 2) ? v8.ForCandidates(AnchorsOutput) : null,
            YoloV5Decoder v5 => rewrite.Yolo(decoder, anchorAxis: 1) ? v5.ForCandidates(AnchorsOutput) : null,
            NanoDetGflDecoder nanoDet => rewrite.NanoDet(nanoDet),
            _ => null,
        };
        return candidates is null ? (model, decoder) : (proto.ToByteArray(), candidates);
    }

    private sealed class Rewriter(ModelProto model)
    {
        private readonly GraphProto _graph = model.Graph;
        private readonly long _opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();

        /// <summary>YOLOv8 [N, 4+nc, A] (anchors on axis 2) or YOLOv5 [N, A, 5+nc] (axis 1): the best class score of
        /// each anchor (YOLOv5: objectness × class) chooses the anchors; their whole rows come back under the same
        /// name, the anchors axis cut to the candidate count, and their indices as <see cref="AnchorsOutput"/>.</summary>
        public bool Yolo(IDetectionDecoder decoder, int anchorAxis)
        {
            string name = decoder.OutputNames[0];
            var shape = OutputShape(name);
            if (_opset < 11 || shape is not { Length: 3 } || shape[1] <= 0 || shape[2] <= 0) return false;
            int channelAxis = 3 - anchorAxis;
            long channels = shape[channelAxis], anchors = shape[anchorAxis];
            string dense = Detach(name);
            string best = anchorAxis == 2
                ? ReduceMax(Slice(dense, 4, channels, axis: 1), axis: 1)
                : ReduceMax(Add("Mul", [Slice(dense, 4, 5, axis: 2), Slice(dense, 5, channels, axis: 2)]), axis: 2);
            long k = Math.Min(anchors, MaxCandidates);
            string chosen = Choose(best, k);
            Emit(GatherRows(dense, chosen, k, anchorAxis, channels), name);
            Emit(AsFloats(chosen), AnchorsOutput);
            ReplaceOutput(name, shape[0], anchorAxis == 2 ? [channels, k] : [k, channels]);
            _graph.Output.Add(Output(AnchorsOutput, [shape[0], k]));
            return true;
        }

        /// <summary>NanoDet's per-stride scores [N, cells, nc] and box logits [N, cells, 4·bins] are joined over the
        /// strides; the cells with the best class scores come back with their scores, logits and global cell index.</summary>
        public NanoDetGflDecoder? NanoDet(NanoDetGflDecoder decoder)
        {
            var scores = decoder.Strides.Select(s => $"cls_s{s}").ToArray();
            var boxes = decoder.Strides.Select(s => $"box_s{s}").ToArray();
            var shapes = scores.Concat(boxes).Select(OutputShape).ToArray();
            if (_opset < 11 || shapes.Any(s => s is not { Length: 3 } || s[1] <= 0 || s[2] <= 0)) return null;
            long cells = shapes.Take(scores.Length).Sum(s => s![1]), classes = shapes[0]![2], logits = shapes[^1]![2];
            string allScores = Add("Concat", scores.Select(Detach).ToArray(), ("axis", 1));
            string allBoxes = Add("Concat", boxes.Select(Detach).ToArray(), ("axis", 1));
            long k = Math.Min(cells, MaxCandidates);
            string chosen = Choose(ReduceMax(allScores, axis: 2), k);
            Emit(GatherRows(allScores, chosen, k, anchorAxis: 1, classes), NanoDetGflDecoder.CandidateScores);
            Emit(GatherRows(allBoxes, chosen, k, anchorAxis: 1, logits), NanoDetGflDecoder.CandidateBoxes);
            Emit(AsFloats(chosen), NanoDetGflDecoder.CandidateCells);
            long batch = shapes[0]![0];
            foreach (var name in scores.Concat(boxes)) _graph.Output.Remove(_graph.Output.Single(o => o.Name == name));
            _graph.Output.Add(Output(NanoDetGflDecoder.CandidateScores, [batch, k, classes]));
            _graph.Output.Add(Output(NanoDetGflDecoder.CandidateBoxes, [batch, k, logits]));
            _graph.Output.Add(Output(NanoDetGflDecoder.CandidateCells, [batch, k]));
            return decoder.ForCandidates();
        }

        /// <summary>Indices [N, k] of the k largest values of <paramref name="best"/> [N, A], in no particular order: the
        /// host puts the candidates that pass its threshold back in anchor order (NMS breaks score ties by that order),
        /// which costs it little, while sorting on the device (TopK sorted, or a second TopK for the index order) is
        /// a block-wide sort per image in ONNX Runtime's CUDA TopK.</summary>
        private string Choose(string best, long k)
        {
            string kInput = OnnxProtos.AddInt64s(_graph, Unique("k"), [k]);
            string winners = Unique("winners");
            _graph.Node.Add(OnnxProtos.Node("TopK", [best, kInput], [Unique("winner_scores"), winners],
                attributes: [OnnxProtos.IntAttribute("axis", 1), OnnxProtos.IntAttribute("sorted", 0)]));
            return winners;
        }

        private string AsFloats(string tensor) => Add("Cast", [tensor], ("to", (long)TensorProto.Types.DataType.Float));

        /// <summary>The rows of rank-3 <paramref name="tensor"/> at <paramref name="indices"/> [N, k] along the anchors axis.</summary>
        private string GatherRows(string tensor, string indices, long k, int anchorAxis, long rowLength)
        {
            long[] indexShape = anchorAxis == 2 ? [0, 1, k] : [0, k, 1];
            long[] across = anchorAxis == 2 ? [1, rowLength, 1] : [1, 1, rowLength];
            string reshaped = Add("Reshape", [indices, OnnxProtos.AddInt64s(_graph, Unique("index_shape"), indexShape)]);
            string expanded = Add("Expand", [reshaped, OnnxProtos.AddInt64s(_graph, Unique("across"), across)]);
            return Add("GatherElements", [tensor, expanded], ("axis", anchorAxis));
        }

        private string Slice(string tensor, long start, long end, int axis) =>
            Add("Slice", [tensor, OnnxProtos.AddInt64s(_graph, Unique("start"), [start]), OnnxProtos.AddInt64s(_graph, Unique("end"), [end]),
                OnnxProtos.AddInt64s(_graph, Unique("axes"), [axis])]);

        /// <summary>Opset 18 moved ReduceMax's axes from an attribute to an input.</summary>
        private string ReduceMax(string tensor, int axis) =>
            _opset >= 18
                ? Add("ReduceMax", [tensor, OnnxProtos.AddInt64s(_graph, Unique("reduce_axes"), [axis])], ("keepdims", 0))
                : AddNode("ReduceMax", [tensor], OnnxProtos.IntsAttribute("axes", [axis]), OnnxProtos.IntAttribute("keepdims", 0));

        /// <summary>Renames the graph's output <paramref name="name"/> to a fresh inner name and returns that name.</summary>
        private string Detach(string name)
        {
            string inner = Unique(name + "_dense");
            foreach (var node in _graph.Node)
                for (int i = 0; i < node.Output.Count; i++)
                    if (node.Output[i] == name) node.Output[i] = inner;
            foreach (var node in _graph.Node)
                for (int i = 0; i < node.Input.Count; i++)
                    if (node.Input[i] == name) node.Input[i] = inner;
            return inner;
        }

        private void Emit(string value, string output) => _graph.Node.Add(OnnxProtos.Node("Identity", [value], [output], Unique("emit")));

        private void ReplaceOutput(string name, long batch, long[] rest)
        {
            int at = _graph.Output.IndexOf(_graph.Output.Single(o => o.Name == name));
            _graph.Output[at] = Output(name, [batch, .. rest]);
        }

        private long[]? OutputShape(string name) =>
            _graph.Output.FirstOrDefault(o => o.Name == name)?.Type.TensorType.Shape?.Dim.Select(d => d.DimValue).ToArray();

        /// <summary>A float output; dimensions ≤ 0 stay open (the batch, where the graph leaves it open).</summary>
        private static ValueInfoProto Output(string name, long[] dims) => OnnxProtos.TensorValue(name, TensorProto.Types.DataType.Float, dims);

        private string Add(string op, string[] inputs, params (string Name, long Value)[] attributes) =>
            AddNode(op, inputs, attributes.Select(a => OnnxProtos.IntAttribute(a.Name, a.Value)).ToArray());

        private string AddNode(string op, string[] inputs, params AttributeProto[] attributes)
        {
            string output = Unique(op.ToLowerInvariant());
            _graph.Node.Add(OnnxProtos.Node(op, inputs, [output], attributes: attributes));
            return output;
        }

        private int _names;

        private string Unique(string stem) => $"moedetect_candidates/{stem}_{_names++}";
    }
}
