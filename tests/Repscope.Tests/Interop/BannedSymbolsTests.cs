using System.Reflection;
using System.Text.RegularExpressions;
using Repscope.Tests.Cluster;
using TorchSharp;

namespace Repscope.Tests.Interop;

/// <summary>
/// src/BannedSymbols.txt (BannedApiAnalyzers, RS0030) against TorchSharp's assembly: every entry still names a
/// TorchSharp member (a renamed overload would otherwise silently stop being banned), and every conversion to Scalar
/// and every method that makes a temporary Scalar inside (read from the IL, <see cref="TorchScalarHazards"/>) is in it.
/// That the analyzer then rejects a use is the build's part: compiling a snippet with a banned call would show it
/// end to end, at the price of a compiler in the suite; the build of src/ itself shows it for the entries it meets.
/// </summary>
public sealed partial class BannedSymbolsTests
{
    private static readonly string Root = LocalSlurm.RepoRoot;

    private static Dictionary<string, string> Entries()
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path.Combine(Root, "src", "BannedSymbols.txt")))
        {
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal)) { continue; }
            int semicolon = line.IndexOf(';');
            Assert.True(semicolon > 0, $"no ';reason' in: {line}");
            Assert.True(entries.TryAdd(line[..semicolon], line[(semicolon + 1)..]), $"listed twice: {line}");
        }
        return entries;
    }

    [Fact]
    public void Every_entry_names_a_public_TorchSharp_member()
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in TorchScalarHazards.AllMethods().Where(TorchScalarHazards.IsPublicApi)) { known.Add(TorchScalarHazards.DocId(m)); }
        foreach (var t in typeof(Scalar).Assembly.GetTypes())
        {
            known.Add(TorchScalarHazards.DocId(t));
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                known.Add("P:" + TorchScalarHazards.DocId(t)[2..] + "." + p.Name);
            }
        }
        var entries = Entries();
        Assert.True(entries.Count > 100, $"only {entries.Count} entries");
        var unknown = entries.Keys.Where(id => !known.Contains(id)).ToList();
        Assert.True(unknown.Count == 0, "entries that name no public TorchSharp member:\n" + string.Join("\n", unknown));
        Assert.All(entries, e => Assert.False(string.IsNullOrWhiteSpace(e.Value), $"{e.Key}: no reason"));
    }

    [Fact]
    public void Every_TorchSharp_call_that_makes_a_temporary_Scalar_is_banned()
    {
        var entries = Entries();
        var required = TorchScalarHazards.RequiredBans();
        var missing = required.Where(b => !entries.ContainsKey(b.Id)).Select(b => b.Id + ";" + b.Reason).ToList();
        Assert.True(missing.Count == 0, "TorchSharp API that makes a temporary Scalar, not banned; add to src/BannedSymbols.txt:\n" + string.Join("\n", missing));
        // The twelve conversions (double, float, int, long, bool, Half, ...) are all there.
        Assert.Equal(12, required.Count(b => b.Id.StartsWith("M:TorchSharp.Scalar.op_Implicit(", StringComparison.Ordinal)));
    }

    /// <summary>The IL reading finds what TorchSharp's source shows, and not what it does not.</summary>
    [Fact]
    public void The_IL_reading_finds_the_known_temporaries_and_only_them()
    {
        var hazards = TorchScalarHazards.Hazards().Keys.Select(TorchScalarHazards.DocId).ToHashSet(StringComparer.Ordinal);
        // Made inside: add(Tensor) passes alpha 1; square() is pow(2); arange(stop) passes start 0 and step 1;
        // BatchNorm's training forward counts num_batches_tracked.add_(1); t * 2.0 converts 2.0.
        Assert.Contains("M:TorchSharp.torch.Tensor.add(TorchSharp.torch.Tensor)", hazards);
        Assert.Contains("M:TorchSharp.torch.Tensor.add_(TorchSharp.torch.Tensor)", hazards);
        Assert.Contains("M:TorchSharp.torch.Tensor.square", hazards);
        Assert.Contains("M:TorchSharp.torch.arange(TorchSharp.Scalar,System.Nullable{TorchSharp.torch.ScalarType},TorchSharp.torch.Device,System.Boolean)", hazards);
        Assert.Contains("M:TorchSharp.Modules.BatchNorm.forward(TorchSharp.torch.Tensor)", hazards);
        Assert.Contains("M:TorchSharp.torch.Tensor.op_Multiply(TorchSharp.torch.Tensor,System.Double)", hazards);
        Assert.Contains("M:TorchSharp.torch.Tensor.op_Addition(TorchSharp.torch.Tensor,TorchSharp.torch.Tensor)", hazards);
        // Given every Scalar by the caller, or no Scalar at all: not hazards.
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.add(TorchSharp.torch.Tensor,TorchSharp.Scalar)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.add_(TorchSharp.torch.Tensor,TorchSharp.Scalar)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.sub(TorchSharp.torch.Tensor)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.mul(TorchSharp.Scalar)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.pow(TorchSharp.Scalar)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.Tensor.op_Subtraction(TorchSharp.torch.Tensor,TorchSharp.torch.Tensor)", hazards);
        Assert.DoesNotContain("M:TorchSharp.torch.arange(TorchSharp.Scalar,TorchSharp.Scalar,TorchSharp.Scalar,System.Nullable{TorchSharp.torch.ScalarType},TorchSharp.torch.Device,System.Boolean)", hazards);
    }

    /// <summary>Both projects the list guards import it (with the analyzer package) from build/TorchScalarBans.props.</summary>
    [Theory]
    [InlineData("src/Repscope/Repscope.csproj")]
    [InlineData("src/Repscope.Cli/Repscope.Cli.csproj")]
    public void The_analyzer_and_the_list_are_imported(string project)
    {
        Assert.Contains("<Import Project=\"../../build/TorchScalarBans.props\" />", File.ReadAllText(Path.Combine(Root, project)));
        var props = File.ReadAllText(Path.Combine(Root, "build", "TorchScalarBans.props"));
        Assert.Contains("<PackageReference Include=\"Microsoft.CodeAnalysis.BannedApiAnalyzers\"", props);
        Assert.Contains("src/BannedSymbols.txt", props);
    }

    /// <summary>
    /// ToScalar is the one allowed way to make a Scalar, and only to keep it: in src/ every call sits in a
    /// <c>using</c> declaration (alive to the end of the scope) or a static readonly field (alive for the process),
    /// never inline in a call, where it would be a temporary again (<c>using var y = t.add(x.ToScalar())</c> is refused too).
    /// </summary>
    [Fact]
    public void Every_ToScalar_in_src_makes_a_kept_Scalar()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        int calls = 0;
        var inline = new List<string>();
        foreach (var file in files)
        {
            int lineNumber = 0;
            foreach (var line in File.ReadLines(file))
            {
                lineNumber++;
                if (!line.Contains(".ToScalar()", StringComparison.Ordinal) || line.TrimStart().StartsWith("//", StringComparison.Ordinal)) { continue; }
                calls++;
                if (!KeptDeclaration().IsMatch(line) || ScalarUsedInline().IsMatch(line)) { inline.Add($"{Path.GetRelativePath(Root, file)}:{lineNumber}: {line.Trim()}"); }
            }
        }
        Assert.True(calls > 10, $"only {calls} ToScalar calls found under src/");
        Assert.True(inline.Count == 0, "ToScalar() outside a using declaration or static readonly field:\n" + string.Join("\n", inline));
    }

    [GeneratedRegex(@"^\s*(using (var|Scalar) \w+ = |public static readonly Scalar \w+ = |private static readonly Scalar \w+ = |internal static readonly Scalar \w+ = )")]
    private static partial Regex KeptDeclaration();

    /// <summary>A ToScalar() that is not the whole value of its declarator (followed by something other than , or ;).</summary>
    [GeneratedRegex(@"\.ToScalar\(\)\s*[^;,\s]")]
    private static partial Regex ScalarUsedInline();
}
