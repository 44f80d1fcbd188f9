namespace Repscope.Workflows;

/// <summary>What a workflow produced: its typed result and the files it wrote, in the order written (the JSON result first, then the figures).</summary>
public sealed record Written<T>(T Result, IReadOnlyList<string> Files);
