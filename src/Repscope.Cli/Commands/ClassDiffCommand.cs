using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Repscope.Analysis.Statistics;
using Repscope.Interop;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope classdiff A.npy B.npy</c>: per-class t-tests between two matrices of per-class
/// accuracies (rows: models / seeds, columns: classes) with the Holm-Sidak correction.
/// </summary>
public sealed class ClassDiffCommand(Terminal terminal) : Command<ClassDiffCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<A.npy>")]
        [Description("Per-class accuracies of group A: rows = models/seeds, columns = classes (a vector = one class). NaN in a whole column = class without test examples.")]
        public string A { get; init; } = "";

        [CommandArgument(1, "<B.npy>")]
        [Description("Per-class accuracies of group B, same columns.")]
        public string B { get; init; } = "";

        [CommandOption("--alpha <ALPHA>")]
        [Description("Family-wise significance level for the Holm-Sidak correction.")]
        [DefaultValue(0.05)]
        public double Alpha { get; init; } = 0.05;

        [CommandOption("--welch")]
        [Description("Welch's t-test (unequal variances) instead of Student's pooled-variance test.")]
        public bool Welch { get; init; }

        [CommandOption("--json")]
        [Description("Print the result as JSON on stdout instead of a table.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        double[,] a = ReadMatrix(settings.A), b = ReadMatrix(settings.B);
        var test = settings.Welch ? TTestKind.Welch : TTestKind.Student;
        var result = ClassDiff.Compare(a, b, test, settings.Alpha, nameA: settings.A, nameB: settings.B);
        if (settings.Json)
        {
            terminal.WriteLine(JsonSerializer.Serialize(ClassDiffJson.From(result), JsonDefaults.Options));
            return 0;
        }
        terminal.WriteLine($"{(test == TTestKind.Welch ? "Welch" : "Student")} t-test per class over {a.GetLength(0)} vs {b.GetLength(0)} runs; " +
                          $"Holm-Sidak over {result.Tested} classes at alpha {settings.Alpha.ToString(CultureInfo.InvariantCulture)}: {result.SignificantCount} significant");
        terminal.WriteLine($"{"class",6} {"mean A",9} {"mean B",9} {"A - B",9} {"t",9} {"p",10} {"p adj",10}  sig");
        foreach (var c in result.ByDifference())
        {
            terminal.WriteLine(c.Undefined is not null && double.IsNaN(c.T)
                ? $"{c.Class,6} {c.MeanA,9:F4} {c.MeanB,9:F4} {c.Difference,9:F4}  undefined: {c.Undefined}"
                : $"{c.Class,6} {c.MeanA,9:F4} {c.MeanB,9:F4} {c.Difference,9:F4} {c.T,9:F3} {c.P,10:G3} {c.PAdjusted,10:G3}  {(c.Significant ? "*" : "")}");
        }
        return 0;
    }

    private static double[,] ReadMatrix(string path)
    {
        if (Directory.Exists(path))
        {
            throw new RepscopeException($"{path}: a folder, not a .npy of per-class accuracies; to compare runs' mistakes per example and per class, use `repscope errors --group-a 'RUNS_A*' --group-b 'RUNS_B*'`");
        }
        var array = Npy.Read(path);
        long rows, columns;
        switch (array.Shape.Length)
        {
            case 1: rows = array.Shape[0]; columns = 1; break;
            case 2: rows = array.Shape[0]; columns = array.Shape[1]; break;
            default: throw new RepscopeException($"{path}: expected a matrix (runs x classes), got shape ({string.Join(", ", array.Shape)})");
        }
        if (columns == 0) { throw new RepscopeException($"{path}: has no classes (0 columns)"); }
        double[] data = array.ToFloat64();
        int bad = Array.FindIndex(data, v => v is < 0 or > 1);
        if (bad >= 0)
        {
            string hint = data.Where(double.IsFinite).All(v => v is >= 0 and <= 100) ? " (percentages? divide them by 100)" : "";
            throw new RepscopeException($"{path}: row {bad / columns}, column {bad % columns}: accuracy {data[bad].ToString(CultureInfo.InvariantCulture)} is outside [0, 1]{hint}");
        }
        var m = new double[rows, columns];
        for (long i = 0; i < rows; i++) { for (long j = 0; j < columns; j++) { m[i, j] = data[i * columns + j]; } }
        return m;
    }

    /// <summary>The JSON shape fixed by issue 5 (snake_case), plus the test's df, why a test is undefined
    /// ("undefined") and the caveat of a p = 0 from zero variance in both groups ("note").</summary>
    internal sealed record ClassDiffJson(
        [property: JsonPropertyName("test")] TTestKind Test,
        [property: JsonPropertyName("alpha")] double Alpha,
        [property: JsonPropertyName("correction")] string Correction,
        [property: JsonPropertyName("tested")] int Tested,
        [property: JsonPropertyName("classes")] IReadOnlyList<ClassJson> Classes)
    {
        public static ClassDiffJson From(ClassDiffResult r) => new(r.Test, r.Alpha, "holm-sidak", r.Tested,
            r.Classes.Select(c => new ClassJson(c.Class, c.MeanA, c.MeanB, c.Difference, c.T, c.Df, c.P, c.PAdjusted, c.Significant, c.Undefined, c.Note)).ToList());
    }

    internal sealed record ClassJson(
        [property: JsonPropertyName("class")] int Class,
        [property: JsonPropertyName("mean_a")] double MeanA,
        [property: JsonPropertyName("mean_b")] double MeanB,
        [property: JsonPropertyName("difference")] double Difference,
        [property: JsonPropertyName("t")] double T,
        [property: JsonPropertyName("df")] double Df,
        [property: JsonPropertyName("p")] double P,
        [property: JsonPropertyName("p_adjusted")] double PAdjusted,
        [property: JsonPropertyName("significant")] bool Significant,
        [property: JsonPropertyName("undefined")] string? Undefined,
        [property: JsonPropertyName("note")] string? Note);
}
