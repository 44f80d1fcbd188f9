using Repscope.Cli;

// Program.cs only starts the app; App.Configure registers the commands (each in Commands/, a file of its own).
return App.Run(args, Terminal.System());
