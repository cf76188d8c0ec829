using System.Runtime.CompilerServices;

/// <summary>
/// Reads what a Governor test plugin publishes as a plain BCL delegate
/// (<c>AppContext.GetData("TestProbe.RequestContext")</c>, a <c>Func&lt;string&gt;</c> returning the
/// value it put on the current request context) from every kind of flow the app may start:
/// directly, after await, in Task.Run, on the thread pool, in a timer, and in a work item that
/// does not flow the ExecutionContext. The app has no reference to Governor.
/// </summary>
internal static class ContextProbe
{
    private static Timer? s_background;
    private static string s_backgroundValue = "(not run)";

    public static void StartBackground()
    {
        // Started outside any request: must see no request context.
        s_background = new Timer(_ => Volatile.Write(ref s_backgroundValue, Read()), null, 0, 100);
    }

    public static async Task<string> Report()
    {
        string direct = Read();
        await Task.Yield();
        string afterAwait = Read();
        string taskRun = await Task.Run(async () =>
        {
            await Task.Delay(1);
            return Read();
        });
        var pooled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.QueueUserWorkItem(_ => pooled.SetResult(Read()));
        var timed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var timer = new Timer(_ => timed.TrySetResult(Read()), null, 5, Timeout.Infinite);
        var unflowed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.UnsafeQueueUserWorkItem(_ => unflowed.SetResult(Read()), null);
        return $"direct={direct};await={afterAwait};taskrun={taskRun};threadpool={await pooled.Task};timer={await timed.Task};unsafe={await unflowed.Task};background={Volatile.Read(ref s_backgroundValue)}";
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string Read() => AppContext.GetData("TestProbe.RequestContext") is Func<string> probe ? probe() : "(no probe)";
}
