using System.IO.Compression;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>
/// The README's C# program, compiled against the library packages (packed into a local folder feed, not project
/// references) and run on the sample: it must build, convert, and generate what <c>owonnx run</c> generates with
/// the same options. The packages carry their README, licence and XML docs.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class ReadmeSnippetTests
{
    private static readonly string[] Libraries =
        ["src/OpenWeights.Onnx/OpenWeights.Onnx.csproj", "converters/OpenWeights.Onnx.Converters.csproj", "src/OpenWeights.Onnx.Server/OpenWeights.Onnx.Server.csproj"];

    private static string RepositoryRoot => Path.GetFullPath(Path.Combine(TestFixtures.Root, "..", ".."));

    /// <summary>The build configuration the tests were built with (bin/&lt;Configuration&gt;/net10.0/&lt;rid&gt;/).</summary>
    private static string Configuration => new DirectoryInfo(AppContext.BaseDirectory).Parent!.Parent!.Name;

    private static string Snippet()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var block = Regex.Match(readme, "<!-- readme-snippet:start -->\\s*```csharp\\n(.*?)```\\s*<!-- readme-snippet:end -->", RegexOptions.Singleline);
        Assert.IsTrue(block.Success, "README.md lost its readme-snippet block");
        return block.Groups[1].Value;
    }

    private static async Task<BufferedCommandResult> DotnetAsync(string workingDirectory, params string[] arguments)
    {
        var result = await CliWrap.Cli.Wrap("dotnet")
            .WithArguments(arguments)
            .WithWorkingDirectory(workingDirectory)
            .WithEnvironmentVariables(e => e.Set("DOTNET_CLI_TELEMETRY_OPTOUT", "1").Set("DOTNET_NOLOGO", "1").Set("ORT_DISABLE_TELEMETRY", "1"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(10)).Token);
        Assert.AreEqual(0, result.ExitCode, $"dotnet {string.Join(' ', arguments)}\n{result.StandardOutput}\n{result.StandardError}");
        return result;
    }

    [TestMethod]
    public async Task TheReadmeProgramBuildsFromThePackagesAndGeneratesWhatTheCliDoes()
    {
        string work = TestFixtures.Scratch("snippet");
        string feed = Path.Combine(work, "feed"), app = Path.Combine(work, "app");
        // A version of its own, so that no package cached by an earlier run is taken instead of this build.
        string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        try
        {
            foreach (var library in Libraries)
                await DotnetAsync(RepositoryRoot, "pack", library, "-c", Configuration, "--no-build", "-o", feed, $"-p:Version={version}");
            foreach (var id in new[] { "OpenWeights.Onnx", "OpenWeights.Onnx.Converters", "OpenWeights.Onnx.Server" })
            {
                using var zip = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
                var names = zip.Entries.Select(e => e.FullName).ToHashSet();
                foreach (var expected in new[] { $"lib/net10.0/{id}.dll", $"lib/net10.0/{id}.xml", "README.md", "LICENSE" })
                    Assert.Contains(expected, names, $"{id} package: {string.Join(", ", names)}");
                Assert.IsTrue(File.Exists(Path.Combine(feed, $"{id}.{version}.snupkg")), $"{id}: symbols package");
            }

            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "Program.cs"), Snippet());
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <NoWarn>NU1603</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="OpenWeights.Onnx" Version="{version}" />
                    <PackageReference Include="OpenWeights.Onnx.Converters" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <configuration>
                  <packageSources>
                    <add key="owonnx-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            string converted = Path.Combine(work, "fortune-int4");
            var run = await DotnetAsync(app, "run", "-c", "Release", "--", TestFixtures.FortuneLlama, converted);
            Assert.IsFalse(string.IsNullOrWhiteSpace(run.StandardOutput), run.StandardError);

            var cli = await OwonnxCli.RunAsync("run", converted, "A fool and his money", "--max-new-tokens", "32",
                "--temperature", "0.7", "--top-p", "0.9", "--top-k", "0", "--repetition-penalty", "1", "--seed", "42");
            Assert.AreEqual(0, cli.ExitCode, cli.StandardError);
            Assert.AreEqual(cli.StandardOutput.TrimEnd('\n'), run.StandardOutput, "the library from its packages generates what owonnx run does");
        }
        finally
        {
            // Only this run's uniquely versioned packages leave the NuGet cache.
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                           ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var id in new[] { "openweights.onnx", "openweights.onnx.converters", "openweights.onnx.server" })
            {
                string folder = Path.Combine(cache, id, version);
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }
    }
}
