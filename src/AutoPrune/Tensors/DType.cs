namespace AutoPrune.Tensors;

/// <summary>Element types of weights as stored in safetensors files.</summary>
public enum DType { F32, F16, BF16 }

public static class DTypes
{
    public static int Size(this DType t) => t == DType.F32 ? 4 : 2;

    /// <summary>Parses the safetensors dtype string; null when unsupported.</summary>
    public static DType? Parse(string s) => s switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        _ => null,
    };

    public static string Name(this DType t) => t switch { DType.F32 => "F32", DType.F16 => "F16", _ => "BF16" };
}
