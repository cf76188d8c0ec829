using System.Reflection;
using System.Reflection.Emit;
using Governor.Patching.Native;

namespace Governor.Patching.Emit;

/// <summary>
/// Generates the dispatcher for one target and its current patches: prefixes (outermost first),
/// the original (or the detour), postfixes and finalizers (innermost first). For async targets the
/// postfixes and finalizers move into a completion method that runs when the task completes.
/// </summary>
internal static unsafe class DispatcherEmitter
{
    private const string Instance = "__instance";
    private const string Result = "__result";
    private const string State = "__state";
    private const string ExceptionName = "__exception";
    private const string Args = "__args";
    private const string RunOriginal = "__runOriginal";

    private enum Role
    {
        Prefix,
        Postfix,
        Finalizer,
    }

    public static MethodInfo Build(TargetSignature signature, TargetState* state, IReadOnlyList<PatchRecord> patches, MethodInfo? detour)
    {
        var scope = new EmitScope("Dispatcher");
        foreach (var type in signature.PhysicalParameters.Append(signature.ReturnType))
        {
            scope.Reference(type);
        }

        foreach (var method in patches.SelectMany(Methods).Append(detour).OfType<MethodInfo>())
        {
            scope.Reference(method);
        }

        foreach (var patch in patches.Where(p => p.Signature.IsShared && !p.Signature.HasGenericContext))
        {
            scope.Reference(patch.Signature.Target.DeclaringType);
        }

        var module = scope.CreateModule();
        var builder = module.DefineType($"Dispatcher_{signature.Target.DeclaringType!.Name}_{signature.Target.Name}", TypeAttributes.Public | TypeAttributes.Sealed | TypeAttributes.Abstract);
        if (!signature.IsShared)
        {
            BuildDispatcher(builder, "Dispatch", signature, state, patches, detour);
        }
        else
        {
            // Shared generic code: a router picks the patches of the instantiation being called
            // (each its own dispatcher); other instantiations go straight to the original.
            var groups = patches.GroupBy(p => p.Signature.HasGenericContext ? (object)p.Signature.InstantiationContext : p.Signature.Target.DeclaringType!).ToList();
            var dispatchers = groups.Select((g, i) => (g.First().Signature, BuildDispatcher(builder, $"Dispatch{i}", g.First().Signature, state, g.ToList(), null))).ToList();
            BuildRouter(builder, signature, state, dispatchers);
        }

        return builder.CreateType()!.GetMethod("Dispatch")!;
    }

    private static MethodBuilder BuildDispatcher(TypeBuilder builder, string name, TargetSignature signature, TargetState* state, IReadOnlyList<PatchRecord> patches, MethodInfo? detour)
    {
        var dispatcher = EntryEmitter.Define(builder, name, signature);
        var stateTypes = StateTypes(patches);
        bool async = signature.Async != AsyncKind.None && patches.Any(p => p.Postfix is not null || p.Finalizer is not null);
        MethodBuilder? completion = async ? BuildCompletion(builder, name + "Complete", signature, patches, stateTypes) : null;
        new Body(signature, state, patches, detour, stateTypes, dispatcher.GetILGenerator(), completion).EmitDispatcher();
        return dispatcher;
    }

