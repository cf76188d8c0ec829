using System.Runtime.ExceptionServices;

namespace Governor.Patching;

/// <summary>
/// Runs the postfixes and finalizers of an async target when its task completes. Called by
/// generated dispatchers; <c>completion</c> is a generated
/// <c>delegate*&lt;object?[], ref T, ref Exception?, void&gt;</c> over the captured instance,
/// arguments and states (for Task and ValueTask, T is object and unused).
/// </summary>
internal static class AsyncPatchSupport
{
    public static Task<T> ContinueTask<T>(Task<T> task, object?[] captured, nint completion)
    {
        if (task is null)
        {
            return task!;
        }

        if (task.IsCompleted)
        {
            return Complete(task, captured, completion);
        }

        return Await(task, captured, completion);
    }

    public static Task ContinueTask(Task task, object?[] captured, nint completion)
    {
        if (task is null)
        {
            return task!;
        }

        return ContinueTask(AsObjectTask(task), captured, completion);
    }

    public static ValueTask<T> ContinueValueTask<T>(ValueTask<T> task, object?[] captured, nint completion)
    {
        if (task.IsCompletedSuccessfully)
        {
            T result = task.Result;
            Exception? exception = null;
            Invoke(completion, captured, ref result, ref exception);
            return exception is null ? new ValueTask<T>(result) : new ValueTask<T>(FromException<T>(exception));
        }

        return new ValueTask<T>(ContinueTask(task.AsTask(), captured, completion));
    }

    public static ValueTask ContinueValueTask(ValueTask task, object?[] captured, nint completion)
    {
        if (task.IsCompletedSuccessfully)
        {
            object? result = null;
            Exception? exception = null;
            Invoke(completion, captured, ref result, ref exception);
            return exception is null ? default : new ValueTask(FromException<object?>(exception));
        }

        return new ValueTask(ContinueTask(task.AsTask(), captured, completion));
    }

    /// <summary>A synchronous throw of an async target becomes a faulted task, so finalizers see it on completion.</summary>
    public static Task<T> FaultedTask<T>(Exception exception) => FromException<T>(exception);

    public static Task FaultedTask(Exception exception) => FromException<object?>(exception);

    public static ValueTask<T> FaultedValueTask<T>(Exception exception) => new(FromException<T>(exception));

    public static ValueTask FaultedValueTask(Exception exception) => new(FromException<object?>(exception));

    private static Task<T> Complete<T>(Task<T> task, object?[] captured, nint completion)
    {
        T result = default!;
        Exception? exception = null;
        if (task.IsCompletedSuccessfully)
        {
            result = task.Result;
        }
        else
        {
            exception = Unwrap(task);
        }

        Invoke(completion, captured, ref result, ref exception);
        return exception is null ? Task.FromResult(result) : FromException<T>(exception);
    }

    private static async Task<T> Await<T>(Task<T> task, object?[] captured, nint completion)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch
        {
            // Observed through the task below, with the original exception object.
        }

        var completed = Complete(task, captured, completion);
        return await completed.ConfigureAwait(false);
    }

    private static async Task<object?> AsObjectTask(Task task)
    {
        await task.ConfigureAwait(false);
        return null;
    }

    private static Exception Unwrap(Task task) =>
        task.IsCanceled ? new TaskCanceledException(task) : task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException! : task.Exception;

    private static Task<T> FromException<T>(Exception exception) =>
        exception is OperationCanceledException canceled ? Task.FromCanceled<T>(canceled.CancellationToken.IsCancellationRequested ? canceled.CancellationToken : new CancellationToken(true)) : Task.FromException<T>(exception);

    private static unsafe void Invoke<T>(nint completion, object?[] captured, ref T result, ref Exception? exception) =>
        ((delegate*<object?[], ref T, ref Exception?, void>)completion)(captured, ref result, ref exception);

    internal static void Rethrow(Exception exception) => ExceptionDispatchInfo.Throw(exception);
}
