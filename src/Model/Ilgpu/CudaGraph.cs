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
    /// (capture ended, nothing left recording) when the driver refuses.</summary>
    public static CudaGraph Capture(CudaStream stream, IEnumerable<Action> launches)
    {
        stream.Accelerator.Bind();
        Driver.Check(Driver.StreamBeginCapture(stream.StreamPtr, Driver.CaptureModeThreadLocal), "cuStreamBeginCapture");
        nint graph;
        try
        {
            foreach (var launch in launches) launch();
        }
        catch
        {
            // End the capture so the stream is usable again, then report the launch's own error.
            if (Driver.StreamEndCapture(stream.StreamPtr, out graph) == 0 && graph != 0) Driver.GraphDestroy(graph);
            throw;
        }
        // A capture the driver invalidated (an unsafe call in between) ends with an error and no graph.
        Driver.Check(Driver.StreamEndCapture(stream.StreamPtr, out graph), "cuStreamEndCapture");
        var instantiated = Driver.GraphInstantiateWithFlags(out nint exec, graph, 0);
        if (instantiated != 0) Driver.GraphDestroy(graph);
        Driver.Check(instantiated, "cuGraphInstantiateWithFlags");
        return new CudaGraph(stream, graph, exec);
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

        public static int StreamBeginCapture(nint stream, int mode) => BeginCapture.Value(stream, mode);
        public static int StreamEndCapture(nint stream, out nint graph) => EndCapture.Value(stream, out graph);
        public static int GraphInstantiateWithFlags(out nint exec, nint graph, ulong flags) => Instantiate.Value(out exec, graph, flags);
        public static int GraphLaunch(nint exec, nint stream) => LaunchGraph.Value(exec, stream);
        public static int GraphExecDestroy(nint exec) => DestroyExec.Value(exec);
        public static int GraphDestroy(nint graph) => DestroyGraph.Value(graph);

        public static void Check(int result, string call)
        {
            if (result != 0) throw new CudaGraphException($"{call} failed with CUresult {result}");
        }
    }
}

/// <summary>The driver refused a capture or graph launch; the plan falls back to plain launches.</summary>
internal sealed class CudaGraphException(string message) : Exception(message);
