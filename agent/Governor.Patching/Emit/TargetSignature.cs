using System.Reflection;
using System.Runtime.CompilerServices;

namespace Governor.Patching.Emit;

internal enum AsyncKind
{
    None,
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
}

/// <summary>
/// The physical calling convention of a target as the generated entry and dispatcher methods
/// reproduce it: <c>this</c> first (as an ordinary argument), then the hidden generic context when
/// the code is shared across reference-type instantiations, then the declared parameters.
/// <para>
/// Shared generic code: the runtime compiles one body for all reference-type instantiations of a
/// method (its <c>__Canon</c> form), and that body is what the JIT hook sees and what gets
/// redirected. For an instance method of a generic class, reflection's method handle is that
/// shared method itself. For a generic method, or a static method of a generic class, reflection
/// hands out an "instantiating stub" method (it passes the generic context and jumps to the
/// shared code), never the shared method; the shared method is found through the stub (see
/// <see cref="SharedGenerics.FindSharedMethod"/>). The generic context (the exact instantiated
/// method for generic methods, the exact class for static methods) tells instantiations apart at
/// run time, and so does <c>this</c> for instance methods: the dispatcher runs each patch only for
/// the instantiation it was applied to.
/// </para>
/// </summary>
internal sealed class TargetSignature
{
    private static readonly Type? s_canon = typeof(object).Assembly.GetType("System.__Canon");

    private TargetSignature(MethodBase target, MethodBase compiled)
    {
        Target = target;
        Compiled = compiled;
        HasThis = !target.IsStatic;
        IsShared = ContainsCanon(compiled.DeclaringType!) || (compiled.IsGenericMethod && compiled.GetGenericArguments().Any(ContainsCanon));
        ThisType = HasThis ? Erase(compiled.DeclaringType!) : null;
        HasGenericContext = IsShared && (compiled.IsGenericMethod || compiled.IsStatic);
        Parameters = target.GetParameters();
        var compiledParameters = compiled.GetParameters();
        ParameterTypes = compiledParameters.Select(p => Erase(p.ParameterType)).ToArray();
        ExactParameterTypes = Parameters.Select(p => p.ParameterType).ToArray();
        ReturnType = compiled is MethodInfo info ? Erase(info.ReturnType) : typeof(void);
        ExactReturnType = target is MethodInfo exact ? exact.ReturnType : typeof(void);
        (Async, AwaitedType) = ClassifyAsync(ReturnType);
        CompiledHandle = compiled.MethodHandle;
    }

    public MethodBase Target { get; }

    /// <summary>The method whose code the runtime compiles: the target, or its shared (<c>__Canon</c>) form.</summary>
    public MethodBase Compiled { get; }

    /// <summary>
    /// The handle of the method the JIT compiles (the key of the JIT hook's table). For shared
    /// generic code reached through an instantiating stub it differs from <see cref="Compiled"/>'s
    /// handle (see the class comment).
    /// </summary>
    public RuntimeMethodHandle CompiledHandle { get; private set; }

    /// <summary>True when the code is shared across reference-type instantiations (see the class comment).</summary>
    public bool IsShared { get; }

    /// <summary>
    /// What tells this instantiation apart inside shared code: the generic context value (the exact
    /// method's or class's handle) when <see cref="HasGenericContext"/>, else 0 (then the exact
    /// declaring type of <c>this</c> does: <see cref="Target"/>'s declaring type).
    /// </summary>
    public nint InstantiationContext { get; private set; }

    /// <summary>The type arguments of <see cref="Compiled"/> (class, then method), for RuntimeHelpers.PrepareMethod.</summary>
    public RuntimeTypeHandle[]? CompiledInstantiation
    {
        get
        {
            var declaring = Compiled.DeclaringType!;
            if (!Compiled.IsGenericMethod && !declaring.IsGenericType)
            {
                return null;
            }

            var typeArguments = declaring.IsGenericType ? declaring.GetGenericArguments() : Type.EmptyTypes;
            var methodArguments = Compiled.IsGenericMethod ? Compiled.GetGenericArguments() : Type.EmptyTypes;
            return typeArguments.Concat(methodArguments).Select(t => t.TypeHandle).ToArray();
        }
    }

    public bool HasThis { get; }

    public Type? ThisType { get; }

    public bool HasGenericContext { get; }

    public ParameterInfo[] Parameters { get; }

    /// <summary>The declared parameter types as the shared code sees them (<c>__Canon</c> erased to object).</summary>
    public Type[] ParameterTypes { get; }

    /// <summary>The declared parameter types of <see cref="Target"/> (the exact instantiation).</summary>
    public Type[] ExactParameterTypes { get; }

    /// <summary>The return type as the shared code sees it (<c>__Canon</c> erased to object).</summary>
    public Type ReturnType { get; }

    /// <summary>The return type of <see cref="Target"/> (the exact instantiation).</summary>
    public Type ExactReturnType { get; }

    public AsyncKind Async { get; }

    /// <summary>The awaited value type of an async target (object for Task/ValueTask).</summary>
    public Type AwaitedType { get; }

    /// <summary>Index of the first declared parameter among the physical arguments.</summary>
    public int FirstParameter => (HasThis ? 1 : 0) + (HasGenericContext ? 1 : 0);

    /// <summary>Every physical argument type, in order.</summary>
    public Type[] PhysicalParameters
    {
        get
        {
            var list = new List<Type>();
            if (HasThis)
            {
                list.Add(ThisType!);
            }

            if (HasGenericContext)
            {
                list.Add(typeof(nint));
            }

            list.AddRange(ParameterTypes);
            return list.ToArray();
        }
    }

