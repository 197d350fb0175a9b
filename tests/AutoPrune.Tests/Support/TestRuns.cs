using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Support;

/// <summary>Prefills that also hand every layer's output to the test (the run's test seam).</summary>
internal static class TestRuns
{
    public static InferenceRun Prefill(LlavaModel model, float[] pixels, TokenizedPrompt prompt, IPruningPolicy? policy,
        Action<int, float[], int> layerOutputs)
    {
        var run = model.StartRun(prompt, [model.EncodeImage(pixels)], policy);
        run.OnLayerOutput = layerOutputs;
        run.Prefill();
        return run;
    }
}
