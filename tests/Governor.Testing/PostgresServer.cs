using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Governor.Testing;

/// <summary>How to start a <see cref="PostgresServer"/>.</summary>
public sealed record PostgresServerOptions
{
    /// <summary>The database created after start (the server also has <c>postgres</c>).</summary>
    public string Database { get; init; } = "governor";

    /// <summary>Preload pg_stat_statements and create the extension in <see cref="Database"/>, when this PostgreSQL build has it.</summary>
    public bool PgStatStatements { get; init; } = true;

    /// <summary>Write every statement to the server log (<c>log_statement = all</c>), for <see cref="PostgresServer.CountLoggedStatements"/>.</summary>
    public bool LogStatements { get; init; }

    /// <summary>Extra postgresql.conf settings, e.g. <c>["max_connections"] = "50"</c>.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A private PostgreSQL server for tests, from the server binaries on this machine (PATH, or
/// /usr/lib/postgresql/&lt;version&gt;/bin, or GOVERNOR_PG_BIN): <c>initdb</c> into a temp
/// directory, <c>pg_ctl start</c> on a free loopback port with its unix socket in the same
/// directory, a database created, and everything stopped and deleted on dispose. initdb and
/// postgres refuse to run as root, so as root the server runs as the <c>postgres</c> user
/// (through runuser) in a directory handed over to it; as anyone else it runs as that user.
/// Authentication is trust, durability is off (fsync) — it is a throwaway.
/// <para>
/// Server-side counting: <see cref="StatementCalls"/> reads pg_stat_statements (preloaded when
/// the build has it); <see cref="CountLoggedStatements"/> parses the server log when started
/// with <see cref="PostgresServerOptions.LogStatements"/>.
/// </para>
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private const string SuperUser = "postgres";

    private readonly TempDirectory _dir;
    private readonly bool _asPostgresUser;
    private bool _running;

    private PostgresServer(TempDirectory dir, string binDirectory, bool asPostgresUser, int port, PostgresServerOptions options)
    {
        _dir = dir;
        BinDirectory = binDirectory;
        _asPostgresUser = asPostgresUser;
        Port = port;
        Options = options;
        DataDirectory = dir.Combine("data");
        SocketDirectory = dir.Combine("sock");
        LogFile = dir.Combine("server.log");
    }

    public PostgresServerOptions Options { get; }

    public string BinDirectory { get; }

    public string DataDirectory { get; }

    /// <summary>Where the server's unix socket is (use it as Host to connect through the socket).</summary>
    public string SocketDirectory { get; }

    public string LogFile { get; }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public string User => SuperUser;

    public string Database => Options.Database;

    /// <summary>True when pg_stat_statements is preloaded and created in <see cref="Database"/>.</summary>
    public bool HasPgStatStatements { get; private set; }

    /// <summary>An Npgsql-style connection string over TCP to <paramref name="database"/> (default: <see cref="Database"/>).</summary>
    public string ConnectionString(string? database = null) => $"Host={Host};Port={Port};Username={User};Database={database ?? Database}";

    /// <summary>The same through the unix socket.</summary>
    public string SocketConnectionString(string? database = null) => $"Host={SocketDirectory};Port={Port};Username={User};Database={database ?? Database}";

