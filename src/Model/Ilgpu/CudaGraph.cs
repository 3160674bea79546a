using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A run of kernel launches recorded once into a CUDA graph (stream capture) and replayed with one
/// cuGraphLaunch: hundreds of small launches then cost one driver call. Capture records without executing, so the
/// launches must only read and write memory that stays where it is (the plan's buffers), and must not allocate or
/// synchronise; anything else makes capture fail, and the caller falls back to launching one by one.</summary>
internal sealed class CudaGraph : IDisposable
{
    private readonly CudaStream _stream;
    private nint _graph, _exec;

    private CudaGraph(CudaStream stream, nint graph, nint exec)
    {
        _stream = stream;
        _graph = graph;
        _exec = exec;
    }

    /// <summary>Records <paramref name="launches"/> on <paramref name="stream"/>; throws <see cref="CudaGraphException"/>
    /// (capture ended, nothing left recording) when the driver refuses. Without <paramref name="waitsFor"/> each launch
    /// waits for the one before; with it, launch k waits only for the launches waitsFor[k] names (earlier ones), so
    /// launches that wait for none of each other may run side by side. A launch's own kernels stay in order.</summary>
    public static CudaGraph Capture(CudaStream stream, IReadOnlyList<Action> launches, IReadOnlyList<int[]>? waitsFor = null)
    {
        stream.Accelerator.Bind();
        nint s = stream.StreamPtr;
        Driver.Check(Driver.StreamBeginCapture(s, Driver.CaptureModeThreadLocal), "cuStreamBeginCapture");
        nint graph;
        try
        {
            if (waitsFor is null)
                foreach (var launch in launches) launch();
            else
                CaptureBranches(s, launches, waitsFor);
        }
        catch
        {
            // End the capture so the stream is usable again, then report the launch's own error.
            if (Driver.StreamEndCapture(s, out graph) == 0 && graph != 0) Driver.GraphDestroy(graph);
            throw;
        }
        // A capture the driver invalidated (an unsafe call in between) ends with an error and no graph.
        Driver.Check(Driver.StreamEndCapture(s, out graph), "cuStreamEndCapture");
        if (WithProgrammaticEdges(stream, graph) is { } programmatic) return programmatic;
        var instantiated = Driver.GraphInstantiateWithFlags(out nint exec, graph, 0);
        if (instantiated != 0) Driver.GraphDestroy(graph);
        Driver.Check(instantiated, "cuGraphInstantiateWithFlags");
        return new CudaGraph(stream, graph, exec);
    }

    /// <summary>Kernel-to-kernel edges of the graph made programmatic where the later kernel waits for its
    /// prerequisites itself (<see cref="ProgrammaticLaunches"/>): the later one is launched while the earlier one runs.</summary>
    public int ProgrammaticEdges { get; private init; }

    /// <summary>A copy of <paramref name="graph"/> with <see cref="ProgrammaticEdges"/>, instantiated, which then takes
    /// <paramref name="graph"/>'s place; null, with <paramref name="graph"/> untouched, where there are no such edges or
    /// the driver refuses them (an older driver lacks the calls), so the caller instantiates the plain graph.</summary>
    private static CudaGraph? WithProgrammaticEdges(CudaStream stream, nint graph)
    {
        // None unless the switch was on when the kernels were loaded (KernelLoader registers them only then).
        var waiting = ProgrammaticLaunches.WaitingFunctions(stream.Accelerator);
        if (waiting.Count == 0) return null;
        nint copy = 0;
        try
        {
            if (Driver.GraphClone(out copy, graph) != 0) return null;
            int edges = Driver.MakeProgrammatic(copy, waiting);
            if (edges > 0 && Driver.GraphInstantiateWithFlags(out nint exec, copy, 0) == 0)
            {
                Driver.GraphDestroy(graph);
                return new CudaGraph(stream, copy, exec) { ProgrammaticEdges = edges };
            }
        }
        catch (Exception e) when (e is CudaGraphException or EntryPointNotFoundException) { }
        if (copy != 0) Driver.GraphDestroy(copy);
        return null;
    }

