using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Governor.Cli.Diagnostics;
using Governor.Cli.Output;

namespace Governor.Cli.Commands;

/// <summary>
/// <c>governor status &lt;pid&gt; [--watch] [--json]</c>: the agent's live status, read over
/// EventPipe from the <c>Governor</c> EventSource (its Status event carries the same JSON as the
/// status file). Falls back to the status file, with a warning, only when the process has the
/// hook but sends no event (e.g. an EventPipe session limit was hit).
/// </summary>
internal static class StatusCommand
{
    public static Command Create(Terminal terminal)
    {
        var pid = PidArgument();
        var watch = new Option<bool>("--watch", "-w") { Description = "Keep reading: refresh in place every second (on a terminal), or one JSON document per line with --json." };
        var json = new Option<bool>("--json") { Description = "Print the raw status JSON (schema governor-status/v1) for scripts." };
        var timeout = Cli.TimeoutOption(3, "the first status event");
        var command = new Command("status", "Show what Governor does inside a process, live: plugins with state and reason, interception points, rules and their errors, per-resource counters.");
        command.Arguments.Add(pid);
        command.Options.Add(watch);
        command.Options.Add(json);
        command.Options.Add(timeout);
        command.SetAction(async (parse, cancellationToken) =>
        {
            int id = parse.GetValue(pid);
            var wait = TimeSpan.FromSeconds(parse.GetValue(timeout));
            TargetProcess.EnsureDotNet(id);
            using var interrupt = new Interrupt(cancellationToken);
            return parse.GetValue(watch)
                ? await WatchAsync(terminal, id, parse.GetValue(json), wait, interrupt.Token).ConfigureAwait(false)
                : await OnceAsync(terminal, id, parse.GetValue(json), wait, interrupt.Token).ConfigureAwait(false);
        });
        return command;
    }

    public static Argument<int> PidArgument() => new("pid")
    {
        Description = "The process id (see 'governor ps').",
        CustomParser = r =>
        {
            string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0)
            {
                return value;
            }

            r.AddError($"'{text}' is not a process id: give a positive number, e.g. 'governor status 1234' (see 'governor ps').");
            return 0;
        },
    };

    private static async Task<int> OnceAsync(Terminal terminal, int pid, bool json, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string? live = await GovernorSession.ReadOnceAsync(pid, timeout, cancellationToken).ConfigureAwait(false);
        string source = "live (EventPipe)";
        if (live is null)
        {
            (live, source) = FallbackOrThrow(terminal, pid, timeout);
        }

        var status = StatusView.Parse(live);
        if (json)
        {
            terminal.Out.WriteLine(live.Trim());
        }
        else
        {
            StatusView.Write(terminal, status, source);
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> WatchAsync(Terminal terminal, int pid, bool json, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Events arrive on TraceEvent's thread; rendering happens here, one at a time, newest wins.
        var updates = Channel.CreateBounded<string>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        var session = await GovernorSession.StartAsync(pid, s => updates.Writer.TryWrite(s), cancellationToken).ConfigureAwait(false);
        _ = session.Completion.ContinueWith(_ => updates.Writer.TryComplete(), TaskScheduler.Default);
        bool inPlace = terminal.IsTerminal && !json;
        int shown = 0;
        try
        {
            if (inPlace)
            {
                terminal.Out.Write("\u001b[?25l");
            }

            while (true)
            {
                string next;
                using (var first = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    if (shown == 0)
                    {
                        first.CancelAfter(timeout);
                    }

                    try
                    {
                        if (!await updates.Reader.WaitToReadAsync(first.Token).ConfigureAwait(false))
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw NoGovernor(pid, timeout);
                    }

                    updates.Reader.TryRead(out next!);
                }

                var status = StatusView.Parse(next);
                if (json)
                {
                    terminal.Out.WriteLine(StatusView.Compact(status));
                }
                else
                {
                    var buffer = new StringWriter();
                    var view = new Terminal(buffer, terminal.Error, terminal.IsTerminal, terminal.Width, terminal.Color);
                    StatusView.Write(view, status, $"live (EventPipe), refreshed {DateTime.Now:HH:mm:ss}; Ctrl+C to stop");
                    // In place: home the cursor and clear, then draw the whole frame in one write.
                    terminal.Out.Write(inPlace ? "\u001b[H\u001b[2J" + buffer : (shown > 0 ? Environment.NewLine : string.Empty) + buffer);
                }

                terminal.Out.Flush();
                shown++;
            }

            terminal.Error.WriteLine($"governor: process {pid} exited.");
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        finally
        {
            if (inPlace)
            {
                terminal.Out.Write("\u001b[?25h");
            }

            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static (string Json, string Source) FallbackOrThrow(Terminal terminal, int pid, TimeSpan timeout)
    {
        if (!TargetProcess.Exists(pid))
        {
            throw new CliException(ExitCodes.TargetNotFound, $"process {pid} exited.");
        }

        var environment = TargetProcess.Environment(pid);
        string file = TargetProcess.StatusFilePath(pid, environment);
        if (File.Exists(file))
        {
            try
            {
                string text = File.ReadAllText(file);
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.TryGetProperty("pid", out var p) && p.GetInt32() == pid)
                {
                    terminal.WriteWarning($"no live status event from process {pid} within {timeout.TotalSeconds:0.#} s; showing its status file {file}.");
                    return (text, $"status file, updated {StatusView.Str(doc.RootElement, "updatedAt")}");
                }
            }
            catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException or FormatException)
            {
                // Half-written or foreign: report the missing agent below.
            }
        }

        throw NoGovernor(pid, timeout, environment);
    }

    private static CliException NoGovernor(int pid, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        environment ??= TargetProcess.Environment(pid);
        return new CliException(
            ExitCodes.NoGovernor,
            $"Governor is not loaded in process {pid} ({TargetProcess.CommandLine(pid)}): no status within {timeout.TotalSeconds:0.#} s; {TargetProcess.NoGovernorReason(environment)}.",
            "Start the program with 'governor run -- <command>', or add the lines of 'governor env' to its environment and restart it.");
    }
}
