using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Governor.Patching.TestApp;

/// <summary>Methods the scenarios patch. NoInlining keeps call sites honest where the test needs calls, not inlined copies.</summary>
internal static class Work
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long HotLoop(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += i ^ (i >> 3);
        }

        return sum;
    }

    public static long ExpectedHotLoop(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += i ^ (i >> 3);
        }

        return sum;
    }

    public static volatile bool BodyFinished;

    public static async Task<int> ComputeAsync(int x)
    {
        BodyFinished = false;
        if (x % 100 == 0)
        {
            await Task.Yield();
        }

        if (x < 0)
        {
            await Task.Yield();
            throw new InvalidOperationException("negative");
        }

        BodyFinished = true;
        return x * 2;
    }

    /// <summary>Keeps a 256-byte frame so its optimized prolog has a 7-byte <c>sub rsp</c> the engine can redirect while it runs.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Mix(int a, int b)
    {
        var frame = default(Frame256);
        return Helper(a, ref frame) + b;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Helper(int a, ref Frame256 frame)
    {
        frame.First = a;
        return frame.First * 3;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Compute(int x, string label, ref int counter)
    {
        counter++;
        if (x < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(x), label);
        }

        return x + label.Length;
    }
}

/// <summary>Generic methods whose reference-type instantiations share one compiled body.</summary>
internal static class GenericWork
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static T Identity<T>(T value)
        where T : class => value;
}

/// <summary>A generic class: its instance and static methods are shared by reference-type instantiations.</summary>
internal class Holder<T>
    where T : class
{
    private readonly T _value;

    public Holder(T value) => _value = value;

    [MethodImpl(MethodImplOptions.NoInlining)]
    public int Describe(int n) => n + (_value is null ? 0 : 1);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Create(int n) => n * 2;
}

/// <summary>A subclass of one instantiation: its calls of Holder&lt;string&gt;.Describe belong to that instantiation.</summary>
internal sealed class StringHolder : Holder<string>
{
    public StringHolder()
        : base("derived")
    {
    }
}

/// <summary>An instance method returning nothing (as DbDataReader.Close and Dispose(bool) do).</summary>
internal sealed class Tally
{
    public int Value { get; private set; }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Add(int n) => Value += n;
}

internal sealed class Item
{
    public Item(int id) => Id = id;

    public int Id { get; }
}

internal sealed class Other
{
}

[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Size = 256)]
internal struct Frame256
{
    public int First;
}

/// <summary>A DbCommand whose reader costs nothing, so 100,000 calls stay fast.</summary>
[SuppressMessage("Security", "CA2100", Justification = "test double")]
internal sealed class FakeCommand : DbCommand
{
    private readonly DataTableReader _reader = new(new DataTable());

    [AllowNull]
    public override string CommandText { get; set; } = string.Empty;

    public override int CommandTimeout { get; set; }

    public override CommandType CommandType { get; set; }

    public override bool DesignTimeVisible { get; set; }

    public override UpdateRowSource UpdatedRowSource { get; set; }

    protected override DbConnection? DbConnection { get; set; }

    protected override DbParameterCollection DbParameterCollection => throw new NotSupportedException();

    protected override DbTransaction? DbTransaction { get; set; }

    public override void Cancel()
    {
    }

    public override int ExecuteNonQuery() => 1;

    public override object? ExecuteScalar() => null;

    public override void Prepare()
    {
    }

    protected override DbParameter CreateDbParameter() => throw new NotSupportedException();

    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => _reader;
}
