using System.Reflection;
using System.Reflection.Emit;
using System.Text;
using TorchSharp;

namespace Repscope.Tests.Interop;

/// <summary>
/// Reads TorchSharp's assembly to find the API that makes a temporary <see cref="Scalar"/> (docs/ARCHITECTURE.md,
/// "Scalars must outlive their libtorch call"): the conversions to Scalar, and every public method whose IL calls
/// one of them (an <c>op_Implicit</c> or a <c>ToScalar</c>), directly or through other TorchSharp methods. Also names
/// every member with its documentation comment ID, the form BannedSymbols.txt uses.
/// </summary>
internal static class TorchScalarHazards
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
    private static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>A method that turns one number (or bool, complex, ...) into a new Scalar.</summary>
    public static bool MakesScalar(MethodBase m) =>
        m is MethodInfo { IsStatic: true } mi && mi.ReturnType == typeof(Scalar) && mi.GetParameters() is [{ } p] && p.ParameterType != typeof(Scalar)
        && (mi.DeclaringType == typeof(Scalar) || mi.DeclaringType == typeof(ScalarExtensionMethods));

    /// <summary>Every method and constructor TorchSharp declares, public or not.</summary>
    public static IReadOnlyList<MethodBase> AllMethods() =>
        TorchSharpAssembly.GetTypes().SelectMany(t => t.GetMethods(Declared).Cast<MethodBase>().Concat(t.GetConstructors(Declared))).ToList();

    public static bool IsPublicApi(MethodBase m) => m.IsPublic && IsVisible(m.DeclaringType!);

    private static bool IsVisible(Type t) => t.IsPublic || (t.IsNestedPublic && IsVisible(t.DeclaringType!));

    /// <summary>
    /// The methods that make a temporary Scalar and pass it on, each with why: "makes Int32" (its own IL converts an
    /// int) or "via X" (it calls X, which does). A method whose IL also calls a Dispose is left out of the closure
    /// (it may dispose the Scalar it made; reviewed by hand in BannedSymbols.txt where we use it).
    /// </summary>
    public static IReadOnlyDictionary<MethodBase, string> Hazards()
    {
        var all = AllMethods();
        var callees = all.ToDictionary(m => m, m => CalledMethods(m).ToList());
        var hazards = new Dictionary<MethodBase, string>();
        foreach (var m in all.Where(m => !MakesScalar(m)))
        {
            var made = callees[m].Where(MakesScalar).Select(c => c.GetParameters()[0].ParameterType.Name).Distinct().ToList();
            if (made.Count > 0 && !callees[m].Any(c => c.Name == nameof(IDisposable.Dispose))) { hazards[m] = "makes " + string.Join(",", made); }
        }
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var m in all.Where(m => !hazards.ContainsKey(m) && !MakesScalar(m)))
            {
                var via = callees[m].FirstOrDefault(hazards.ContainsKey);
                if (via != null) { hazards[m] = "via " + DocId(via); changed = true; }
            }
        }
        return hazards;
    }

    /// <summary>
    /// What BannedSymbols.txt must ban, each with its reason: every conversion to Scalar, every public method (or the
    /// property of an accessor) that makes a temporary Scalar, and every factory in <c>torch.nn</c> of a module whose
    /// forward does.
    /// </summary>
    public static IReadOnlyList<(string Id, string Reason)> RequiredBans()
    {
        var bans = new List<(string, string)>();
        foreach (var m in typeof(Scalar).GetMethods().Where(MakesScalar))
        {
            bans.Add((DocId(m), $"converts a {m.GetParameters()[0].ParameterType.Name} into a temporary Scalar: pass a TorchScalars member or a 'using var s = x.ToScalar()'"));
        }
        var hazards = Hazards().Where(h => IsPublicApi(h.Key)).ToList();
        foreach (var (m, why) in hazards)
        {
            var property = m.IsSpecialName && (m.Name.StartsWith("get_", StringComparison.Ordinal) || m.Name.StartsWith("set_", StringComparison.Ordinal))
                ? m.DeclaringType!.GetProperty(m.Name[4..], Declared) : null;
            bans.Add((property != null ? "P:" + TypeName(m.DeclaringType!, inSignature: false) + "." + property.Name : DocId(m), Advice(m) + " (" + why + ")"));
        }
        var hazardousForwards = hazards.Where(h => h.Key.Name == "forward").Select(h => h.Key.DeclaringType!).ToHashSet();
        var nn = typeof(torch.nn);
        foreach (var factory in nn.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(f => Inherits(f.ReturnType, hazardousForwards)))
        {
            var module = Ancestors(factory.ReturnType).First(hazardousForwards.Contains);
            bans.Add((DocId(factory), $"the module's forward makes a temporary Scalar ({TypeName(module, inSignature: false)}.forward){(module == typeof(TorchSharp.Modules.BatchNorm) ? ": use Models.BatchNorm2dKeptScalars" : "")}"));
        }
        return bans.DistinctBy(b => b.Item1).OrderBy(b => b.Item1, StringComparer.Ordinal).ToList();
    }

    private static bool Inherits(Type t, HashSet<Type> bases) => Ancestors(t).Any(bases.Contains);

    private static IEnumerable<Type> Ancestors(Type t)
    {
        for (Type? b = t; b != null; b = b.BaseType) { yield return b; }
    }

    private static string Advice(MethodBase m) => m.Name switch
    {
        "add" or "add_" => "the default alpha is a temporary Scalar: pass it (t.add(u, TorchScalars.One))",
        "addcdiv" or "addcdiv_" => "the default value is a temporary Scalar: pass it (TorchScalars.One)",
        "op_Addition" or "op_Subtraction" or "op_Multiply" or "op_Division" or "op_Modulus" when m.GetParameters().All(p => p.ParameterType == typeof(torch.Tensor))
            => "t + u is add(u) with a temporary alpha: write t.add(u, TorchScalars.One)",
        "op_Addition" or "op_Subtraction" or "op_Multiply" or "op_Division" or "op_Modulus"
            => "an operator with a number makes a temporary Scalar: call add/sub/mul/div with a kept Scalar (TorchScalars or using)",
        "square" => "square() is pow(2) with a temporary 2: write t.pow(TorchScalars.Two) (the same kernel, the same bits)",
        "arange" => "the default start or step is a temporary Scalar: pass every Scalar (TorchScalars.Zero, TorchScalars.One)",
        _ => "makes a temporary Scalar inside TorchSharp: write it with kept Scalars",
    };

    /// <summary>The methods and constructors a method's IL calls (call, callvirt, newobj, ldftn), generic ones as their definitions.</summary>
    public static IEnumerable<MethodBase> CalledMethods(MethodBase m)
    {
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception e) when (e is BadImageFormatException or InvalidOperationException) { yield break; }
        if (il == null) { yield break; }
        var typeArgs = m.DeclaringType!.IsGenericType ? m.DeclaringType.GetGenericArguments() : null;
        var methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            var op = il[i] == 0xFE ? OpCodesByValue[(short)(0xFE00 | il[i + 1])] : OpCodesByValue[il[i]];
            i += op.Size;
            if (op.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try { callee = m.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs); }
                catch (Exception e) when (e is ArgumentException or TypeLoadException or MissingMethodException) { }
                if (callee is MethodInfo { IsGenericMethod: true, IsGenericMethodDefinition: false } gm) { callee = gm.GetGenericMethodDefinition(); }
                if (callee != null) { yield return callee; }
            }
            i += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
    }

    /// <summary>The documentation comment ID of a method or constructor ("M:TorchSharp.torch.Tensor.add_(TorchSharp.torch.Tensor)").</summary>
    public static string DocId(MethodBase m)
    {
        var s = new StringBuilder("M:").Append(TypeName(m.DeclaringType!, inSignature: false)).Append('.');
        s.Append(m.IsConstructor ? (m.IsStatic ? "#cctor" : "#ctor") : m.Name.Replace('.', '#'));
        if (m.IsGenericMethod) { s.Append("``").Append(m.GetGenericArguments().Length); }
        var ps = m.GetParameters();
        if (ps.Length > 0) { s.Append('(').Append(string.Join(",", ps.Select(p => TypeName(p.ParameterType, inSignature: true)))).Append(')'); }
        if (m is MethodInfo mi && m.Name is "op_Implicit" or "op_Explicit") { s.Append('~').Append(TypeName(mi.ReturnType, inSignature: true)); }
        return s.ToString();
    }

    /// <summary>The documentation comment ID of a type ("T:TorchSharp.Modules.BatchNorm").</summary>
    public static string DocId(Type t) => "T:" + TypeName(t, inSignature: false);

    private static string TypeName(Type t, bool inSignature)
    {
        if (t.IsByRef) { return TypeName(t.GetElementType()!, inSignature) + "@"; }
        if (t.IsPointer) { return TypeName(t.GetElementType()!, inSignature) + "*"; }
        if (t.IsArray)
        {
            var rank = t.GetArrayRank();
            return TypeName(t.GetElementType()!, inSignature) + (rank == 1 ? "[]" : "[" + string.Join(",", Enumerable.Repeat("0:", rank)) + "]");
        }
        if (t.IsGenericParameter) { return (t.DeclaringMethod != null ? "``" : "`") + t.GenericParameterPosition; }
        var outer = t.IsNested ? TypeName(t.DeclaringType!, inSignature: false) + "." : (t.Namespace is { Length: > 0 } ns ? ns + "." : "");
        var name = t.Name;
        int tick = name.IndexOf('`');
        if (!t.IsGenericType || !inSignature || t.IsGenericTypeDefinition) { return outer + name; }
        // A constructed generic type in a signature: its own type arguments in braces (those of an enclosing type are its prefix's).
        int own = tick < 0 ? 0 : int.Parse(name[(tick + 1)..]);
        var args = t.GetGenericArguments();
        var prefix = t.IsNested ? TypeName(t.DeclaringType!.IsGenericTypeDefinition && args.Length > own
            ? t.DeclaringType.MakeGenericType(args[..^own]) : t.DeclaringType, inSignature: true) + "." : outer;
        return own == 0 ? prefix + name : prefix + name[..tick] + "{" + string.Join(",", args[^own..].Select(a => TypeName(a, inSignature: true))) + "}";
    }
}
