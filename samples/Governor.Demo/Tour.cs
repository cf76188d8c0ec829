using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Governor.Testing;

namespace Governor.Demo;

/// <summary>
/// The tour: starts the shop with the agent attached, runs each step, and writes the summary.
/// Steps whose plugin is not in the agent home say so and claim nothing.
/// </summary>
internal sealed partial class Tour
{
    private const string Gateway = "Shop.Gateway";
    private const string Orders = "Shop.Orders";
    private const string Inventory = "Shop.Inventory";
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(90);

    private readonly Options _options;
    private readonly string _root;
    private readonly Dictionary<string, Instance> _running = new(StringComparer.Ordinal);
    private Shop _shop = null!;

    public Tour(Options options, string root)
    {
        _options = options;
        _root = root;
    }

    private bool Quick => _options.Quick;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.Now;
        var clock = Stopwatch.StartNew();
        if (!File.Exists(Path.Combine(_options.AgentHome, "Governor.StartupHook.dll")))
        {
            throw new DemoException($"no agent home at {_options.AgentHome}: build it with 'dotnet build -c Release' (dotnet run --project samples/Governor.Demo does)");
        }

        var dlls = ReadServicePaths();
        var work = new TempDirectory("governor-demo");
        using var cleanup = _options.Keep ? null : work;
        _shop = new Shop(_options.AgentHome, work.Path, dlls);
        string loadBefore = MachineInfo.LoadAverage();
        Ui.Title($"Governor guided tour ({(Quick ? "quick" : "full")}): the sample shop, gateway -> orders -> inventory (gRPC), with the agent attached");
        Ui.Info($"agent home {_options.AgentHome}");
        Ui.Info($"plugins in the home: {string.Join(", ", _shop.Plugins())}");
        Ui.Info($"services, rules and data in {work.Path}; {Environment.ProcessorCount} cores, load average {loadBefore}");

        var steps = new List<(string Name, string Title, string[] Plugins, Func<StepResult, CancellationToken, Task> Run)>
        {
            ("gray", "Full-link gray: traffic stays in its lane, and falls back", new[] { "gray", "aspnetcore", "httpclient" }, GrayAsync),
            ("throttle", "Throttling: passed and blocked per second", new[] { "throttle", "aspnetcore" }, ThrottleAsync),
            ("sql", "Slow SQL: the breaker opens and recovers", new[] { "sqlguard", "adonet" }, SqlAsync),
            ("restart", "Rolling restart: zero failed requests", new[] { "lossless", "aspnetcore" }, RestartAsync),
            ("warmup", "Warm-up: the first requests after readiness", new[] { "lossless", "aspnetcore" }, WarmupAsync),
        };
        steps.RemoveAll(s => !_options.Steps.Contains(s.Name));

        var results = new List<StepResult>();
        try
        {
            await StartShopAsync(steps.Any(s => s.Name == "gray") && _shop.HasPlugin("gray"), cancellationToken);
            int number = 0;
            foreach (var (name, title, plugins, run) in steps)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Ui.Step(++number, steps.Count, title);
                var missing = plugins.Where(p => !_shop.HasPlugin(p)).ToList();
                StepResult result;
                if (missing.Count > 0)
                {
                    result = StepResult.Skipped(name, title, missing);
                }
                else
                {
                    result = new StepResult(name, title);
                    var stepClock = Stopwatch.StartNew();
                    try
                    {
                        await run(result, cancellationToken);
                    }
                    catch (Exception ex) when (ex is DemoException or HttpRequestException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
                    {
                        result.Status = StepStatus.Error;
                        result.Headline = "the step could not run: " + FirstLine(ex.Message);
                        result.Notes.Add(ex.Message);
                    }

                    result.Facts["stepSeconds"] = Math.Round(stepClock.Elapsed.TotalSeconds, 1);
                }

                Ui.Result(result);
                results.Add(result);
            }
        }
        finally
        {
            foreach (var instance in _running.Values)
            {
                instance.Dispose();
            }

            Shop.StopAll();
        }

        string machine = $"{Environment.ProcessorCount} cores ({MachineInfo.CpuModel()}), load average {loadBefore} at the start, {MachineInfo.LoadAverage()} at the end";
        var summary = Report.Summary(_options, results, _shop.Plugins(), started, clock.Elapsed, machine);
        Report.Write(_options.OutputDirectory, summary, results);

        Console.WriteLine();
        Ui.Title("Summary");
        foreach (var r in results)
        {
            Console.WriteLine($"  {r.Title,-58} {Ui.Paint(StepResult.Label(r.Status), StepResult.Color(r.Status))}");
            Console.WriteLine($"      {r.Headline}");
        }

