using OpenWeights.Onnx.Cli.CommandLine;

// ORT writes telemetry under ~/.cache unless told not to; a local tool has no business doing that.
Environment.SetEnvironmentVariable("ORT_DISABLE_TELEMETRY", "1");

return await OwonnxCommandLine.RunAsync(args);
