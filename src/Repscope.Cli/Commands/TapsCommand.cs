using System.ComponentModel;
using System.Text.Json;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope taps MODEL.onnx [--json]</c>: every tensor that can be tapped, the default set marked.</summary>
public sealed class TapsCommand(Terminal terminal) : Command<TapsCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<MODEL.onnx>")]
        [Description("An ONNX model file.")]
        public string Model { get; init; } = "";

        [CommandOption("--json")]
        [Description("Print JSON (inputs, every tensor with op type, element type, shape and whether it is a default tap) instead of a table.")]
        public bool Json { get; init; }
    }

    /// <summary>taps --json.</summary>
    public sealed record TapListing(string Model, string Producer, long Opset, IReadOnlyList<OnnxInput> Inputs, IReadOnlyList<string> Outputs,
                                    string DefaultRule, IReadOnlyList<string> DefaultTaps, IReadOnlyList<TapEntry> Tensors);

    public sealed record TapEntry(int Index, string Name, string OpType, string? ElementType, IReadOnlyList<string>? Shape, bool Default);

    public const string Rule = "outputs after residual additions (the activation or normalisation that alone reads the sum, else the sum); without residual additions, every activation and normalisation output";

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var graph = OnnxGraph.Read(s.Model);
        var tensors = OnnxModel.Describe(graph);
        var defaults = OnnxModel.DefaultTaps(graph);
        var marked = new HashSet<string>(defaults, StringComparer.Ordinal);
        var listing = new TapListing(s.Model, graph.Producer, graph.Opset, graph.Inputs, graph.Outputs, Rule, defaults,
            tensors.Select(t => new TapEntry(t.Index, t.Name, t.OpType, t.ElementType, t.Shape, marked.Contains(t.Name))).ToList());
        if (s.Json)
        {
            terminal.WriteLine(JsonSerializer.Serialize(listing, JsonDefaults.Options));
            return 0;
        }
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("#").AddColumn("default").AddColumn("tensor").AddColumn("op").AddColumn("type").AddColumn("shape");
        foreach (var t in listing.Tensors)
        {
            string[] cells = [t.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), t.Default ? "*" : "", t.Name, t.OpType,
                              t.ElementType ?? "?", t.Shape is null ? "?" : "[" + string.Join(", ", t.Shape) + "]"];
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        terminal.Out.Write(table);
        terminal.WriteLine($"{graph.Path}: {listing.Tensors.Count} tensors, opset {graph.Opset}, inputs {string.Join(", ", graph.Inputs.Select(i => $"{i.Name} {i.ElementType} [{string.Join(", ", i.Shape ?? [])}]"))}");
        terminal.WriteLine($"* default taps ({defaults.Count}): {Rule}");
        return 0;
    }
}
