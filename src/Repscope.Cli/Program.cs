using Repscope.Cli;
using Repscope.Cli.Commands;
using Spectre.Console.Cli;

// Program.cs only registers commands; each command lives in Commands/ in a file of its own.
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("repscope");
    config.PropagateExceptions();
    config.AddCommand<TrainCommand>("train").WithDescription("Train a ResNet (depth, width, residual or not) into a run directory.");
    config.AddCommand<ErrorsCommand>("errors").WithDescription("Do two groups of runs make the same mistakes? Per-example and per-class comparison beside a seed control.");
    config.AddCommand<ClassDiffCommand>("classdiff").WithDescription("Per-class t-tests (Holm-Sidak corrected) between two matrices of per-class accuracies (.npy, rows = seeds).");
    config.AddCommand<CkaCommand>("cka").WithDescription("CKA of two activation matrices (.npy, rows = examples).");
    config.AddCommand<HeatmapCommand>("heatmap").WithDescription("All-pairs CKA heatmap of the arrays in an .npz (or between two): cka.json + cka.png.");
    config.AddCommand<VersionCommand>("version").WithDescription("Print the versions of Repscope, TorchSharp and libtorch.");
});
return Cli.Run(app, ErrorsCommand.NormalizeArgs(args));
