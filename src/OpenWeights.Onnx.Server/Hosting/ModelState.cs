namespace OpenWeights.Onnx.Server.Hosting;

public enum ModelState
{
    Loading,
    Ready,
    Failed,
    ShuttingDown,
}