    /// <summary>The directory of initdb/pg_ctl/postgres, or null when the server binaries are not on this machine.</summary>
    public static string? FindBinDirectory()
    {
        string? configured = Environment.GetEnvironmentVariable("GOVERNOR_PG_BIN");
        if (!string.IsNullOrEmpty(configured) && File.Exists(Path.Combine(configured, "pg_ctl")))
        {
            return configured;
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "pg_ctl");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir, "initdb")))
            {
                // Debian links /usr/local/bin/pg_ctl to /usr/lib/postgresql/N/bin: use the real folder (psql and lib/ are beside it).
                var target = File.ResolveLinkTarget(candidate, returnFinalTarget: true);
                return target is null ? dir : Path.GetDirectoryName(target.FullName);
            }
        }

        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            return Directory.GetDirectories(debian)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : 0)
                .FirstOrDefault();
        }

        return null;
    }

    public static PostgresServer Start(PostgresServerOptions? options = null)
    {
        options ??= new PostgresServerOptions();
        string bin = FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, in /usr/lib/postgresql/<version>/bin or in GOVERNOR_PG_BIN. Install them (Debian: apt-get install postgresql).");
        bool root = geteuid() == 0;
        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var dir = new TempDirectory("governor-pg");
            var server = new PostgresServer(dir, bin, root, AppProcess.FreePort(), options);
            try
            {
                server.Initialize();
                return server;
            }
            catch (Exception ex)
            {
                // Most likely the port was taken between choosing and binding it: try another.
                last = ex;
                server.Dispose();
            }
        }

        throw new InvalidOperationException($"Could not start a private PostgreSQL server from {bin}: {last?.Message}", last);
    }

    /// <summary>Runs SQL through psql and returns its unaligned, tuples-only output (trimmed). Throws with psql's output on error.</summary>
    public string Psql(string sql, string? database = null)
    {
        var (code, output) = Run(PsqlPath(), new[] { "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User, "-d", database ?? Database, "-c", sql }, asServerUser: false, TimeSpan.FromSeconds(60));
        if (code != 0)
        {
            throw new InvalidOperationException($"psql failed (exit {code}) running: {sql}\n{output}");
        }

        return output.Trim();
    }

    public long PsqlLong(string sql, string? database = null) => long.Parse(Psql(sql, database), NumberStyles.Integer, CultureInfo.InvariantCulture);

    public void CreateDatabase(string name) => Psql($"CREATE DATABASE {QuoteIdentifier(name)}", "postgres");

    /// <summary>
    /// How many times statements whose text contains <paramref name="textContains"/> completed
    /// in <paramref name="database"/>, by pg_stat_statements (which counts a statement when it
    /// finishes, and records the normalized text — constants as $n — of the first execution).
    /// </summary>
    public long StatementCalls(string textContains, string? database = null)
    {
        RequirePgStatStatements();
        string db = database ?? Database;
        return PsqlLong($"SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = {QuoteLiteral(db)} AND strpos(s.query, {QuoteLiteral(textContains)}) > 0", db);
    }

    /// <summary>Clears pg_stat_statements for every database.</summary>
    public void ResetStatementStats()
    {
        RequirePgStatStatements();
        Psql("SELECT pg_stat_statements_reset()");
    }

    /// <summary>How many logged statements (log_statement = all) contain <paramref name="textContains"/>.</summary>
    public int CountLoggedStatements(string textContains)
    {
        if (!Options.LogStatements)
        {
            throw new InvalidOperationException("Start the server with LogStatements = true to count logged statements.");
        }

        int count = 0;
        foreach (string line in ReadLog().Split('\n'))
        {
            // Simple protocol: "LOG:  statement: ..."; extended protocol: "LOG:  execute <unnamed>: ...".
            if ((line.Contains("LOG:  statement: ", StringComparison.Ordinal) || line.Contains("LOG:  execute ", StringComparison.Ordinal))
                && line.Contains(textContains, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        if (_running)
        {
            _running = false;
            _ = Run(Path.Combine(BinDirectory, "pg_ctl"), new[] { "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop" }, _asPostgresUser, TimeSpan.FromSeconds(40));
        }

        _dir.Dispose();
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    public static string QuoteLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string QuoteIdentifier(string value) => "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private void Initialize()
    {
        Directory.CreateDirectory(SocketDirectory);
        if (_asPostgresUser)
        {
            var (chownCode, chownOutput) = Run("chown", new[] { "-R", $"{SuperUser}:", _dir.Path }, asServerUser: false, TimeSpan.FromSeconds(30));
            if (chownCode != 0)
            {
                throw new InvalidOperationException($"chown to the '{SuperUser}' user failed (does the user exist? initdb refuses to run as root): {chownOutput}");
            }
        }

        var (code, output) = Run(Path.Combine(BinDirectory, "initdb"), new[] { "-D", DataDirectory, "-U", SuperUser, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C" }, _asPostgresUser, TimeSpan.FromMinutes(2));
        if (code != 0)
        {
            throw new InvalidOperationException($"initdb failed (exit {code}):\n{output}");
        }

        bool statStatements = Options.PgStatStatements && File.Exists(Path.Combine(BinDirectory, "..", "lib", "pg_stat_statements.so"));
        var conf = new StringBuilder();
        conf.AppendLine(CultureInfo.InvariantCulture, $"port = {Port}");
        conf.AppendLine("listen_addresses = '127.0.0.1'");
        conf.AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = '{SocketDirectory}'");
        conf.AppendLine("fsync = off");
        conf.AppendLine("synchronous_commit = off");
        conf.AppendLine("full_page_writes = off");
        if (statStatements)
        {
            conf.AppendLine("shared_preload_libraries = 'pg_stat_statements'");
        }

        if (Options.LogStatements)
        {
            conf.AppendLine("log_statement = 'all'");
        }

        foreach (var setting in Options.Settings)
        {
            conf.AppendLine(CultureInfo.InvariantCulture, $"{setting.Key} = '{setting.Value.Replace("'", "''", StringComparison.Ordinal)}'");
        }

        File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), conf.ToString());

        (code, output) = Run(Path.Combine(BinDirectory, "pg_ctl"), new[] { "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "start" }, _asPostgresUser, TimeSpan.FromSeconds(90));
        if (code != 0)
        {
            throw new InvalidOperationException($"pg_ctl start failed (exit {code}):\n{output}\nServer log:\n{ReadLog()}");
        }

        _running = true;

        // pg_ctl daemonizes the server: should the test host end without disposing (a crash, a
        // killed run), stop it on the way out rather than leave a server behind.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        if (!string.Equals(Database, "postgres", StringComparison.Ordinal))
        {
            CreateDatabase(Database);
        }

        if (statStatements)
        {
            Psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            HasPgStatStatements = true;
        }
    }

    private void RequirePgStatStatements()
    {
        if (!HasPgStatStatements)
        {
            throw new InvalidOperationException($"pg_stat_statements is not available in {BinDirectory} (or PgStatStatements was off); count with LogStatements instead.");
        }
    }

    private string PsqlPath()
    {
        string beside = Path.Combine(BinDirectory, "psql");
        return File.Exists(beside) ? beside : "psql";
    }

    private static (int ExitCode, string Output) Run(string file, IReadOnlyList<string> arguments, bool asServerUser, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(asServerUser ? "runuser" : file) { WorkingDirectory = Path.GetTempPath() };
        if (asServerUser)
        {
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(SuperUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }

        foreach (string argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        psi.Environment.Remove("DOTNET_STARTUP_HOOKS");
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["PGCONNECT_TIMEOUT"] = "10";
        return TestApps.Run(psi, timeout);
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint geteuid();
}
