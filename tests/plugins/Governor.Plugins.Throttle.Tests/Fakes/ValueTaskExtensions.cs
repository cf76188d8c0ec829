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

    /// <summary>The result of a pipeline run that must have finished by now (the clock moved past its slot, or its client left).</summary>
    public static T Completed<T>(this Task<T> task)
    {
        Assert.True(task.IsCompletedSuccessfully, $"the call has not finished ({task.Status})");
        return task.Result;
    }
}
