using System.Reflection;
using System.Reflection.Emit;

namespace Governor.Patching.Emit;

/// <summary>Finds backward branches (loops) in a method's IL.</summary>
internal static class IlScanner
{
    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    public static bool HasBackwardBranch(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            return false;
        }

        int position = 0;
        while (position < il.Length)
        {
            int start = position;
            short value = il[position++];
            if (value == 0xFE && position < il.Length)
            {
                value = (short)(0xFE00 | il[position++]);
            }

            if (!s_opCodes.TryGetValue(value, out var opCode))
            {
                return true; // Unknown encoding: assume the worst.
            }

            switch (opCode.OperandType)
            {
                case OperandType.ShortInlineBrTarget:
                    if (start + 2 + (sbyte)il[position] <= start)
                    {
                        return true;
                    }

                    position += 1;
                    break;
                case OperandType.InlineBrTarget:
                    if (start + 5 + BitConverter.ToInt32(il, position) <= start)
                    {
                        return true;
                    }

                    position += 4;
                    break;
                case OperandType.InlineSwitch:
                    int count = BitConverter.ToInt32(il, position);
                    int next = position + 4 + (count * 4);
                    for (int i = 0; i < count; i++)
                    {
                        if (next + BitConverter.ToInt32(il, position + 4 + (i * 4)) <= start)
                        {
                            return true;
                        }
                    }

                    position = next;
                    break;
                default:
                    position += OperandSize(opCode.OperandType);
                    break;
            }
        }

        return false;
    }

    private static int OperandSize(OperandType type) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        _ => 4,
    };
}
