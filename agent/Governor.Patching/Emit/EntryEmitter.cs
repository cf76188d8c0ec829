using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Governor.Patching.Native;

namespace Governor.Patching.Emit;

/// <summary>
/// Generates, once per target, the methods whose code the runtime publishes as the target's code:
/// one entry method per slot (see <see cref="TargetState"/>) and a stable "call the original"
/// method. Each entry forwards to the current dispatcher, or to the original when none is set,
/// with a tail call so that it adds no frame.
/// </summary>
internal static unsafe class EntryEmitter
{
    public sealed record Result(nint[] EntryCodes, MethodInfo[] Entries, MethodInfo CallOriginal);

    public static Result Build(TargetSignature signature, TargetState* state)
    {
        var scope = new EmitScope("Entry");
        foreach (var type in signature.PhysicalParameters.Append(signature.ReturnType))
        {
            scope.Reference(type);
        }

        var module = scope.CreateModule();
        var builder = module.DefineType($"Entries_{signature.Target.DeclaringType!.Name}_{signature.Target.Name}", TypeAttributes.Public | TypeAttributes.Sealed | TypeAttributes.Abstract);
        for (int slot = 0; slot < TargetState.MaxSlots; slot++)
        {
            var method = Define(builder, $"Entry{slot}", signature);
            var il = method.GetILGenerator();
            var function = il.DeclareLocal(typeof(nint));
            var promoted = il.DefineLabel();
            var haveFunction = il.DefineLabel();

            // if (state->Current < slot) TargetState.Promote(state, slot);
            EmitPointer(il, &state->Current);
            il.Emit(OpCodes.Ldind_I4);
            il.Emit(OpCodes.Ldc_I4, slot);
            il.Emit(OpCodes.Bge, promoted);
            EmitPointer(il, state);
            il.Emit(OpCodes.Ldc_I4, slot);
            il.Emit(OpCodes.Call, typeof(TargetState).GetMethod(nameof(TargetState.Promote))!);
            il.MarkLabel(promoted);

            // function = state->Dispatcher != 0 ? state->Dispatcher : original
            EmitPointer(il, &state->Dispatcher);
            il.Emit(OpCodes.Ldind_I);
            il.Emit(OpCodes.Stloc, function);
            il.Emit(OpCodes.Ldloc, function);
            il.Emit(OpCodes.Brtrue, haveFunction);
            EmitLoadOriginal(il, state);
            il.Emit(OpCodes.Stloc, function);
            il.MarkLabel(haveFunction);
            EmitTailCall(il, signature, function);
        }

        var callOriginal = Define(builder, "CallOriginal", signature);
        {
            var il = callOriginal.GetILGenerator();
            var function = il.DeclareLocal(typeof(nint));
            EmitLoadOriginal(il, state);
            il.Emit(OpCodes.Stloc, function);
            EmitTailCall(il, signature, function);
        }

        var created = builder.CreateType()!;
        var entries = Enumerable.Range(0, TargetState.MaxSlots).Select(i => created.GetMethod($"Entry{i}")!).ToArray();
        var codes = entries.Select(CodeRedirection.CompiledCode).ToArray();
        return new Result(codes, entries, created.GetMethod("CallOriginal")!);
    }

    public static MethodBuilder Define(TypeBuilder type, string name, TargetSignature signature)
    {
        var method = type.DefineMethod(name, MethodAttributes.Public | MethodAttributes.Static | MethodAttributes.HideBySig, signature.ReturnType, signature.PhysicalParameters);
        method.SetImplementationFlags(MethodImplAttributes.AggressiveOptimization | MethodImplAttributes.NoInlining);
        return method;
    }

    /// <summary>Pushes state->Codes[state->Current]: the original code version in use.</summary>
    public static void EmitLoadOriginal(ILGenerator il, TargetState* state)
    {
        EmitPointer(il, &state->Codes[0]);
        EmitPointer(il, &state->Current);
        il.Emit(OpCodes.Ldind_I4);
        il.Emit(OpCodes.Conv_I);
        il.Emit(OpCodes.Ldc_I4_8);
        il.Emit(OpCodes.Mul);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Ldind_I);
    }

    public static void EmitPointer(ILGenerator il, void* pointer)
    {
        il.Emit(OpCodes.Ldc_I8, (long)pointer);
        il.Emit(OpCodes.Conv_U);
    }

    public static void EmitCalli(ILGenerator il, TargetSignature signature) =>
        il.EmitCalli(OpCodes.Calli, CallingConventions.Standard, signature.ReturnType, signature.PhysicalParameters, null);

    private static void EmitTailCall(ILGenerator il, TargetSignature signature, LocalBuilder function)
    {
        for (int i = 0; i < signature.PhysicalParameters.Length; i++)
        {
            il.Emit(OpCodes.Ldarg, i);
        }

        il.Emit(OpCodes.Ldloc, function);
        il.Emit(OpCodes.Tailcall);
        EmitCalli(il, signature);
        il.Emit(OpCodes.Ret);
    }
}
