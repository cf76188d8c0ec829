using Microsoft.Data.Sqlite;

/// <summary>
/// Outbound calls and SQL commands from every kind of flow a request's code starts: await,
/// Task.Run (and a continuation inside it), ThreadPool.QueueUserWorkItem, a System.Threading.Timer;
/// plus calls made outside the request: with the execution context's flow suppressed, and from a
/// worker thread started before any request. When a test plugin publishes
/// "Governor.Test.RunInContext" the flows run inside its context; otherwise in whatever context
/// the inbound request has.
/// </summary>
public static class ContextScenarios
{
    public static async Task<List<CaseResult>> Run(string self, string label, BackgroundCaller background, bool useProbe)
    {
        var results = new List<CaseResult>();
        var probe = useProbe ? AppContext.GetData("Governor.Test.RunInContext") as Func<string, Func<Task>, Task> : null;
        Func<Task> flows = () => Flows(self, label, results);
        if (probe is not null)
        {
            await probe(label, flows);
        }
        else
        {
            await flows();
        }

        // Outside any request: the flow of the execution context is suppressed ...
        Task<CaseResult> detached;
        using (ExecutionContext.SuppressFlow())
        {
            detached = Task.Run(() => Get(self, $"{label}:ctx-suppressed"));
        }

        results.Add(await detached);

        // ... and a thread that started with the app.
        results.Add(await background.Call($"{label}:ctx-background", $"{self}/headers"));
        return results;
    }

    private static async Task Flows(string self, string label, List<CaseResult> results)
    {
        results.Add(await Get(self, $"{label}:ctx-await"));
        results.Add(await Task.Run(() => Get(self, $"{label}:ctx-taskrun")));
        results.Add(await Task.Run(async () =>
        {
            await Task.Yield();
            await Task.Delay(1);
            return await Get(self, $"{label}:ctx-taskrun-continuation");
        }));

        var pooled = new TaskCompletionSource<CaseResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.QueueUserWorkItem(_ => pooled.SetResult(Get(self, $"{label}:ctx-threadpool").GetAwaiter().GetResult()));
        results.Add(await pooled.Task);

        var timed = new TaskCompletionSource<CaseResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        using (var timer = new Timer(_ => timed.TrySetResult(Get(self, $"{label}:ctx-timer").GetAwaiter().GetResult()), null, 20, Timeout.Infinite))
        {
            results.Add(await timed.Task);
        }

        // A SQL command from a Task.Run continuation.
        results.Add(await Task.Run(async () =>
        {
            await Task.Yield();
            using var connection = new SqliteConnection("Data Source=:memory:");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT 42 /*case:{label}:ctx-sql*/";
            object? value = await command.ExecuteScalarAsync();
            return new CaseResult($"{label}:ctx-sql", null, Convert.ToString(value), null, null);
        }));
    }

    private static async Task<CaseResult> Get(string self, string name)
    {
        using var http = new HttpClient();
        return await HttpScenarios.Get(http, name, $"{self}/headers");
    }
}
