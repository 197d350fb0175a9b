using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Evaluation;

/// <summary>Binds the engine to the evaluation runner: one greedy answer per question with its accounting.</summary>
public static class ModelAnswerer
{
    public static Func<EvalQuestion, CancellationToken, EvalAnswer> Create(IVisionLanguageModel model, IPruningPolicy policy, int? maxNewTokens = null) =>
        (q, ct) =>
        {
            ct.ThrowIfCancellationRequested();
            var a = Generator.Ask(model, q.ImagePath, q.Text, new GenerationOptions { Policy = policy, MaxNewTokens = maxNewTokens });
            var t = a.Trace;
            return new EvalAnswer(a.Text, t.VisualTokensPerLayer, t.MeanVisualTokens, t.Flops, t.FlopsUnpruned, t.PrefillMs, t.DecodeMs);
        };

    /// <summary>
    /// Runs the policy's per-prefill setup against this model's shape, so an infeasible budget is refused before
    /// any question is answered (PruningOptionException).
    /// </summary>
    public static void CheckFeasible(IVisionLanguageModel model, IPruningPolicy policy)
    {
        // LLaVA-NeXT's count depends on the image: its largest tiling is the one that needs the most.
        policy.Begin(new PruningSetup(model.MaxImageTokens, model.LanguageModel.Config.NumHiddenLayers, new Accounting.PrefillTrace()));
    }
}
