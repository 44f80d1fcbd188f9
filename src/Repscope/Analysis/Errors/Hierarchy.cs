using System.Text.Json;

namespace Repscope.Analysis.Errors;

/// <summary>A named group of classes (e.g. a WordNet superclass), as class indices.</summary>
public sealed record Superclass(string Name, IReadOnlyList<int> Classes);

/// <summary>
/// Reads a class hierarchy: a JSON object mapping each superclass name to a list of class names
/// (as in run.json's testSet.classNames) or class indices, e.g.
/// <c>{"vehicles": ["airplane", "automobile", "ship", "truck"], "animals": [2, 3, 4, 5, 6, 7]}</c>.
/// Superclasses may overlap (each is tested on its own).
/// </summary>
public static class Hierarchy
{
    /// <summary>The hierarchy in <paramref name="pathOrJson"/>: a JSON object written out (it starts with '{'), or a file holding one.</summary>
    public static IReadOnlyList<Superclass> Read(string pathOrJson, IReadOnlyList<string> classNames)
    {
        bool inline = pathOrJson.TrimStart().StartsWith('{') && !File.Exists(pathOrJson);
        string source = inline ? "hierarchy" : pathOrJson;
        if (!inline && !File.Exists(pathOrJson)) { throw new RepscopeException($"{pathOrJson}: hierarchy file not found (give a JSON object, or a file holding one)"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(inline ? pathOrJson : File.ReadAllText(pathOrJson)); }
        catch (JsonException e) { throw new RepscopeException($"{source}: not valid JSON: {e.Message}"); }
        using (doc) { return Parse(doc.RootElement, classNames, source); }
    }

    public static IReadOnlyList<Superclass> Parse(JsonElement root, IReadOnlyList<string> classNames, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new RepscopeException($"{source}: expected a JSON object mapping superclass names to lists of classes");
        }
        var result = new List<Superclass>();
        foreach (var property in root.EnumerateObject())
        {
            string name = property.Name;
            if (property.Value.ValueKind != JsonValueKind.Array)
            {
                throw new RepscopeException($"{source}: superclass '{name}' must be a list of class names or indices");
            }
            var classes = new List<int>();
            foreach (var item in property.Value.EnumerateArray())
            {
                int c = item.ValueKind switch
                {
                    JsonValueKind.String => ClassByName(item.GetString()!, classNames, name, source),
                    JsonValueKind.Number when item.TryGetInt32(out int i) && i >= 0 && i < classNames.Count => i,
                    JsonValueKind.Number => throw new RepscopeException($"{source}: superclass '{name}': class index {item.GetRawText()} is not in 0..{classNames.Count - 1}"),
                    _ => throw new RepscopeException($"{source}: superclass '{name}': {item.GetRawText()} is neither a class name nor an index"),
                };
                if (classes.Contains(c)) { throw new RepscopeException($"{source}: superclass '{name}' lists class {c} ('{classNames[c]}') twice"); }
                classes.Add(c);
            }
            if (classes.Count == 0) { throw new RepscopeException($"{source}: superclass '{name}' has no classes"); }
            result.Add(new Superclass(name, classes));
        }
        if (result.Count == 0) { throw new RepscopeException($"{source}: no superclasses"); }
        return result;
    }

    private static int ClassByName(string className, IReadOnlyList<string> classNames, string superclass, string source)
    {
        for (int i = 0; i < classNames.Count; i++)
        {
            if (classNames[i] == className) { return i; }
        }
        throw new RepscopeException($"{source}: superclass '{superclass}': no class named '{className}' in the test set");
    }
}
