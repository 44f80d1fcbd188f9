using System.Text.Json;

namespace Repscope.Tests;

/// <summary>The reference values in tests/fixtures/*.json, written by the scripts beside them.</summary>
internal static class ReferenceFiles
{
    public static JsonElement Load(string fileName)
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Repscope.slnx"))) { dir = Path.GetDirectoryName(dir); }
        Assert.NotNull(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir!, "tests", "fixtures", fileName)));
        return doc.RootElement.Clone();
    }
}
