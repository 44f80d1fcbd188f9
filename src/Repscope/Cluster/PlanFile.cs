using System.Text.Json;
using Repscope.Reproduce;

namespace Repscope.Cluster;

/// <summary>
/// An <see cref="ExperimentPlan"/> as a JSON file (<c>"format": "repscope-plan/1"</c>). <c>reproduce --slurm</c>
/// writes the grid it submits into DIR/slurm/plan.json and every job reads it back, so the jobs run
/// exactly the grid that was submitted; a hand-made file gives a custom grid (tests use tiny ones).
/// </summary>
public static class PlanFile
{
    public const string Format = "repscope-plan/1";

    private sealed record Pair(RunSpec First, RunSpec Second);

    private sealed record Dto(
        string Format, GridScale Scale, int? TestExamples,
        IReadOnlyList<RunSpec> DepthRow, IReadOnlyList<RunSpec> WidthRow, IReadOnlyList<RunSpec> LessDataRow,
        Pair NoResidual, Pair SeedPair, IReadOnlyList<RunSpec> ProbeAndPrune,
        IReadOnlyList<RunSpec> ErrorsDeep, IReadOnlyList<RunSpec> ErrorsWide);

    public static void Write(string path, ExperimentPlan plan) =>
        AtomicFile.WriteJson(path, new Dto(Format, plan.Scale, plan.TestExamples, plan.DepthRow, plan.WidthRow, plan.LessDataRow,
                                           new Pair(plan.NoResidual.With, plan.NoResidual.Without), new Pair(plan.SeedPair.A, plan.SeedPair.B),
                                           plan.ProbeAndPrune, plan.ErrorsDeep, plan.ErrorsWide));

    /// <summary>Reads and validates a plan file; a missing, malformed or inconsistent one is a <see cref="RepscopeException"/> naming the file.</summary>
    public static ExperimentPlan Read(string path)
    {
        if (!File.Exists(path)) { throw new RepscopeException($"{path}: no such plan file"); }
        Dto? dto;
        try { dto = JsonSerializer.Deserialize<Dto>(File.ReadAllText(path), JsonDefaults.Options); }
        catch (JsonException e) { throw new RepscopeException($"{path}: not a plan file ({e.Message})"); }
        if (dto is null || dto.Format != Format)
        {
            throw new RepscopeException($"{path}: not a plan file (expected \"format\": \"{Format}\")");
        }
        if (dto.DepthRow is null || dto.WidthRow is null || dto.LessDataRow is null || dto.NoResidual?.First is null || dto.NoResidual.Second is null
            || dto.SeedPair?.First is null || dto.SeedPair.Second is null || dto.ProbeAndPrune is null || dto.ErrorsDeep is null || dto.ErrorsWide is null)
        {
            throw new RepscopeException($"{path}: plan file lacks one of depthRow, widthRow, lessDataRow, noResidual, seedPair, probeAndPrune, errorsDeep, errorsWide");
        }
        var plan = new ExperimentPlan(dto.Scale, dto.DepthRow, dto.WidthRow, dto.LessDataRow, (dto.NoResidual.First, dto.NoResidual.Second),
                                      (dto.SeedPair.First, dto.SeedPair.Second), dto.ProbeAndPrune, dto.ErrorsDeep, dto.ErrorsWide)
        { TestExamples = dto.TestExamples };
        try { plan.Validate(); }
        catch (RepscopeException e) { throw new RepscopeException($"{path}: {e.Message}"); }
        return plan;
    }
}
