using AutoPrune.Models;

namespace AutoPrune.Tests.Support;

/// <summary>Loads the embedded model once for all parity tests.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public LlavaModel F32 { get; } = LlavaModel.Load(TestPaths.TinyModel);
    private LlavaModel? _bf16;
    public LlavaModel Bf16 => _bf16 ??= LlavaModel.Load(TestPaths.TinyModel, "model.bf16.safetensors");
    public void Dispose() { F32.Dispose(); _bf16?.Dispose(); }
}
