using System.Reflection;

namespace Governor.Patching;

/// <summary>
/// Method patching for plugins (plugins never patch on their own). Placeholder surface: the
/// patch engine issue defines the full API (prefix/postfix/finalizer, overrides, unpatch).
/// </summary>
public interface IPatchEngine
{
    /// <summary>A short description of the runtime and mechanism, for status and logs.</summary>
    string Description { get; }
}
