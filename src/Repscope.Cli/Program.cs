using Repscope.Cli;

// Program.cs only starts the app; App.Configure registers the commands (each in Commands/, a file of its own).
int code = App.Run(args, Terminal.System());
return ProcessExit.End(code);
