namespace MoeDetect.Evaluation;

/// <summary>One detection in the COCO results format: image, category id (not model class index), box x,y,w,h
/// in original-image pixels, and confidence.</summary>
public sealed record CocoDetection(int ImageId, int CategoryId, double X, double Y, double Width, double Height, double Score)
{
    public CocoBox Box => new(X, Y, Width, Height);
}
