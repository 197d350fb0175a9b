using System.CommandLine;
using AutoPrune.Models;

namespace AutoPrune.Cli.Commands;

/// <summary>The decoding options shared by ask and chat: temperature, top-p, top-k, seed, repetition penalty, stop.</summary>
public sealed class SamplingOptionsCli
{
    public readonly Option<float> Temperature = new Option<float>("--temperature") { Description = "sampling temperature; 0 = greedy (default)", DefaultValueFactory = _ => 0f, HelpName = "T" }
        .Validate(t => float.IsFinite(t) && t >= 0, "a number >= 0");
    public readonly Option<float> TopP = new Option<float>("--top-p") { Description = "nucleus sampling threshold (with --temperature > 0)", DefaultValueFactory = _ => 1f, HelpName = "P" }
        .Validate(p => p > 0 && p <= 1, "in (0, 1]");
    public readonly Option<int> TopK = new Option<int>("--top-k") { Description = "sample among the K most likely tokens only (with --temperature > 0); 0 = no limit", DefaultValueFactory = _ => 0, HelpName = "K" }
        .Validate(k => k >= 0, "an integer >= 0");
    public readonly Option<int> Seed = new("--seed") { Description = "random seed for sampling (same seed, same answer)", DefaultValueFactory = _ => 0, HelpName = "N" };
    public readonly Option<float> Penalty = new Option<float>("--repetition-penalty") { Description = "penalty on tokens already in the prompt or answer; 1 = none (default)", DefaultValueFactory = _ => 1f, HelpName = "P" }
        .Validate(p => float.IsFinite(p) && p > 0, "a number > 0");
    public readonly Option<string[]> Stop = new("--stop") { Description = "end the answer before this text, repeatable", HelpName = "TEXT", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Temperature, TopP, TopK, Seed, Penalty, Stop }) c.Options.Add(o);
    }

    /// <summary>The decoding settings given on the command line.</summary>
    public GenerationOptions Options(ParseResult r, int? maxNewTokens) => new()
    {
        MaxNewTokens = maxNewTokens, Temperature = r.GetValue(Temperature), TopP = r.GetValue(TopP), TopK = r.GetValue(TopK),
        Seed = r.GetValue(Seed), RepetitionPenalty = r.GetValue(Penalty), Stop = r.GetValue(Stop) is { Length: > 0 } s ? s : null,
    };
}
