using System.Globalization;
using System.Text;

namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>Writes metrics in Prometheus' text exposition format (version 0.0.4).</summary>
public sealed class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _text = new();

    public void Header(string name, string type, string help) =>
        _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
             .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public void Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        _text.Append(name);
        if (labels.Length > 0)
        {
            _text.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) _text.Append(',');
                _text.Append(labels[i].Name).Append("=\"").Append(Escape(labels[i].Value)).Append('"');
            }
            _text.Append('}');
        }
        _text.Append(' ').Append(Format(value)).Append('\n');
    }

    public void Counter(string name, string help, double value)
    {
        Header(name, "counter", help);
        Sample(name, value);
    }

    public void Gauge(string name, string help, double value)
    {
        Header(name, "gauge", help);
        Sample(name, value);
    }

    public void Histogram(Histogram histogram)
    {
        Header(histogram.Name, "histogram", histogram.Help);
        var (counts, sum) = histogram.Snapshot();
        long cumulative = 0;
        for (int i = 0; i < histogram.UpperBounds.Count; i++)
        {
            cumulative += counts[i];
            Sample(histogram.Name + "_bucket", cumulative, ("le", Format(histogram.UpperBounds[i])));
        }
        cumulative += counts[^1];
        Sample(histogram.Name + "_bucket", cumulative, ("le", "+Inf"));
        Sample(histogram.Name + "_sum", sum);
        Sample(histogram.Name + "_count", cumulative);
    }

    public override string ToString() => _text.ToString();

    private static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
