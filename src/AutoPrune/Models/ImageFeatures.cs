namespace AutoPrune.Models;

/// <summary>
/// One image as the language model receives it: the projector's output rows and, per token, what the vision tower
/// measured (pruning policies rank by them). Computed by <see cref="LlavaModel.EncodeImage"/> independently of any
/// prompt, so it can be reused across prefills (e.g. cached by image content over a chat). Per-token arrays are in
/// the image's token order; a visual token's original id (trace, contexts) indexes them after the image's offset.
/// </summary>
/// <param name="Features">[Tokens, HiddenSize] projected features, the decoder's input rows.</param>
/// <param name="ClsAttention">[Tokens] vision [CLS]→token attention of the feature layer, mean over heads.</param>
/// <param name="VisionKeys">[Tokens, VisionHiddenSize] that layer's key projections (VisionZip's similarity).</param>
public sealed record ImageFeatures(float[] Features, int Tokens, int HiddenSize, float[] ClsAttention, float[] VisionKeys, int VisionHiddenSize);
