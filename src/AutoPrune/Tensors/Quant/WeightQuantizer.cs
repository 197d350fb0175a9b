namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Quantizes a loaded model's language-model matrices at load time (<c>--quantize q8_0|q4_k</c>): the attention and
/// MLP projections of every decoder layer and the output matrix, into native memory. Q8_0 quantizes all of them;
/// Q4_K uses Q6_K for the output matrix as llama.cpp does. Matrices whose rows do not split into whole blocks fall
/// back as llama.cpp does (Q4_K→Q5_0, Q6_K→Q8_0) or stay in their file type. Embeddings, norms and the vision tower
/// are left as they are.
/// </summary>
public static unsafe class WeightQuantizer
{
    public static DType Parse(string s) => s.ToLowerInvariant() switch
    {
        "q8_0" => DType.Q8_0,
        "q4_k" => DType.Q4_K,
        _ => throw new ModelLoadException($"cannot quantize to '{s}' (q8_0, q4_k)"),
    };

    public static bool IsTarget(string name) =>
        name == "language_model.lm_head.weight" ||
        (name.StartsWith("language_model.model.layers.", StringComparison.Ordinal) && name.EndsWith("_proj.weight", StringComparison.Ordinal));

    /// <summary>A new weight set owning <paramref name="source"/>; the targets re-encoded, everything else shared.</summary>
    public static ModelWeights Apply(ModelWeights source, DType target)
    {
        if (target is not (DType.Q8_0 or DType.Q4_K)) throw new ArgumentException($"{target} is not a --quantize target");
        var owners = new List<IDisposable>();
        var weights = new List<Weight>();
        try
        {
            foreach (var w in source.All)
            {
                DType t = w.Name == "language_model.lm_head.weight" && target == DType.Q4_K ? DType.Q6_K : target;
                if (w.Cols % t.BlockElements() != 0) t = t switch { DType.Q4_K => DType.Q5_0, DType.Q6_K => DType.Q8_0, _ => t };
                if (!IsTarget(w.Name) || w.Shape.Length != 2 || w.DType.IsQuantized() || w.Cols % t.BlockElements() != 0)
                {
                    weights.Add(w);
                    continue;
                }
                var buf = new SyntheticWeights.NativeBuffer(t.ByteCount(w.ElementCount));
                owners.Add(buf);
                Quantize.Rows(w, t, (byte*)buf.Pointer);
                weights.Add(new Weight(w.Name, t, w.Shape, (byte*)buf.Pointer));
            }
        }
        catch
        {
            foreach (var o in owners) o.Dispose();
            throw;
        }
        owners.Add(source);
        return new ModelWeights($"{source.Source} quantized to {target}", weights, owners);
    }
}
