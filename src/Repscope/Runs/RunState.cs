namespace Repscope.Runs;

/// <summary>
/// The state of a run folder. run.json itself only ever says <see cref="Training"/> or <see cref="Finished"/>;
/// <see cref="RunFormat.Inspect"/> also reports folders without a run (<see cref="Missing"/>) and runs that cannot
/// be used (<see cref="Broken"/>, with the reason).
/// </summary>
public enum RunState
{
    /// <summary>No run.json: nothing was trained here (yet).</summary>
    Missing,
    /// <summary>run.json says "training": partial (still training, interrupted or killed); continue it with resume.</summary>
    Training,
    /// <summary>run.json says "finished" and every file it promises exists.</summary>
    Finished,
    /// <summary>run.json is unreadable or invalid, or a promised file is missing.</summary>
    Broken,
}

/// <summary>A run folder's state without loading anything heavy; <see cref="Info"/> when run.json is valid, <see cref="Problem"/> when broken.</summary>
public sealed record RunStatus(string Path, RunState State, RunInfo? Info, string? Problem);

/// <summary>What ties a checkpoint to its run: the seed and a fingerprint of the whole configuration.</summary>
public sealed record RunIdentity(int Seed, string ConfigFingerprint)
{
    public override string ToString() => $"seed {Seed}, configuration {ConfigFingerprint}";
}
