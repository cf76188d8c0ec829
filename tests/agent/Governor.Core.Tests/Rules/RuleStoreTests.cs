using System.Runtime.InteropServices;
using Governor.Core.Rules;
using Governor.Rules;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Rules;

public sealed class RuleStoreTests
{
    private const string Good = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata: { name: a }\nspec: { threshold: 5 }\n";
    private const string Good7 = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata: { name: a }\nspec: { threshold: 7 }\n";
    private const string Bad = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata: { name: a }\nspec: { threshold: -1 }\n";

    [Fact]
    public void Scan_InvalidFileAfterGoodOne_KeepsLastGoodAndReportsError()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Good);
        var log = new ListLogger();
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, log);
        store.Scan();
        Assert.Equal(5, Assert.Single(store.Current.Documents).Spec);

        dir.Write("a.yaml", Bad);
        store.Scan();

        Assert.Equal(5, Assert.Single(store.Current.Documents).Spec);
        var error = Assert.Single(store.Errors);
        Assert.Contains("out of range", error.Message);
        Assert.Contains(log.Lines, l => l.Contains("rejected") && l.Contains("the last good version (1 document(s)) stays in force"));
    }

    [Fact]
    public void Scan_FileFixedAgain_ClearsErrorAndAppliesNewRules()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Bad);
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        store.Scan();
        Assert.Empty(store.Current.Documents);
        Assert.Single(store.Errors);

        dir.Write("a.yaml", Good7);
        store.Scan();

        Assert.Empty(store.Errors);
        Assert.Equal(7, Assert.Single(store.Current.Documents).Spec);
    }

    [Fact]
    public void Scan_FileRemoved_DropsItsRules()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("a.yaml", Good);
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        store.Scan();

        File.Delete(path);
        Assert.True(store.Scan());

        Assert.Empty(store.Current.Documents);
    }

    [Fact]
    public void Scan_SameNameInTwoFiles_KeepsFirstAndReportsSecond()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Good);
        dir.Write("b.yaml", Good7);
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());

        store.Scan();

        Assert.Equal(5, Assert.Single(store.Current.Documents).Spec);
        var error = Assert.Single(store.Errors);
        Assert.Contains("b.yaml", error.File);
        Assert.Contains("already defined in a.yaml", error.Message);
    }

    [Fact]
    public void StartWatching_FileChanged_ChangeSeenWithinTwoSeconds()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Good);
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        store.Scan();
        using var changed = new ManualResetEventSlim();
        RuleSet? seen = null;
        store.Changed += set =>
        {
            seen = set;
            changed.Set();
        };
        store.StartWatching(TimeSpan.FromSeconds(1));

        dir.Write("a.yaml", Good7);

        Assert.True(changed.Wait(TimeSpan.FromSeconds(2)), "no change within 2 s");
        Assert.Equal(7, Assert.Single(seen!.Documents).Spec);
    }

    [Fact]
    public void StartWatching_ConfigMapStyleSymlinkSwap_IsPickedUp()
    {
        // A ConfigMap volume: rules.yaml -> ..data/rules.yaml, ..data -> ..2024_01; an update
        // creates ..2024_02 and swaps the ..data symlink atomically.
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("..v1"));
        File.WriteAllText(dir.Combine("..v1", "rules.yaml"), Good);
        File.CreateSymbolicLink(dir.Combine("..data"), "..v1");
        File.CreateSymbolicLink(dir.Combine("rules.yaml"), "..data/rules.yaml");
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        store.Scan();
        Assert.Equal(5, Assert.Single(store.Current.Documents).Spec);
        using var changed = new ManualResetEventSlim();
        store.Changed += _ => changed.Set();
        store.StartWatching(TimeSpan.FromSeconds(1));

        Directory.CreateDirectory(dir.Combine("..v2"));
        File.WriteAllText(dir.Combine("..v2", "rules.yaml"), Good7);
        File.CreateSymbolicLink(dir.Combine("..data_tmp"), "..v2");
        Assert.Equal(0, Rename(dir.Combine("..data_tmp"), dir.Combine("..data")));

        Assert.True(changed.Wait(TimeSpan.FromSeconds(2)), "symlink swap not seen within 2 s");
        Assert.Equal(7, Assert.Single(store.Current.Documents).Spec);
    }

    [Fact]
    public void Scan_ChangedHandlerThrows_OtherHandlersStillRun()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Good);
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        bool second = false;
        store.Changed += _ => throw new InvalidOperationException("plugin bug");
        store.Changed += _ => second = true;

        store.Scan();

        Assert.True(second);
    }

    [Fact]
    public async Task Scan_ReaderDuringChanges_NeverSeesPartialSnapshot()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", Good + "---\n" + Good.Replace("name: a", "name: b", StringComparison.Ordinal));
        using var store = new RuleStore(dir.Path, () => RuleValidatorTests.Kinds, new ListLogger());
        store.Scan();
        using var stop = new CancellationTokenSource();
        int torn = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var set = store.Current;
                if (set.Documents.Count != 2 || set.OfKind("ProbeRule").Count != 2)
                {
                    Interlocked.Increment(ref torn);
                }
            }
        });

        for (int i = 0; i < 50; i++)
        {
            int t = (i % 9) + 1;
            dir.Write("a.yaml", Good.Replace("threshold: 5", $"threshold: {t}", StringComparison.Ordinal) + "---\n" + Good.Replace("name: a", "name: b", StringComparison.Ordinal));
            store.Scan();
        }

        stop.Cancel();
        await reader;
        Assert.Equal(0, torn);
    }

    // rename(2) replaces a symlink atomically, as kubelet does; File.Move cannot move a link to a directory.
    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string oldPath, string newPath);
}
