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
    config.AddCommand<RunsCommand>("runs").WithDescription("List the runs under a folder: architecture, data, seed, epochs, accuracy, state.");
    config.AddCommand<VersionCommand>("version").WithDescription("Print the versions of Repscope, TorchSharp and libtorch.");
});
return Cli.Run(app, args);