    public static TargetSignature Create(MethodBase target)
    {
        if (target.DeclaringType is null)
        {
            throw new PatchException("methods without a declaring type (dynamic methods, module functions) cannot be patched");
        }

        if (target.ContainsGenericParameters)
        {
            throw new PatchException("open generic methods cannot be patched; pass a closed instantiation");
        }

        if (target.IsAbstract)
        {
            throw new PatchException("an abstract method has no code; use PatchOverrides");
        }

        var implementation = target.MethodImplementationFlags;
        if ((implementation & (MethodImplAttributes.InternalCall | MethodImplAttributes.Native | MethodImplAttributes.Runtime)) != 0
            || (target.Attributes & MethodAttributes.PinvokeImpl) != 0)
        {
            throw new PatchException("the method has no IL body (internal call, P/Invoke or runtime-implemented)");
        }

        if (target.CallingConvention.HasFlag(CallingConventions.VarArgs))
        {
            throw new PatchException("varargs methods are not supported");
        }

        if (!target.IsStatic && target.DeclaringType!.IsValueType)
        {
            throw new PatchException("instance methods of value types are not supported");
        }

        var signature = new TargetSignature(target, Canonicalize(target));
        if (signature.IsShared)
        {
            if (signature.Async is AsyncKind.TaskOfT or AsyncKind.ValueTaskOfT && ContainsCanon(((MethodInfo)signature.Compiled).ReturnType))
            {
                // The continuation would build a Task<object> for a caller expecting Task<T>.
                throw new PatchException("async methods whose awaited type is a generic parameter shared across reference types are not supported");
            }

            if (signature.HasGenericContext)
            {
                // The shared method is reached through the instantiating stub that reflection hands out.
                signature.CompiledHandle = SharedGenerics.FindSharedMethod(target.MethodHandle);
                signature.InstantiationContext = target.IsGenericMethod ? target.MethodHandle.Value : target.DeclaringType!.TypeHandle.Value;
            }
        }

        if (signature.HasThis && NeedsReturnBuffer(signature.ReturnType))
        {
            throw new PatchException($"the return type {signature.ReturnType} is returned through a hidden buffer, which is not supported for instance methods");
        }

        return signature;
    }

    /// <summary>True when the struct is returned in memory by the SysV x64 convention (larger than 16 bytes).</summary>
    private static bool NeedsReturnBuffer(Type type)
    {
        // System.Void counts as a value type, but nothing is returned (and SizeOf<void> throws).
        if (type == typeof(void) || !type.IsValueType || type.IsPrimitive || type.IsEnum || type.IsPointer)
        {
            return false;
        }

        var sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type);
        return (int)sizeOf.Invoke(null, null)! > 16;
    }

    /// <summary>The form the runtime compiles: reference-type generic arguments become <c>__Canon</c>.</summary>
    private static MethodBase Canonicalize(MethodBase method)
    {
        if (s_canon is null)
        {
            return method;
        }

        var declaring = method.DeclaringType!;
        bool typeShared = declaring.IsGenericType && declaring.GetGenericArguments().Any(a => !a.IsValueType);
        bool methodShared = method.IsGenericMethod && method.GetGenericArguments().Any(a => !a.IsValueType);
        if (!typeShared && !methodShared)
        {
            return method;
        }

        var canonicalType = typeShared ? declaring.GetGenericTypeDefinition().MakeGenericType(declaring.GetGenericArguments().Select(ToCanon).ToArray()) : declaring;
        var definition = method.IsGenericMethod ? ((MethodInfo)method).GetGenericMethodDefinition() : method;
        var onCanonical = typeShared ? MethodBase.GetMethodFromHandle(definition.MethodHandle, canonicalType.TypeHandle)! : definition;
        if (methodShared)
        {
            return ((MethodInfo)onCanonical).MakeGenericMethod(method.GetGenericArguments().Select(ToCanon).ToArray());
        }

        return onCanonical;
    }

    private static Type ToCanon(Type argument) => argument.IsValueType ? argument : s_canon!;

    private static bool ContainsCanon(Type type) =>
        type == s_canon || (type.HasElementType && ContainsCanon(type.GetElementType()!)) || (type.IsGenericType && type.GetGenericArguments().Any(ContainsCanon));

    /// <summary>Replaces <c>__Canon</c> with object so generated signatures can name the type (same ABI).</summary>
    private static Type Erase(Type type)
    {
        if (!ContainsCanon(type))
        {
            return type;
        }

        if (type.IsByRef)
        {
            return Erase(type.GetElementType()!).MakeByRefType();
        }

        if (!type.IsValueType)
        {
            return typeof(object);
        }

        return type.GetGenericTypeDefinition().MakeGenericType(type.GetGenericArguments().Select(Erase).ToArray());
    }

    private static (AsyncKind, Type) ClassifyAsync(Type type)
    {
        if (type == typeof(Task))
        {
            return (AsyncKind.Task, typeof(object));
        }

        if (type == typeof(ValueTask))
        {
            return (AsyncKind.ValueTask, typeof(object));
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Task<>))
        {
            return (AsyncKind.TaskOfT, type.GetGenericArguments()[0]);
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>))
        {
            return (AsyncKind.ValueTaskOfT, type.GetGenericArguments()[0]);
        }

        return (AsyncKind.None, typeof(void));
    }
}
