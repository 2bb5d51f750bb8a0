using Cocona;
using OpenWeights.Onnx.Cli.Commands;

// ORT writes telemetry under ~/.cache unless told not to; a local tool has no business doing that.
Environment.SetEnvironmentVariable("ORT_DISABLE_TELEMETRY", "1");

var app = CoconaApp.Create(args, options =>
{
    options.TreatPublicMethodsAsCommands = false;
    options.EnableShellCompletionSupport = false;
});
app.AddCommands<ConvertCommand>();
app.AddCommands<InspectCommand>();
app.AddCommands<RunCommand>();
app.AddCommands<ChatCommand>();
app.AddCommands<BenchCommand>();
app.AddCommands<EvalCommand>();
app.AddCommands<ServeCommand>();
app.AddCommands<ProvidersCommand>();
app.AddCommands<PullCommand>();
app.AddCommands<AdapterCommand>();
app.Run();
// Cocona exits with 129 after printing help for --help; asking for help is not a failure.
const int CoconaHelpExitCode = 129;
bool helpRequested = args.Any(a => a is "-h" or "--help");
return helpRequested && Environment.ExitCode == CoconaHelpExitCode ? 0 : Environment.ExitCode;
