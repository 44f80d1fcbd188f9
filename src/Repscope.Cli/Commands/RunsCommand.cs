using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Repscope.Runs;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope runs [DIR]</c>: a table of the runs under a folder.</summary>
public sealed class RunsCommand(Terminal terminal) : Command<RunsCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[DIR]"), Description("Folder to search for runs (at any depth)"), DefaultValue("runs")]
        public string Dir { get; init; } = "runs";

        [CommandOption("--json"), Description("Print the list as JSON on stdout instead of a table")]
        public bool Json { get; init; }
    }

    /// <summary>One row of the listing (also the JSON shape).</summary>
    public sealed record Row(string Run, string State, string? Architecture, string? Data, long? TrainExamples, int? Seed,
                             int? EpochsDone, int? Epochs, double? TestAccuracy, long? Parameters, string? Problem);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        string root = Path.GetFullPath(s.Dir);
        var rows = RunFormat.FindAll(root).Select(r => ToRow(root, r)).ToList();
        if (s.Json)
        {
            terminal.WriteLine(JsonSerializer.Serialize(rows, JsonDefaults.Options));
            return 0;
        }
        if (rows.Count == 0)
        {
            terminal.WriteLine($"no runs under {root}");
            return 0;
        }
        var table = new Table().Border(TableBorder.Simple);
        foreach (string h in new[] { "run", "architecture", "data", "train", "seed", "epochs", "test acc", "state" }) { table.AddColumn(h); }
        foreach (var r in rows)
        {
            table.AddRow(
                Markup.Escape(r.Run), Markup.Escape(r.Architecture ?? "?"), Markup.Escape(r.Data ?? "?"),
                r.TrainExamples?.ToString(CultureInfo.InvariantCulture) ?? "", r.Seed?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.Epochs is null ? "" : $"{r.EpochsDone}/{r.Epochs}",
                r.TestAccuracy is { } a ? a.ToString("P2", CultureInfo.InvariantCulture) : "",
                r.State == "broken" ? "[red]broken[/]" : r.State == "partial" ? "[yellow]partial[/]" : "finished");
        }
        terminal.Out.Write(table);
        foreach (var r in rows.Where(r => r.Problem is not null)) { terminal.WriteLine($"{r.Run}: {r.Problem}"); }
        return 0;
    }

    private static Row ToRow(string root, RunStatus r)
    {
        string name = Path.GetRelativePath(root, r.Path);
        string state = r.State switch { RunState.Finished => "finished", RunState.Training => "partial", _ => "broken" };
        if (r.Info is not { } i) { return new Row(name, state, null, null, null, null, null, null, null, null, r.Problem); }
        var c = i.Config;
        string data = c.DataSource == "test-split-only" && c.Data != "fashion-mnist-small" ? $"{c.Data} (shipped split)" :
                      c.DataSource == "folder-split" ? $"{c.Data} (80/20 split)" : c.Data;
        double? acc = i.FinalTestAccuracy ?? (i.Epochs.Count > 0 ? i.Epochs[^1].TestAccuracy : null);
        return new Row(name, state, i.Architecture, data, c.TrainExamples, c.Seed, i.Epochs.Count, c.Epochs, acc, i.ParameterCount, r.Problem);
    }
}
