using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>LLaVA-1.5 projector: linear_2(gelu(linear_1(x))), exact erf GELU.</summary>
public sealed class MultiModalProjector
{
    private const string P = "multi_modal_projector.";
    private readonly Weight _l1, _l2;
    private readonly float[] _b1, _b2;

    public MultiModalProjector(LlavaConfig config, ModelWeights w)
    {
        int dv = config.Vision.HiddenSize, dt = config.Text.HiddenSize;
        _l1 = w.Get(P + "linear_1.weight");
        if (_l1.Shape.Length != 2 || _l1.Shape[1] != dv)
            throw new ConfigMismatchException($"{P}linear_1.weight has shape [{string.Join(",", _l1.Shape)}]; vision hidden size is {dv}");
        int mid = _l1.Shape[0];
        _b1 = w.Get(P + "linear_1.bias", mid).ToFloat32();
        _l2 = w.Get(P + "linear_2.weight", dt, mid);
        _b2 = w.Get(P + "linear_2.bias", dt).ToFloat32();
    }

    /// <summary>x: [n, Dv] → [n, Dt].</summary>
    public float[] Forward(float[] x, int n)
    {
        var mid = new float[n * _l1.Rows];
        MatMul.Linear(x, n, _l1, _b1, mid, Activation.Gelu);
        var y = new float[n * _l2.Rows];
        MatMul.Linear(mid, n, _l2, _b2, y);
        return y;
    }
}
