using Xunit;

namespace Governor.Plugins.Throttle.Tests.Fakes;

internal static class ValueTaskExtensions
{
    /// <summary>The result of a handler call that must have completed synchronously (the pass and reject paths).</summary>
    public static T Completed<T>(this ValueTask<T> task)
    {
        Assert.True(task.IsCompletedSuccessfully, "the handler went asynchronous on a path that must stay synchronous");
        return task.Result;
    }
}
