using System.Collections.Concurrent;
using System.Diagnostics;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// An open-loop load generator: requests are started at a fixed rate (not one after another), over
/// one keep-alive HttpClient, the way a busy upstream calls a Service. It counts failures instead
/// of timing anything tightly: a request fails when it throws or answers anything but 2xx.
/// </summary>
public sealed class LoadGenerator : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly string _path;
    private readonly int _rate;
    private readonly int _maxInFlight;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<string, int> _servedBy = new();
    private readonly List<Task> _requests = new();
    private Task? _loop;
    private long _sent;
    private long _ok;
    private long _failed;
    private long _skipped;
    private int _inFlight;
    private Stopwatch _clock = new();

    public LoadGenerator(string baseUrl, string path, int ratePerSecond, int maxInFlight = 128)
    {
        _client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 64,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        {
            BaseAddress = new Uri(baseUrl),
            Timeout = TimeSpan.FromSeconds(15),
        };
        _path = path;
        _rate = ratePerSecond;
        _maxInFlight = maxInFlight;
    }

    public long Sent => Interlocked.Read(ref _sent);

    public long Succeeded => Interlocked.Read(ref _ok);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Requests not started because <c>maxInFlight</c> were already running.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    public TimeSpan Duration { get; private set; }

    public double AchievedRate => Duration.TotalSeconds > 0 ? Sent / Duration.TotalSeconds : 0;

    public IReadOnlyList<string> FailureSamples => _failures.Take(20).ToArray();

    public IReadOnlyDictionary<string, int> ServedBy => _servedBy;

    public void Start()
    {
        _clock = Stopwatch.StartNew();
        _loop = Task.Run(LoopAsync);
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        if (_loop is not null)
        {
            await _loop;
        }

        Duration = _clock.Elapsed;
        Task[] pending;
        lock (_requests)
        {
            pending = _requests.ToArray();
        }

        await Task.WhenAll(pending);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _client.Dispose();
    }

    private async Task LoopAsync()
    {
        long issued = 0;
        while (!_stop.IsCancellationRequested)
        {
            long due = (long)(_clock.Elapsed.TotalSeconds * _rate);
            while (issued < due)
            {
                issued++;
                if (Volatile.Read(ref _inFlight) >= _maxInFlight)
                {
                    Interlocked.Increment(ref _skipped);
                    continue;
                }

                var task = SendAsync();
                lock (_requests)
                {
                    _requests.Add(task);
                    if (_requests.Count > 4096)
                    {
                        _requests.RemoveAll(t => t.IsCompleted);
                    }
                }
            }

            await Task.Delay(2);
        }
    }

    private async Task SendAsync()
    {
        Interlocked.Increment(ref _inFlight);
        Interlocked.Increment(ref _sent);
        try
        {
            using var response = await _client.GetAsync(_path);
            string body = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _ok);
                _servedBy.AddOrUpdate(body, 1, (_, n) => n + 1);
            }
            else
            {
                Fail($"{(int)response.StatusCode} {body}");
            }
        }
        catch (Exception ex)
        {
            Fail($"{ex.GetType().Name}: {ex.Message}{(ex.InnerException is { } inner ? $" ({inner.GetType().Name}: {inner.Message})" : string.Empty)}");
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void Fail(string what)
    {
        Interlocked.Increment(ref _failed);
        if (_failures.Count < 50)
        {
            _failures.Enqueue($"{_clock.Elapsed.TotalSeconds:0.000} {what}");
        }
    }
}
