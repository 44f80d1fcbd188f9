using Repscope.Cli;
using Repscope.Cli.Commands;
using Spectre.Console.Cli;

// Program.cs only registers commands; each command lives in Commands/ in a file of its own.
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("repscope");
    config.PropagateExceptions();
    config.AddCommand<ReproduceCommand>("reproduce").WithDescription("Reproduce the paper's experiments (train the grid, analyse, report.html); --quick: minutes on a CPU.");
    config.AddCommand<TrainCommand>("train").WithDescription("Train a ResNet (depth, width, residual or not) into a run directory.");
    config.AddCommand<RunsCommand>("runs").WithDescription("List the runs under a folder: architecture, data, seed, epochs, accuracy, state.");
    config.AddCommand<LayersCommand>("layers").WithDescription("Within-model CKA heatmap, block structure and PC1 fraction per layer of a run.");
    config.AddCommand<CompareCommand>("compare").WithDescription("Cross-model CKA heatmaps of two or more runs on the same examples.");
    config.AddCommand<PcCommand>("pc").WithDescription("First principal components: their similarity across layers and CKA without them.");
    config.AddCommand<ProbeCommand>("probe").WithDescription("Linear probe accuracy of every block output and residual branch of a run.");
    config.AddCommand<PruneCommand>("prune").WithDescription("Delete residual blocks from the end of each stage and measure accuracy.");
    config.AddCommand<TapsCommand>("taps").WithDescription("Every tensor of an ONNX model that can be tapped (op, type, shape), the default taps marked.");
    config.AddCommand<ExportCommand>("export").WithDescription("Write the activations of a run or an ONNX model at its taps for chosen examples to .npz.");
    config.AddCommand<ErrorsCommand>("errors").WithDescription("Do two groups of runs make the same mistakes? Per-example and per-class comparison beside a seed control.");
    config.AddCommand<ClassDiffCommand>("classdiff").WithDescription("Per-class t-tests (Holm-Sidak corrected) between two matrices of per-class accuracies (.npy, rows = seeds).");
    config.AddCommand<CkaCommand>("cka").WithDescription("CKA of two activation matrices (.npy, rows = examples).");
    config.AddCommand<HeatmapCommand>("heatmap").WithDescription("All-pairs CKA heatmap of the arrays in an .npz (or between two): cka.json + cka.png.");
    config.AddCommand<VersionCommand>("version").WithDescription("Print the versions of Repscope, TorchSharp and libtorch.");
});
return Cli.Run(app, ErrorsCommand.NormalizeArgs(args));
