namespace AutoPrune.Tests.Support;

/// <summary>Tests that change process-wide state (environment variables, the current directory) or measure time run
/// one at a time, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment";
}
