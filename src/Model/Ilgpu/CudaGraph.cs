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
        var instantiated = Driver.GraphInstantiateWithFlags(out nint exec, graph, 0);
        if (instantiated != 0) Driver.GraphDestroy(graph);
        Driver.Check(instantiated, "cuGraphInstantiateWithFlags");
        return new CudaGraph(stream, graph, exec);
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

        public static void Check(int result, string call)
        {
            if (result != 0) throw new CudaGraphException($"{call} failed with CUresult {result}");
        }
    }
}

/// <summary>The driver refused a capture or graph launch; the plan falls back to plain launches.</summary>
internal sealed class CudaGraphException(string message) : Exception(message);
