using System.Diagnostics;

namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>Waits for a condition that the service reaches on its own threads.</summary>
public static class Eventually
{
    public static async Task True(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit) throw new TimeoutException($"timed out after {limit.TotalSeconds} s waiting for {what}");
            await Task.Delay(20);
        }
    }
}
