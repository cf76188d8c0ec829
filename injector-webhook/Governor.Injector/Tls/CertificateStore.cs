using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Governor.Injector.Observability;

namespace Governor.Injector.Tls;

/// <summary>
/// The serving certificate, loaded from the PEM files of a mounted kubernetes.io/tls secret and
/// reloaded when they change. The kubelet updates a secret volume by swapping a symlink, which
/// file watchers report unreliably, so the files are simply re-read on a timer (two small files,
/// compared by hash). Kestrel asks for the certificate on every TLS handshake, so a rotated
/// certificate is served from the next connection on, without a restart. A pair that does not
/// load (e.g. key and certificate from different rotations, caught mid-update) is ignored and
/// the previous certificate stays in use until the next tick.
/// </summary>
internal sealed partial class CertificateStore(InjectorOptions options, InjectorMetrics metrics, ILogger<CertificateStore> logger) : BackgroundService
{
    private readonly string _certificatePath = Path.Combine(options.TlsDirectory, options.CertificateFileName);
    private readonly string _keyPath = Path.Combine(options.TlsDirectory, options.KeyFileName);
    private volatile Loaded? _current;
    private byte[]? _lastAttempt;

    /// <summary>What handshakes use; null until a certificate has loaded.</summary>
    public SslStreamCertificateContext? Current => _current?.Context;

    public DateTimeOffset? NotAfter => _current?.NotAfter;

    /// <summary>Loads the files if they changed since the last attempt. Never throws.</summary>
    public bool TryReload()
    {
        byte[] certificatePem, keyPem;
        try
        {
            certificatePem = File.ReadAllBytes(_certificatePath);
            keyPem = File.ReadAllBytes(_keyPath);
        }
        catch (Exception ex)
        {
            if (_lastAttempt is not null || _current is null)
                LogMissing(logger, _certificatePath, _keyPath, ex.Message);
            _lastAttempt = null;
            return false;
        }

        var hash = SHA256.HashData([.. certificatePem, .. keyPem]);
        if (_lastAttempt is not null && hash.AsSpan().SequenceEqual(_lastAttempt))
            return false;
        _lastAttempt = hash;

        try
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPem(System.Text.Encoding.ASCII.GetString(certificatePem));
            using var fromPem = X509Certificate2.CreateFromPem(System.Text.Encoding.ASCII.GetString(certificatePem), System.Text.Encoding.ASCII.GetString(keyPem));
            // Re-import through PKCS#12 so the private key is usable by SslStream on every platform.
            var leaf = X509CertificateLoader.LoadPkcs12(fromPem.Export(X509ContentType.Pkcs12), null);
            var intermediates = new X509Certificate2Collection();
            foreach (var certificate in chain.Skip(1))
                intermediates.Add(certificate);
            var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
            _current = new Loaded(context, leaf.NotAfter.ToUniversalTime());
            metrics.RecordCertificateLoaded(leaf.NotAfter.ToUniversalTime());
            LogLoaded(logger, leaf.Subject, leaf.Thumbprint, leaf.NotAfter.ToUniversalTime());
            return true;
        }
        catch (Exception ex)
        {
            // Whatever the files contain, a reload failure must not stop the host (an exception
            // escaping a BackgroundService does) nor replace a working certificate.
            metrics.RecordCertificateLoadFailed();
            LogInvalid(logger, _certificatePath, _keyPath, ex.Message);
            return false;
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Before Kestrel starts accepting, so the first handshake already has a certificate.
        TryReload();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.TlsReloadInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            TryReload();
    }

    private sealed record Loaded(SslStreamCertificateContext Context, DateTimeOffset NotAfter);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Serving certificate loaded: {Subject} ({Thumbprint}), valid until {NotAfter:O}")]
    private static partial void LogLoaded(ILogger logger, string subject, string thumbprint, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "Cannot read the serving certificate {CertificatePath} / {KeyPath}: {Detail}; TLS handshakes fail until it appears")]
    private static partial void LogMissing(ILogger logger, string certificatePath, string keyPath, string detail);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "The certificate {CertificatePath} / {KeyPath} does not load ({Detail}); still serving the previous one")]
    private static partial void LogInvalid(ILogger logger, string certificatePath, string keyPath, string detail);
}
