using System.Data.Common;

namespace Governor.Patching.TestApp;

/// <summary>Patch methods (Harmony-style injected parameters).</summary>
internal static class Patches
{
    public static long Counter;
    public static long PostfixBeforeCompletion;
    public static Exception? LastException;
    public static int StateSeen;
    public static readonly List<string> Order = new();

    public static void Count() => Interlocked.Increment(ref Counter);

    public static void CountSqlite(DbCommand __instance)
    {
        if (__instance.GetType().Name == "SqliteCommand")
        {
            Interlocked.Increment(ref Counter);
        }
    }

    public static void CountResult(long __result) => Interlocked.Increment(ref Counter);

    public static void AsyncPostfix(ref int __result)
    {
        if (!Work.BodyFinished)
        {
            Interlocked.Increment(ref PostfixBeforeCompletion);
        }

        Interlocked.Increment(ref Counter);
        __result += 1;
    }

    public static void AsyncFinalizer(ref Exception? __exception)
    {
        if (__exception is InvalidOperationException e)
        {
            __exception = new TimeoutException("replaced " + e.Message);
        }
    }

    public static bool SkipNegative(int x, ref int __result)
    {
        if (x < 0)
        {
            __result = 99;
            return false;
        }

        return true;
    }

    public static void DoubleResult(ref int __result) => __result *= 2;

    public static void Swallow(ref Exception? __exception, ref int __result)
    {
        LastException = __exception;
        __exception = null;
        __result = -7;
    }

    public static void Replace(ref Exception? __exception) => __exception = new TimeoutException("replaced", __exception);

    public static void StatePrefix(ref int __state, ref string label)
    {
        __state = 41;
        label += "-changed";
    }

    public static void StatePostfix(int __state) => StateSeen = __state;

    public static void OrderPrefixA() => Order.Add("preA");

    public static void OrderPostfixA() => Order.Add("postA");

    public static void OrderPrefixB() => Order.Add("preB");

    public static void OrderPostfixB() => Order.Add("postB");

    public static void OrderPrefixC() => Order.Add("preC");

    public static void OrderPostfixC() => Order.Add("postC");

    public static void BadParameter(int nothingLikeThis)
    {
    }

    public static long StringCalls;
    public static long ItemCalls;
    public static long HolderCalls;
    public static long CreateCalls;

    /// <summary>Postfix of Identity&lt;string&gt;: the exact-type parameter and ref result of one instantiation of shared code.</summary>
    public static void IdentityOfString(string value, ref string __result)
    {
        Interlocked.Increment(ref StringCalls);
        if (value == "swap")
        {
            __result = "swapped";
        }
    }

    /// <summary>Prefix of Identity&lt;Item&gt;: skips the original for negative ids and supplies another item.</summary>
    public static bool IdentityOfItem(Item value, ref Item __result)
    {
        Interlocked.Increment(ref ItemCalls);
        if (value.Id < 0)
        {
            __result = new Item(0);
            return false;
        }

        return true;
    }

    public static void HolderOfString(Holder<string> __instance, int n) => Interlocked.Increment(ref HolderCalls);

    public static void CreateOfString(ref int __result)
    {
        Interlocked.Increment(ref CreateCalls);
        __result += 1;
    }
}
