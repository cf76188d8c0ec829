using System.CommandLine;
using System.Text.Json;
using Governor.Cli.Diagnostics;
using Governor.Cli.Output;
using Microsoft.Diagnostics.NETCore.Client;

namespace Governor.Cli.Commands;

/// <summary>
/// <c>governor ps</c>: the .NET processes visible over diagnostics IPC (this user, this TMPDIR)
/// and, for each, whether Governor is loaded and which version. All processes are asked at
/// once, each bounded by --timeout, so the command takes about one timeout at most.
/// </summary>
internal static class PsCommand
{
    public static Command Create(Terminal terminal)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array (pid, command, governor, version, app, tag, plugins, source, note) for scripts." };
        var timeout = Cli.TimeoutOption(1, "each process's status event");
        var command = new Command("ps", "List the .NET processes of this user and machine and whether Governor is loaded in each (version, plugins started).");
        command.Options.Add(json);
        command.Options.Add(timeout);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var wait = TimeSpan.FromSeconds(parse.GetValue(timeout));
            int self = Environment.ProcessId;
            var pids = DotNetProcesses.List().Where(p => p != self).ToList();
            bool progress = terminal.IsTerminal && !Console.IsErrorRedirected && pids.Count > 0;
            if (progress)
            {
                terminal.Error.Write($"Asking {pids.Count} .NET process(es)…");
            }

            var rows = await Task.WhenAll(pids.Select(pid => ProbeAsync(pid, wait, cancellationToken))).ConfigureAwait(false);
            if (progress)
            {
                terminal.Error.Write("\r\u001b[K");
            }

            if (parse.GetValue(json))
            {
                terminal.Out.WriteLine(JsonSerializer.Serialize(rows.Select(r => r.ToJson()), new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Ok;
            }

            if (rows.Length == 0)
            {
                terminal.Out.WriteLine("No .NET processes found for this user (diagnostic ports in " + Path.GetTempPath() + ").");
                return ExitCodes.Ok;
            }

            var table = new Table("PID", "GOVERNOR", "PLUGINS", "APP", "COMMAND");
            foreach (var r in rows)
            {
                string governor = r.Version is null ? "-" : r.Source == "file" ? $"{r.Version} (file)" : r.Version;
                string plugins = r.Version is null ? "-" : $"{r.Started}/{r.Total} started" + (r.Failed > 0 ? $", {r.Failed} failed" : string.Empty);
                table.AddStyled(
                    (r.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), Style.None),
                    (governor, r.Version is null ? Style.Dim : Style.Good),
                    (plugins, r.Failed > 0 ? Style.Bad : r.Version is null ? Style.Dim : Style.None),
                    (r.App ?? "-", Style.None),
                    (r.Command, Style.Dim));
            }

            table.Write(terminal);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<PsRow> ProbeAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string commandLine = TargetProcess.CommandLine(pid);
        var environmentTask = Task.Run(() => TargetProcess.Environment(pid), cancellationToken);
        string? json = null;
        string? source = null;
        string? note = null;
        try
        {
            json = await GovernorSession.ReadOnceAsync(pid, timeout, cancellationToken).ConfigureAwait(false);
            source = json is null ? null : "eventpipe";
        }
        catch (CliException ex)
        {
            note = ex.Message;
        }

        var environment = await environmentTask.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null, TaskScheduler.Default).ConfigureAwait(false);
        if (json is null)
        {
            // No live answer: the status file still tells a loaded agent apart from none.
            string file = TargetProcess.StatusFilePath(pid, environment);
            try
            {
                if (File.Exists(file))
                {
                    json = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
                    source = "file";
                }
            }
            catch (IOException)
            {
                // Being rewritten or removed: treat as absent.
            }
        }

        if (json is not null)
        {
            try
            {
                var status = StatusView.Parse(json);
                if (status.TryGetProperty("pid", out var p) && p.GetInt32() == pid)
                {
                    var plugins = StatusView.Items(status, "plugins").Select(x => StatusView.Str(x, "state")).ToList();
                    return new PsRow(pid, commandLine, StatusView.Str(status, "version"), StatusView.Str(status, "app"), StatusView.Str(status, "tag"), plugins.Count(s => s == "Started"), plugins.Count, plugins.Count(s => s == "Failed"), source, null);
                }
            }
            catch (Exception ex) when (ex is CliException or InvalidOperationException or FormatException)
            {
                note = ex.Message;
            }
        }

        return new PsRow(pid, commandLine, null, null, null, 0, 0, 0, null, note ?? TargetProcess.NoGovernorReason(environment));
    }

    private sealed record PsRow(int Pid, string Command, string? Version, string? App, string? Tag, int Started, int Total, int Failed, string? Source, string? Note)
    {
        public object ToJson() => new
        {
            pid = Pid,
            command = Command,
            governor = Version is not null,
            version = Version,
            app = App,
            tag = Tag,
            plugins = Version is null ? null : new { started = Started, total = Total, failed = Failed },
            source = Source,
            note = Note,
        };
    }
}