    /// <summary>
    /// Dispatch(args): for each instantiation with patches, when the call is for it (the generic
    /// context equals its handle, or <c>this</c> is of its class) tail-call its dispatcher; else
    /// tail-call the original.
    /// </summary>
    private static void BuildRouter(TypeBuilder builder, TargetSignature signature, TargetState* state, List<(TargetSignature Signature, MethodBuilder Dispatcher)> dispatchers)
    {
        var router = EntryEmitter.Define(builder, "Dispatch", signature);
        var il = router.GetILGenerator();
        int count = signature.PhysicalParameters.Length;
        foreach (var (instantiation, dispatcher) in dispatchers)
        {
            var next = il.DefineLabel();
            if (signature.HasGenericContext)
            {
                il.Emit(OpCodes.Ldarg, signature.HasThis ? 1 : 0);
                il.Emit(OpCodes.Ldc_I8, (long)instantiation.InstantiationContext);
                il.Emit(OpCodes.Conv_I);
                il.Emit(OpCodes.Bne_Un, next);
            }
            else
            {
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldtoken, instantiation.Target.DeclaringType!);
                il.Emit(OpCodes.Call, typeof(Type).GetMethod(nameof(Type.GetTypeFromHandle))!);
                il.Emit(OpCodes.Call, typeof(SharedGenerics).GetMethod(nameof(SharedGenerics.DeclaredBy))!);
                il.Emit(OpCodes.Brfalse, next);
            }

            for (int i = 0; i < count; i++)
            {
                il.Emit(OpCodes.Ldarg, i);
            }

            il.Emit(OpCodes.Tailcall);
            il.Emit(OpCodes.Call, dispatcher);
            il.Emit(OpCodes.Ret);
            il.MarkLabel(next);
        }

        for (int i = 0; i < count; i++)
        {
            il.Emit(OpCodes.Ldarg, i);
        }