        Console.WriteLine();
        int skipped = results.Count(r => r.Status == StepStatus.Skipped);
        Console.WriteLine($"  {results.Count(r => r.Status == StepStatus.Pass)} passed, {results.Count(r => r.Status is StepStatus.Fail or StepStatus.Error)} failed, {skipped} skipped{(skipped > 0 ? " (plugin not installed: nothing shown, nothing claimed)" : string.Empty)}");
        Console.WriteLine($"  summary: {Path.Combine(_options.OutputDirectory, "summary.json")}");
        Console.WriteLine($"  report:  file://{Path.Combine(_options.OutputDirectory, "report.html")}");
        Console.WriteLine($"  took {clock.Elapsed.TotalSeconds:0} s");
        return results.Any(r => r.Status is StepStatus.Fail or StepStatus.Error) ? 1 : 0;
    }

    /// <summary>
    /// Base lane: inventory, orders, gateway (v1). Gray lane: inventory and orders v2 with
    /// GOVERNOR_TAG=gray. Orders always calls the base inventory's address and the gateway the
    /// base orders' address, as they would call a Service name: the agent does the routing.
    /// </summary>
    private async Task StartShopAsync(bool withGray, CancellationToken cancellationToken)
    {
        int inventoryPort = AppProcess.FreePort();
        int inventoryGrayPort = AppProcess.FreePort();
        int ordersPort = AppProcess.FreePort();
        int ordersGrayPort = AppProcess.FreePort();
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["INVENTORY_BASE"] = $"127.0.0.1:{inventoryPort}",
            ["INVENTORY_GRAY"] = $"127.0.0.1:{inventoryGrayPort}",
            ["ORDERS_BASE"] = $"127.0.0.1:{ordersPort}",
            ["ORDERS_GRAY"] = $"127.0.0.1:{ordersGrayPort}",
            ["THROTTLE_THRESHOLD"] = ThrottleThreshold.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (file, plugin) in new[] { ("gray.yaml", "gray"), ("throttle.yaml", "throttle"), ("sqlguard.yaml", "sqlguard") })
        {
            // A rule kind whose plugin is not installed would make the agent reject the file.
            if (_shop.HasPlugin(plugin))
            {
                _shop.WriteRules(RulePath(file), values);
            }
        }

        Ui.Info($"rules: {string.Join(", ", Directory.EnumerateFiles(_shop.RulesDirectory, "*.yaml").Select(Path.GetFileName))} (from samples/rules, addresses filled in)");
        var inventoryUrl = $"http://127.0.0.1:{inventoryPort}";
        var fast = new Dictionary<string, string?> { ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "1s" };
        var starts = new List<(InstanceSpec Spec, int Port)>
        {
            (new InstanceSpec(Inventory, "inventory", "v1", null, true, new(fast)), inventoryPort),
            (new InstanceSpec(Orders, "orders", "v1", null, true, new(fast) { ["INVENTORY_URL"] = inventoryUrl }), ordersPort),
            (new InstanceSpec(Gateway, "gateway", "v1", null, true, new(fast) { ["ORDERS_URL"] = $"http://127.0.0.1:{ordersPort}", ["GOVERNOR_PLUGINS__GRAY__TRUSTINBOUNDLABEL"] = "false" }), 0),
        };
        if (withGray)
        {
            starts.Add((new InstanceSpec(Inventory, "inventory-gray", "v2", "gray", true, new(fast)), inventoryGrayPort));
            starts.Add((new InstanceSpec(Orders, "orders-gray", "v2", "gray", true, new(fast) { ["INVENTORY_URL"] = inventoryUrl }), ordersGrayPort));
        }

        var clock = Stopwatch.StartNew();
        foreach (var (spec, port) in starts)
        {
            _running[spec.Name] = _shop.Start(spec with { Service = spec.Service }, port);
        }

        Ui.Info($"starting {string.Join(", ", starts.Select(s => s.Spec.Name))} with the agent attached ...");
        foreach (var instance in _running.Values)
        {
            await instance.WaitReadyAsync(s_startTimeout, cancellationToken);
            // Rules and plugins are in place once the agent's status file says its plugins started.
            await WaitForAgentAsync(instance, cancellationToken);
            Ui.Info($"{instance.Name,-15} {instance.Url} pid {instance.Process.Id} {instance.Spec.Version}{(instance.Spec.Tag is { } t ? " lane " + t : string.Empty)}: ready");
        }

        Ui.Info($"all ready after {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task WaitForAgentAsync(Instance instance, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (instance.Status.TryRead() is { } status && status.TryGetProperty("plugins", out var plugins)
                && plugins.EnumerateArray().All(p => p.GetProperty("state").GetString() is "Started" or "Disabled" or "Failed"))
            {
                var failed = plugins.EnumerateArray().Where(p => p.GetProperty("state").GetString() == "Failed").Select(p => $"{p.GetProperty("name").GetString()}: {p.GetProperty("reason").GetString()}").ToList();
                if (failed.Count > 0)
                {
                    throw new DemoException($"{instance.Name}: plugin(s) failed to start: {string.Join("; ", failed)}");
                }

                if (status.TryGetProperty("rules", out var rules) && rules.TryGetProperty("errors", out var errors) && errors.GetArrayLength() > 0)
                {
                    throw new DemoException($"{instance.Name}: the tour's rules have errors: {errors.GetRawText()}");
                }

                return;
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new DemoException($"{instance.Name}: the agent wrote no status within 30 s (is it attached? see {instance.Status.Path})");
    }

    private string RulePath(string file)
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "rules", file);
        return File.Exists(beside) ? beside : Path.Combine(_root, "samples", "rules", file);
    }

    private static Dictionary<string, string> ReadServicePaths()
    {
        string file = Path.Combine(AppContext.BaseDirectory, "services.txt");
        if (!File.Exists(file))
        {
            throw new DemoException($"{file} is missing: build the tour with 'dotnet build samples/Governor.Demo' (it writes where the sample services were built)");
        }

        var paths = File.ReadAllLines(file).Where(l => l.Contains('=', StringComparison.Ordinal)).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        foreach (string service in new[] { Gateway, Orders, Inventory })
        {
            if (!paths.TryGetValue(service, out string? dll) || !File.Exists(dll))
            {
                throw new DemoException($"the sample service {service} is not built (listed in {file}: {(dll ?? "no")}); rebuild with 'dotnet build samples/Governor.Demo -c Release'");
            }
        }

        return paths;
    }



    private static string FirstLine(string text) => text.Split('\n')[0];

    private static JsonArray Array<T>(IEnumerable<T> values) => new(values.Select(v => JsonSerializer.SerializeToNode(v)).ToArray());
}
