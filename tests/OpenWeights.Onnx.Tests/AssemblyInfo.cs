// Tests share converted fixtures on disk and ONNX Runtime's process-wide environment; the machine has 2 cores.
[assembly: Parallelize(Workers = 2, Scope = ExecutionScope.ClassLevel)]
