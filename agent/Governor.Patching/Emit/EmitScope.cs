using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Loader;

namespace Governor.Patching.Emit;

/// <summary>
/// A run-only dynamic assembly for generated methods, created in its own load context that maps
/// each referenced assembly's simple name to the exact <see cref="Assembly"/> object. Generated
/// code names types by assembly reference; without this, a patch method living in a plugin's
/// load context (or the engine itself, loaded in the agent's context) would not resolve, or would
/// resolve to another copy. The assembly skips access checks to every referenced assembly, so
/// patch methods and targets may be non-public.
/// </summary>
internal sealed class EmitScope
{
    private static int s_counter;
    private readonly Dictionary<string, Assembly> _assemblies = new(StringComparer.OrdinalIgnoreCase);

    public EmitScope(string purpose) => Purpose = purpose;

    public string Purpose { get; }

    public void Reference(Type? type)
    {
        if (type is null)
        {
            return;
        }

        if (type.HasElementType)
        {
            Reference(type.GetElementType());
            return;
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            foreach (var argument in type.GetGenericArguments())
            {
                Reference(argument);
            }
        }

        Reference(type.Assembly);
    }

    public void Reference(MethodBase method)
    {
        Reference(method.DeclaringType);
        foreach (var parameter in method.GetParameters())
        {
            Reference(parameter.ParameterType);
        }

        if (method is MethodInfo info)
        {
            Reference(info.ReturnType);
            if (info.IsGenericMethod)
            {
                foreach (var argument in info.GetGenericArguments())
                {
                    Reference(argument);
                }
            }
        }
    }

    private void Reference(Assembly assembly)
    {
        var name = assembly.GetName().Name!;
        if (_assemblies.TryGetValue(name, out var known))
        {
            if (!ReferenceEquals(known, assembly))
            {
                throw new PatchException($"two different assemblies named '{name}' are involved (from load contexts '{AssemblyLoadContext.GetLoadContext(known)?.Name}' and '{AssemblyLoadContext.GetLoadContext(assembly)?.Name}'); generated code cannot name both");
            }

            return;
        }

        _assemblies[name] = assembly;
    }

    public ModuleBuilder CreateModule()
    {
        Reference(typeof(EmitScope).Assembly);
        var context = new ScopeLoadContext($"Governor.Patching.{Purpose}", _assemblies);
        var name = new AssemblyName($"Governor.Patching.Generated.{Purpose}.{Interlocked.Increment(ref s_counter)}");
        AssemblyBuilder assembly;
        using (context.EnterContextualReflection())
        {
            assembly = AssemblyBuilder.DefineDynamicAssembly(name, AssemblyBuilderAccess.Run);
        }

        if (AssemblyLoadContext.GetLoadContext(assembly) != context)
        {
            throw new PatchException("the runtime did not create the generated assembly in the requested load context");
        }

        var module = assembly.DefineDynamicModule(name.Name!);
        var attribute = DefineIgnoresAccessChecksTo(module);
        foreach (var referenced in _assemblies.Keys)
        {
            assembly.SetCustomAttribute(new CustomAttributeBuilder(attribute, new object[] { referenced }));
        }

        return module;
    }

    /// <summary>The runtime honours this attribute by name in the assembly that declares it.</summary>
    private static ConstructorInfo DefineIgnoresAccessChecksTo(ModuleBuilder module)
    {
        var type = module.DefineType("System.Runtime.CompilerServices.IgnoresAccessChecksToAttribute", TypeAttributes.Public | TypeAttributes.Sealed | TypeAttributes.Class, typeof(Attribute));
        var field = type.DefineField("_assemblyName", typeof(string), FieldAttributes.Private | FieldAttributes.InitOnly);
        var constructor = type.DefineConstructor(MethodAttributes.Public | MethodAttributes.HideBySig | MethodAttributes.SpecialName | MethodAttributes.RTSpecialName, CallingConventions.HasThis, new[] { typeof(string) });
        var il = constructor.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Call, typeof(Attribute).GetConstructor(BindingFlags.NonPublic | BindingFlags.Instance, Type.EmptyTypes)!);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Stfld, field);
        il.Emit(OpCodes.Ret);
        var usage = typeof(AttributeUsageAttribute);
        type.SetCustomAttribute(new CustomAttributeBuilder(
            usage.GetConstructor(new[] { typeof(AttributeTargets) })!,
            new object[] { AttributeTargets.Assembly },
            new[] { usage.GetProperty(nameof(AttributeUsageAttribute.AllowMultiple))! },
            new object[] { true }));
        return type.CreateType()!.GetConstructor(new[] { typeof(string) })!;
    }

    private sealed class ScopeLoadContext : AssemblyLoadContext
    {
        private readonly Dictionary<string, Assembly> _assemblies;

        public ScopeLoadContext(string name, Dictionary<string, Assembly> assemblies)
            : base(name, isCollectible: false) => _assemblies = new Dictionary<string, Assembly>(assemblies, StringComparer.OrdinalIgnoreCase);

        protected override Assembly? Load(AssemblyName assemblyName) =>
            assemblyName.Name is { } name && _assemblies.TryGetValue(name, out var assembly) ? assembly : null;
    }
}
