namespace AutoPrune.Tests.Support;

/// <summary>
/// Tests that change the process-wide <see cref="Parallelism.MaxThreads"/> share this collection so they
/// never run concurrently and never see each other's setting.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ThreadCountCollection { public const string Name = "thread count"; }
