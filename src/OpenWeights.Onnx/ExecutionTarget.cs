namespace OpenWeights.Onnx;

/// <summary>The ONNX Runtime execution provider a model is built for and run on.</summary>
public enum ExecutionTarget { Cpu, Cuda, TensorRt }
