using AutoPrune.Loading;

namespace AutoPrune.Plots;

/// <summary>The image the vision tower saw: the input after the processor's pad / resize / center crop, before normalization.</summary>
public static class ModelCrop
{
    public static RgbImage Prepare(ClipImageProcessor p, RgbImage image)
    {
        var img = image;
        if (p.PadToSquare) img = ClipImageProcessor.ExpandToSquare(img, p.PadColor);
        if (p.DoResize)
        {
            var (w, h) = p.ResizeTarget(img.Width, img.Height);
            img = BicubicResize.Resize(img, w, h, p.Resample);
        }
        if (p.DoCenterCrop) img = ClipImageProcessor.CenterCrop(img, p.CropHeight, p.CropWidth);
        return img;
    }
}
