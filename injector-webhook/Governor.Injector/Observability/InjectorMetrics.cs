using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Governor.Injector.Observability;

/// <summary>
/// Counters kept in plain fields and published two ways: a <see cref="Meter"/> named
/// <c>Governor.Injector</c> (for an OpenTelemetry collector or dotnet-counters) and Prometheus
/// text at <c>/metrics</c> (for a plain scrape), without a metrics library dependency.
/// </summary>
internal sealed class InjectorMetrics : IDisposable
{
    public const string MeterName = "Governor.Injector";

    private readonly ConcurrentDictionary<(string Outcome, string Reason), long> _admissions = new();
    private readonly Meter _meter = new(MeterName, InjectionConventions.Version);
    private long _durationTicks;
    private long _durationCount;
    private long _certificateReloads;
    private long _certificateReloadFailures;
    private long _certificateNotAfterUnixSeconds;

    public InjectorMetrics()
    {
        _meter.CreateObservableCounter("governor.injector.admissions",
            () => _admissions.Select(p => new Measurement<long>(p.Value,
                new KeyValuePair<string, object?>("outcome", p.Key.Outcome), new KeyValuePair<string, object?>("reason", p.Key.Reason))),
            description: "Admission requests answered, by outcome and reason.");
        _meter.CreateObservableCounter("governor.injector.certificate.reloads", () => Interlocked.Read(ref _certificateReloads),
            description: "Serving certificates loaded from the mounted secret.");
    }

    public void RecordAdmission(string outcome, string reason, TimeSpan elapsed)
    {
        _admissions.AddOrUpdate((outcome, reason), 1, (_, count) => count + 1);
        Interlocked.Add(ref _durationTicks, elapsed.Ticks);
        Interlocked.Increment(ref _durationCount);
    }

    public void RecordCertificateLoaded(DateTimeOffset notAfter)
    {
        Interlocked.Increment(ref _certificateReloads);
        Interlocked.Exchange(ref _certificateNotAfterUnixSeconds, notAfter.ToUnixTimeSeconds());
    }

    public void RecordCertificateLoadFailed() => Interlocked.Increment(ref _certificateReloadFailures);

    public string ToPrometheusText()
    {
        var text = new StringBuilder();
        void Header(string name, string type, string help) =>
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        void Sample(string name, string labels, double value) =>
            text.Append(name).Append(labels).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

        Header("governor_injector_admissions_total", "counter", "Admission requests answered, by outcome and reason.");
        foreach (var ((outcome, reason), count) in _admissions.OrderBy(p => p.Key.Outcome, StringComparer.Ordinal).ThenBy(p => p.Key.Reason, StringComparer.Ordinal))
            Sample("governor_injector_admissions_total", $"{{outcome=\"{outcome}\",reason=\"{reason}\"}}", count);

        Header("governor_injector_admission_duration_seconds", "summary", "Time to answer an admission request.");
        Sample("governor_injector_admission_duration_seconds_sum", "", TimeSpan.FromTicks(Interlocked.Read(ref _durationTicks)).TotalSeconds);
        Sample("governor_injector_admission_duration_seconds_count", "", Interlocked.Read(ref _durationCount));

        Header("governor_injector_certificate_reloads_total", "counter", "Serving certificates loaded from the mounted secret.");
        Sample("governor_injector_certificate_reloads_total", "", Interlocked.Read(ref _certificateReloads));
        Header("governor_injector_certificate_reload_failures_total", "counter", "Attempts to load a changed certificate that failed (the previous one stays in use).");
        Sample("governor_injector_certificate_reload_failures_total", "", Interlocked.Read(ref _certificateReloadFailures));
        Header("governor_injector_certificate_expiry_timestamp_seconds", "gauge", "NotAfter of the serving certificate, as Unix time (0 before one is loaded).");
        Sample("governor_injector_certificate_expiry_timestamp_seconds", "", Interlocked.Read(ref _certificateNotAfterUnixSeconds));
        return text.ToString();
    }

    public void Dispose() => _meter.Dispose();
}