        EntryEmitter.EmitLoadOriginal(il, state);
        il.Emit(OpCodes.Tailcall);
        EntryEmitter.EmitCalli(il, signature);
        il.Emit(OpCodes.Ret);
    }

    private static IEnumerable<MethodInfo?> Methods(PatchRecord patch) => new[] { patch.Prefix, patch.Postfix, patch.Finalizer };

    /// <summary>The <c>__state</c> type of each patch (null when it has none); all its methods must agree.</summary>
    private static Type?[] StateTypes(IReadOnlyList<PatchRecord> patches)
    {
        var types = new Type?[patches.Count];
        for (int i = 0; i < patches.Count; i++)
        {
            foreach (var method in Methods(patches[i]).OfType<MethodInfo>())
            {
                var parameter = method.GetParameters().FirstOrDefault(p => p.Name == State);
                if (parameter is null)
                {
                    continue;
                }

                var element = parameter.ParameterType.IsByRef ? parameter.ParameterType.GetElementType()! : parameter.ParameterType;
                if (types[i] is not null && types[i] != element)
                {
                    throw new PatchException($"{Describe(method)}: {State} is {element} here but {types[i]} in another method of the same patch");
                }

                types[i] = element;
            }
        }

        return types;
    }

    private static MethodBuilder BuildCompletion(TypeBuilder type, string name, TargetSignature signature, IReadOnlyList<PatchRecord> patches, Type?[] stateTypes)
    {
        var awaited = signature.AwaitedType;
        var method = type.DefineMethod(name, MethodAttributes.Public | MethodAttributes.Static | MethodAttributes.HideBySig, typeof(void),
            new[] { typeof(object[]), awaited.MakeByRefType(), typeof(Exception).MakeByRefType() });
        method.SetImplementationFlags(MethodImplAttributes.AggressiveOptimization);
        new Body(signature, null, patches, null, stateTypes, method.GetILGenerator(), null).EmitCompletion();
        return method;
    }

    private static string Describe(MethodInfo method) => $"{method.DeclaringType?.FullName}.{method.Name}";

    /// <summary>Emits one method body; knows where the instance, arguments, result, states and exception live.</summary>
    private sealed class Body
    {
        private readonly TargetSignature _signature;
        private readonly TargetState* _state;
        private readonly IReadOnlyList<PatchRecord> _patches;
        private readonly MethodInfo? _detour;
        private readonly Type?[] _stateTypes;
        private readonly ILGenerator _il;
        private readonly MethodBuilder? _completion;
        private readonly LocalBuilder?[] _states;
        private bool _inCompletion;
        private LocalBuilder? _result;
        private LocalBuilder? _exception;
        private LocalBuilder? _runOriginal;
        private LocalBuilder? _instance;
        private LocalBuilder[]? _arguments;

        public Body(TargetSignature signature, TargetState* state, IReadOnlyList<PatchRecord> patches, MethodInfo? detour, Type?[] stateTypes, ILGenerator il, MethodBuilder? completion)
        {
            _signature = signature;
            _state = state;
            _patches = patches;
            _detour = detour;
            _stateTypes = stateTypes;
            _il = il;
            _completion = completion;
            _states = stateTypes.Select(t => t is null ? null : il.DeclareLocal(t)).ToArray();
        }

        private bool IsAsync => _completion is not null;

        public void EmitDispatcher()
        {
            var returnType = _signature.ReturnType;
            if (returnType != typeof(void))
            {
                _result = _il.DeclareLocal(returnType);
            }

            _runOriginal = _il.DeclareLocal(typeof(bool));
            _il.Emit(OpCodes.Ldc_I4_1);
            _il.Emit(OpCodes.Stloc, _runOriginal);

            var finalizers = IsAsync ? new List<PatchRecord>() : _patches.Where(p => p.Finalizer is not null).Reverse().ToList();
            if (finalizers.Count > 0)
            {
                _exception = _il.DeclareLocal(typeof(Exception));
                _il.BeginExceptionBlock();
            }

            EmitPrefixes();
            var skipOriginal = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _runOriginal);
            _il.Emit(OpCodes.Brfalse, skipOriginal);
            if (IsAsync)
            {
                EmitAsyncOriginal();
            }
            else
            {
                EmitOriginal();
            }

            _il.MarkLabel(skipOriginal);
            if (IsAsync)
            {
                EmitContinuation();
            }
            else
            {
                foreach (var patch in _patches.Where(p => p.Postfix is not null).Reverse())
                {
                    EmitCall(patch, patch.Postfix!, Role.Postfix);
                }
            }

            if (finalizers.Count > 0)
            {
                _il.BeginCatchBlock(typeof(Exception));
                _il.Emit(OpCodes.Stloc, _exception!);
                _il.EndExceptionBlock();
                foreach (var patch in finalizers)
                {
                    EmitCall(patch, patch.Finalizer!, Role.Finalizer);
                }

                var done = _il.DefineLabel();
                _il.Emit(OpCodes.Ldloc, _exception!);
                _il.Emit(OpCodes.Brfalse, done);
                _il.Emit(OpCodes.Ldloc, _exception!);
                _il.Emit(OpCodes.Call, typeof(AsyncPatchSupport).GetMethod(nameof(AsyncPatchSupport.Rethrow), BindingFlags.NonPublic | BindingFlags.Static)!);
                _il.MarkLabel(done);
            }

            if (_result is not null)
            {
                _il.Emit(OpCodes.Ldloc, _result);
            }

            _il.Emit(OpCodes.Ret);
        }

        /// <summary>Body of Complete(object[] captured, ref T result, ref Exception exception).</summary>
        public void EmitCompletion()
        {
            _inCompletion = true;
            int index = 0;
            if (_signature.HasThis)
            {
                _instance = _il.DeclareLocal(_signature.ThisType!);
                Unpack(index, _instance);
            }

            index++;
            _arguments = new LocalBuilder[_signature.ParameterTypes.Length];
            for (int i = 0; i < _arguments.Length; i++, index++)
            {
                _arguments[i] = _il.DeclareLocal(_signature.ParameterTypes[i]);
                Unpack(index, _arguments[i]);
            }

            for (int i = 0; i < _states.Length; i++, index++)
            {
                if (_states[i] is { } local)
                {
                    Unpack(index, local);
                }
            }

            var skipPostfixes = _il.DefineLabel();
            _il.Emit(OpCodes.Ldarg_2);
            _il.Emit(OpCodes.Ldind_Ref);
            _il.Emit(OpCodes.Brtrue, skipPostfixes);
            foreach (var patch in _patches.Where(p => p.Postfix is not null).Reverse())
            {
                EmitCall(patch, patch.Postfix!, Role.Postfix);
            }

            _il.MarkLabel(skipPostfixes);
            foreach (var patch in _patches.Where(p => p.Finalizer is not null).Reverse())
            {
                EmitCall(patch, patch.Finalizer!, Role.Finalizer);
            }

            _il.Emit(OpCodes.Ret);
        }

        private void Unpack(int index, LocalBuilder local)
        {
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Ldc_I4, index);
            _il.Emit(OpCodes.Ldelem_Ref);
            _il.Emit(OpCodes.Unbox_Any, local.LocalType);
            _il.Emit(OpCodes.Stloc, local);
        }

        private void EmitPrefixes()
        {
            var end = _il.DefineLabel();
            foreach (var patch in _patches.Where(p => p.Prefix is not null))
            {
                // A prefix that returned false skips the remaining prefixes and the original.
                _il.Emit(OpCodes.Ldloc, _runOriginal!);
                _il.Emit(OpCodes.Brfalse, end);
                EmitCall(patch, patch.Prefix!, Role.Prefix);
                if (patch.Prefix!.ReturnType == typeof(bool))
                {
                    _il.Emit(OpCodes.Stloc, _runOriginal!);
                }
            }

            _il.MarkLabel(end);
        }

        private void EmitOriginal()
        {
            for (int i = 0; i < _signature.PhysicalParameters.Length; i++)
            {
                _il.Emit(OpCodes.Ldarg, i);
            }

            if (_detour is not null)
            {
                _il.Emit(OpCodes.Call, _detour);
            }
            else
            {
                EntryEmitter.EmitLoadOriginal(_il, _state);
                EntryEmitter.EmitCalli(_il, _signature);
            }

            if (_result is not null)
            {
                _il.Emit(OpCodes.Stloc, _result);
            }
        }

        /// <summary>Calls the original; a synchronous throw becomes a faulted task.</summary>
        private void EmitAsyncOriginal()
        {
            _il.BeginExceptionBlock();
            EmitOriginal();
            _il.BeginCatchBlock(typeof(Exception));
            _il.Emit(OpCodes.Call, AsyncHelper(_signature.Async switch
            {
                AsyncKind.Task => nameof(AsyncPatchSupport.FaultedTask),
                AsyncKind.TaskOfT => nameof(AsyncPatchSupport.FaultedTask),
                AsyncKind.ValueTask => nameof(AsyncPatchSupport.FaultedValueTask),
                _ => nameof(AsyncPatchSupport.FaultedValueTask),
            }, typeof(Exception)));
            _il.Emit(OpCodes.Stloc, _result!);
            _il.EndExceptionBlock();
        }

        /// <summary>result = AsyncPatchSupport.ContinueX(result, new object[] { instance, args..., states... }, &amp;Complete).</summary>
        private void EmitContinuation()
        {
            int count = 1 + _signature.ParameterTypes.Length + _states.Length;
            _il.Emit(OpCodes.Ldloc, _result!);
            _il.Emit(OpCodes.Ldc_I4, count);
            _il.Emit(OpCodes.Newarr, typeof(object));
            int index = 0;
            if (_signature.HasThis)
            {
                StoreElement(index, () => _il.Emit(OpCodes.Ldarg_0), _signature.ThisType!);
            }

            index++;
            for (int i = 0; i < _signature.ParameterTypes.Length; i++, index++)
            {
                var parameterType = _signature.ParameterTypes[i];
                if (parameterType.IsByRef || parameterType.IsByRefLike)
                {
                    throw new PatchException($"async target parameter '{_signature.Parameters[i].Name}' is by-ref or a ref struct and cannot be captured");
                }

                int argument = _signature.FirstParameter + i;
                StoreElement(index, () => _il.Emit(OpCodes.Ldarg, argument), parameterType);
            }

            for (int i = 0; i < _states.Length; i++, index++)
            {
                if (_states[i] is { } local)
                {
                    StoreElement(index, () => _il.Emit(OpCodes.Ldloc, local), local.LocalType);
                }
            }

            _il.Emit(OpCodes.Ldftn, _completion!);
            _il.Emit(OpCodes.Call, AsyncHelper(_signature.Async is AsyncKind.Task or AsyncKind.TaskOfT ? nameof(AsyncPatchSupport.ContinueTask) : nameof(AsyncPatchSupport.ContinueValueTask), _signature.ReturnType));
            _il.Emit(OpCodes.Stloc, _result!);
        }

        private void StoreElement(int index, Action load, Type type)
        {
            _il.Emit(OpCodes.Dup);
            _il.Emit(OpCodes.Ldc_I4, index);
            load();
            if (type.IsValueType)
            {
                _il.Emit(OpCodes.Box, type);
            }

            _il.Emit(OpCodes.Stelem_Ref);
        }

        private MethodInfo AsyncHelper(string name, Type firstParameter)
        {
            var generic = _signature.Async is AsyncKind.TaskOfT or AsyncKind.ValueTaskOfT;
            var method = typeof(AsyncPatchSupport).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Single(m => m.Name == name && m.IsGenericMethodDefinition == generic
                    && (firstParameter == typeof(Exception) ? m.GetParameters()[0].ParameterType == typeof(Exception) : m.GetParameters()[0].ParameterType != typeof(Exception)));
            return generic ? method.MakeGenericMethod(_signature.AwaitedType) : method;
        }

        private void EmitCall(PatchRecord patch, MethodInfo method, Role role)
        {
            int patchIndex = IndexOf(patch);
            foreach (var parameter in method.GetParameters())
            {
                EmitParameter(method, parameter, role, patchIndex);
            }

            _il.Emit(OpCodes.Call, method);
            if (role != Role.Prefix && method.ReturnType != typeof(void))
            {
                _il.Emit(OpCodes.Pop);
            }
        }

        private int IndexOf(PatchRecord patch)
        {
            for (int i = 0; i < _patches.Count; i++)
            {
                if (ReferenceEquals(_patches[i], patch))
                {
                    return i;
                }
            }

            throw new InvalidOperationException("patch not in list");
        }

        private void EmitParameter(MethodInfo method, ParameterInfo parameter, Role role, int patchIndex)
        {
            string name = parameter.Name ?? string.Empty;
            var type = parameter.ParameterType;
            bool byRef = type.IsByRef;
            var element = byRef ? type.GetElementType()! : type;
            string where = $"{Describe(method)} parameter '{name}'";
            switch (name)
            {
                case Instance:
                    if (byRef)
                    {
                        throw new PatchException($"{where}: {Instance} cannot be by ref");
                    }

                    if (!_signature.HasThis)
                    {
                        _il.Emit(OpCodes.Ldnull);
                        return;
                    }

                    if (_inCompletion)
                    {
                        _il.Emit(OpCodes.Ldloc, _instance!);
                    }
                    else
                    {
                        _il.Emit(OpCodes.Ldarg_0);
                    }

                    Convert(where, _signature.ThisType!, element);
                    return;

                case Result:
                    EmitResult(where, role, byRef, element);
                    return;

                case State:
                    _il.Emit(byRef ? OpCodes.Ldloca : OpCodes.Ldloc, _states[patchIndex]!);
                    return;

                case ExceptionName:
                    if (role != Role.Finalizer || (element != typeof(Exception)))
                    {
                        throw new PatchException($"{where}: {ExceptionName} is available to finalizers only, as Exception or ref Exception");
                    }

                    if (_inCompletion)
                    {
                        _il.Emit(OpCodes.Ldarg_2);
                        if (!byRef)
                        {
                            _il.Emit(OpCodes.Ldind_Ref);
                        }
                    }
                    else
                    {
                        _il.Emit(byRef ? OpCodes.Ldloca : OpCodes.Ldloc, _exception!);
                    }

                    return;

                case Args:
                    if (type != typeof(object[]))
                    {
                        throw new PatchException($"{where}: {Args} must be object[]");
                    }

                    EmitArgumentArray(where);
                    return;

                case RunOriginal:
                    if (type != typeof(bool) || _inCompletion)
                    {
                        throw new PatchException($"{where}: {RunOriginal} must be a bool and is not available to async postfixes and finalizers");
                    }

                    _il.Emit(OpCodes.Ldloc, _runOriginal!);
                    return;
            }

            int index = Array.FindIndex(_signature.Parameters, p => p.Name == name);
            if (index < 0)
            {
                throw new PatchException($"{where} matches no parameter of {_signature.Target.DeclaringType?.FullName}.{_signature.Target.Name} and no injected name");
            }

            var source = _signature.ParameterTypes[index];
            var exact = _signature.ExactParameterTypes[index];
            if (source.IsByRef)
            {
                // For shared generic code the exact type (ref string for ref T) is accepted too:
                // both are references to an object reference.
                if (type != source && type != exact)
                {
                    throw new PatchException($"{where}: the target parameter is {exact}; declare it as the same by-ref type");
                }

                LoadArgument(index, address: false);
                return;
            }

            if (byRef)
            {
                if (element != source && element != exact)
                {
                    throw new PatchException($"{where}: by-ref parameters must have the target's exact type {exact}");
                }

                LoadArgument(index, address: true);
                return;
            }

            LoadArgument(index, address: false);
            Convert(where, source, element);
        }

        private void EmitResult(string where, Role role, bool byRef, Type element)
        {
            bool awaited = role != Role.Prefix && IsAsync || _inCompletion;
            var source = awaited ? _signature.AwaitedType : _signature.ReturnType;
            if (source == typeof(void) || (awaited && _signature.Async is AsyncKind.Task or AsyncKind.ValueTask))
            {
                throw new PatchException($"{where}: the target returns no value");
            }

            var exact = awaited ? source : _signature.ExactReturnType;
            if (byRef && element != source && element != exact)
            {
                throw new PatchException($"{where}: ref {Result} must be exactly {exact}");
            }

            if (_inCompletion)
            {
                _il.Emit(OpCodes.Ldarg_1);
                if (!byRef)
                {
                    _il.Emit(OpCodes.Ldobj, source);
                    Convert(where, source, element);
                }

                return;
            }

            _il.Emit(byRef ? OpCodes.Ldloca : OpCodes.Ldloc, _result!);
            if (!byRef)
            {
                Convert(where, source, element);
            }
        }

        private void LoadArgument(int index, bool address)
        {
            if (_inCompletion)
            {
                _il.Emit(address ? OpCodes.Ldloca : OpCodes.Ldloc, _arguments![index]);
                return;
            }

            _il.Emit(address ? OpCodes.Ldarga : OpCodes.Ldarg, _signature.FirstParameter + index);
        }

        private void EmitArgumentArray(string where)
        {
            _il.Emit(OpCodes.Ldc_I4, _signature.ParameterTypes.Length);
            _il.Emit(OpCodes.Newarr, typeof(object));
            for (int i = 0; i < _signature.ParameterTypes.Length; i++)
            {
                var source = _signature.ParameterTypes[i];
                if (source.IsByRef || source.IsByRefLike || source.IsPointer)
                {
                    throw new PatchException($"{where}: parameter {i} cannot be boxed into {Args}");
                }

                _il.Emit(OpCodes.Dup);
                _il.Emit(OpCodes.Ldc_I4, i);
                LoadArgument(i, address: false);
                if (source.IsValueType)
                {
                    _il.Emit(OpCodes.Box, source);
                }

                _il.Emit(OpCodes.Stelem_Ref);
            }
        }

        /// <summary>Converts a value of <paramref name="source"/> on the stack to <paramref name="target"/> (widening, boxing or a checked cast).</summary>
        private void Convert(string where, Type source, Type target)
        {
            if (target == source || (!source.IsValueType && target.IsAssignableFrom(source)))
            {
                return;
            }

            if (source.IsValueType && target.IsAssignableFrom(source))
            {
                _il.Emit(OpCodes.Box, source);
                return;
            }

            if (!source.IsValueType && !target.IsValueType && source.IsAssignableFrom(target))
            {
                _il.Emit(OpCodes.Castclass, target);
                return;
            }

            throw new PatchException($"{where}: cannot pass {source} as {target}");
        }
    }
}