    private static void CaptureBranches(nint stream, IReadOnlyList<Action> launches, IReadOnlyList<int[]> waitsFor)
    {
        // Per launch, the graph nodes it ended with: what the launches waiting for it follow.
        var ends = new nint[launches.Count][];
        for (int k = 0; k < launches.Count; k++)
        {
            Driver.FollowOnly(stream, waitsFor[k].SelectMany(j => ends[j]));
            launches[k]();
            ends[k] = Driver.CaptureEnds(stream);
        }
        // The stream goes on after every branch's end (the graph's last nodes).
        var waitedFor = waitsFor.SelectMany(w => w).ToHashSet();
        Driver.FollowOnly(stream, Enumerable.Range(0, launches.Count).Where(k => !waitedFor.Contains(k)).SelectMany(k => ends[k]));
    }

    /// <summary>Whether <paramref name="e"/> says graphs cannot be used here (the driver refused a capture or a launch
    /// during it, or the driver library lacks the calls), so the caller launches one by one instead.</summary>
    public static bool Refused(Exception e) =>
        e is CudaGraphException or CudaException or DllNotFoundException or EntryPointNotFoundException;

    /// <summary>Queues the recorded launches on the stream they were recorded on.</summary>
    public void Launch()
    {
        _stream.Accelerator.Bind();
        Driver.Check(Driver.GraphLaunch(_exec, _stream.StreamPtr), "cuGraphLaunch");
    }

    public void Dispose()
    {
        if (_exec != 0) Driver.GraphExecDestroy(_exec);
        if (_graph != 0) Driver.GraphDestroy(_graph);
        _exec = _graph = 0;
    }

    /// <summary>The CUDA driver API entry points for stream capture, bound at first use from libcuda (the library
    /// ILGPU itself runs on). Signatures as in cuda.h (CUDA 12); CUresult is an int, 0 = CUDA_SUCCESS; CUstream,
    /// CUgraph and CUgraphExec are opaque pointers.</summary>
    private static class Driver
    {
        /// <summary>CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: this thread may not call APIs that are unsafe during capture
        /// (allocation, synchronisation); if it does, capture fails instead of silently recording the wrong thing.</summary>
        public const int CaptureModeThreadLocal = 1;

        // CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
        public delegate int BeginCaptureFn(nint stream, int mode);
        // CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph);
        public delegate int EndCaptureFn(nint stream, out nint graph);
        // CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph, unsigned long long flags);
        public delegate int InstantiateFn(out nint exec, nint graph, ulong flags);
        // CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
        public delegate int LaunchFn(nint exec, nint stream);
        // CUresult cuGraphExecDestroy(CUgraphExec hGraphExec);  CUresult cuGraphDestroy(CUgraph hGraph);
        public delegate int DestroyFn(nint handle);
        // CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus* captureStatus_out, cuuint64_t* id_out,
        //     CUgraph* graph_out, const CUgraphNode** dependencies_out, const CUgraphEdgeData** edgeData_out, size_t* numDependencies_out);
        public delegate int CaptureInfoFn(nint stream, out int status, out ulong id, out nint graph, out nint dependencies, out nint edgeData, out nuint count);
        // CUresult cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode* dependencies,
        //     const CUgraphEdgeData* dependencyData, size_t numDependencies, unsigned int flags);
        public delegate int UpdateDependenciesFn(nint stream, nint[] dependencies, nint edgeData, nuint count, uint flags);

        /// <summary>CU_STREAM_SET_CAPTURE_DEPENDENCIES: the given nodes replace what the next captured node follows.</summary>
        private const uint SetCaptureDependencies = 1;

        private static readonly Lazy<nint> Library = new(() =>
            NativeLibrary.Load(OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1"));

        private static T Bind<T>(string name) where T : Delegate =>
            Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(Library.Value, name));

        private static readonly Lazy<BeginCaptureFn> BeginCapture = new(() => Bind<BeginCaptureFn>("cuStreamBeginCapture_v2"));
        private static readonly Lazy<EndCaptureFn> EndCapture = new(() => Bind<EndCaptureFn>("cuStreamEndCapture"));
        private static readonly Lazy<InstantiateFn> Instantiate = new(() => Bind<InstantiateFn>("cuGraphInstantiateWithFlags"));
        private static readonly Lazy<LaunchFn> LaunchGraph = new(() => Bind<LaunchFn>("cuGraphLaunch"));
        private static readonly Lazy<DestroyFn> DestroyExec = new(() => Bind<DestroyFn>("cuGraphExecDestroy"));
        private static readonly Lazy<DestroyFn> DestroyGraph = new(() => Bind<DestroyFn>("cuGraphDestroy"));
        private static readonly Lazy<CaptureInfoFn> CaptureInfo = new(() => Bind<CaptureInfoFn>("cuStreamGetCaptureInfo_v3"));
        private static readonly Lazy<UpdateDependenciesFn> UpdateDependencies = new(() => Bind<UpdateDependenciesFn>("cuStreamUpdateCaptureDependencies_v2"));

        public static int StreamBeginCapture(nint stream, int mode) => BeginCapture.Value(stream, mode);
        public static int StreamEndCapture(nint stream, out nint graph) => EndCapture.Value(stream, out graph);
        public static int GraphInstantiateWithFlags(out nint exec, nint graph, ulong flags) => Instantiate.Value(out exec, graph, flags);
        public static int GraphLaunch(nint exec, nint stream) => LaunchGraph.Value(exec, stream);
        public static int GraphExecDestroy(nint exec) => DestroyExec.Value(exec);
        public static int GraphDestroy(nint graph) => DestroyGraph.Value(graph);

        /// <summary>The nodes the next node captured on the stream will follow: the last ones captured so far.</summary>
        public static unsafe nint[] CaptureEnds(nint stream)
        {
            Check(CaptureInfo.Value(stream, out _, out _, out _, out nint nodes, out _, out nuint count), "cuStreamGetCaptureInfo_v3");
            // The driver's array is valid until the next call on the stream: copy it.
            return new ReadOnlySpan<nint>((void*)nodes, checked((int)count)).ToArray();
        }

        /// <summary>Makes the next node captured on the stream follow exactly <paramref name="nodes"/> (none: a root).</summary>
        public static void FollowOnly(nint stream, IEnumerable<nint> nodes)
        {
            var distinct = nodes.Distinct().ToArray();
            Check(UpdateDependencies.Value(stream, distinct, 0, (nuint)distinct.Length, SetCaptureDependencies), "cuStreamUpdateCaptureDependencies_v2");
        }

        // CUresult cuGraphClone(CUgraph* phGraphClone, CUgraph originalGraph);
        public delegate int CloneFn(out nint clone, nint graph);
        // CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode* from, CUgraphNode* to, CUgraphEdgeData* edgeData, size_t* numEdges);
        public delegate int GetEdgesFn(nint graph, nint from, nint to, nint edgeData, ref nuint count);
        // CUresult cuGraphAddDependencies_v2 and cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode* from,
        //     const CUgraphNode* to, const CUgraphEdgeData* edgeData, size_t numDependencies);
        public delegate int DependenciesFn(nint graph, nint from, nint to, nint edgeData, nuint count);
        // CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType* type);
        public delegate int NodeTypeFn(nint node, out int type);
        // CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS* nodeParams); func comes first.
        public delegate int KernelParamsFn(nint node, nint parameters);

        private static readonly Lazy<CloneFn> Clone = new(() => Bind<CloneFn>("cuGraphClone"));
        private static readonly Lazy<GetEdgesFn> GetEdges = new(() => Bind<GetEdgesFn>("cuGraphGetEdges_v2"));
        private static readonly Lazy<DependenciesFn> AddDependencies = new(() => Bind<DependenciesFn>("cuGraphAddDependencies_v2"));
        private static readonly Lazy<DependenciesFn> RemoveDependencies = new(() => Bind<DependenciesFn>("cuGraphRemoveDependencies_v2"));
        private static readonly Lazy<NodeTypeFn> NodeType = new(() => Bind<NodeTypeFn>("cuGraphNodeGetType"));
        private static readonly Lazy<KernelParamsFn> KernelParams = new(() => Bind<KernelParamsFn>("cuGraphKernelNodeGetParams_v2"));

        /// <summary>CU_GRAPH_NODE_TYPE_KERNEL.</summary>
        private const int KernelNode = 0;
        /// <summary>CUgraphEdgeData (from_port, to_port, type, 5 reserved bytes) of an edge that waits for the whole
        /// earlier kernel (all zero), and of one from CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC with
        /// CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC: the later kernel may start once every group of the earlier one has
        /// allowed it (griddepcontrol.launch_dependents) or ended.</summary>
        private const ulong OrdinaryEdge = 0, ProgrammaticEdge = 0x01_00_01;

        public static int GraphClone(out nint clone, nint graph) => Clone.Value(out clone, graph);

        /// <summary>Makes every ordinary edge between two kernel nodes whose later kernel is one of
        /// <paramref name="waiting"/> programmatic; returns how many. Throws where the driver refuses (the graph is then
        /// half changed: the caller drops it).</summary>
        public static unsafe int MakeProgrammatic(nint graph, IReadOnlySet<nint> waiting)
        {
            nuint count = 0;
            Check(GetEdges.Value(graph, 0, 0, 0, ref count), "cuGraphGetEdges_v2");
            var from = new nint[count];
            var to = new nint[count];
            var data = new ulong[count];
            fixed (nint* f = from, t = to)
            fixed (ulong* d = data)
                Check(GetEdges.Value(graph, (nint)f, (nint)t, (nint)d, ref count), "cuGraphGetEdges_v2");
            var chosen = Enumerable.Range(0, (int)count)
                .Where(i => data[i] == OrdinaryEdge && IsKernel(from[i]) && IsKernel(to[i]) && waiting.Contains(Function(to[i])))
                .ToArray();
            if (chosen.Length == 0) return 0;
            var sources = chosen.Select(i => from[i]).ToArray();
            var targets = chosen.Select(i => to[i]).ToArray();
            var ordinary = new ulong[chosen.Length];
            var programmatic = Enumerable.Repeat(ProgrammaticEdge, chosen.Length).ToArray();
            fixed (nint* f = sources, t = targets)
            fixed (ulong* o = ordinary, p = programmatic)
            {
                Check(RemoveDependencies.Value(graph, (nint)f, (nint)t, (nint)o, (nuint)chosen.Length), "cuGraphRemoveDependencies_v2");
                Check(AddDependencies.Value(graph, (nint)f, (nint)t, (nint)p, (nuint)chosen.Length), "cuGraphAddDependencies_v2");
            }
            return chosen.Length;
        }

        private static bool IsKernel(nint node)
        {
            Check(NodeType.Value(node, out int type), "cuGraphNodeGetType");
            return type == KernelNode;
        }

        /// <summary>The CUfunction a kernel node runs: the first field of its CUDA_KERNEL_NODE_PARAMS (72 bytes in
        /// CUDA 12 and 13; read into more, in case a later driver writes more).</summary>
        private static unsafe nint Function(nint node)
        {
            byte* parameters = stackalloc byte[256];
            Check(KernelParams.Value(node, (nint)parameters), "cuGraphKernelNodeGetParams_v2");
            return *(nint*)parameters;
        }

        public static void Check(int result, string call)
        {
            if (result != 0) throw new CudaGraphException($"{call} failed with CUresult {result}");
        }
    }
}

/// <summary>The driver refused a capture or graph launch; the plan falls back to plain launches.</summary>
internal sealed class CudaGraphException(string message) : Exception(message);
