using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Governor.Injector.Tests.Support;

/// <summary>A serving certificate as PEM, like the tls.crt/tls.key of a kubernetes.io/tls secret.</summary>
internal sealed record TestCertificate(string CertificatePem, string KeyPem, string Thumbprint)
{
    /// <summary>A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost.</summary>
    public static TestCertificate Create(string commonName = "governor-injector.test")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return new TestCertificate(certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), certificate.Thumbprint);
    }
}

/// <summary>
/// A directory laid out the way the kubelet lays out a secret volume: the files are symlinks
/// through "..data", which points at a timestamped directory and is swapped atomically on update.
/// </summary>
internal sealed class SecretVolume : IDisposable
{
    private int _generation;

    public SecretVolume() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "governor-tls-" + Guid.NewGuid().ToString("N"));

    public void Write(TestCertificate certificate) => Write(certificate.CertificatePem, certificate.KeyPem);

    public void Write(string certificatePem, string keyPem)
    {
        var generation = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss}.{++_generation}";
        var target = System.IO.Path.Combine(Path, generation);
        Directory.CreateDirectory(target);
        File.WriteAllText(System.IO.Path.Combine(target, "tls.crt"), certificatePem);
        File.WriteAllText(System.IO.Path.Combine(target, "tls.key"), keyPem);

        var temporary = System.IO.Path.Combine(Path, "..data_tmp");
        File.CreateSymbolicLink(temporary, generation);
        Run("mv", "-T", temporary, System.IO.Path.Combine(Path, "..data"));
        foreach (var file in new[] { "tls.crt", "tls.key" })
        {
            var link = System.IO.Path.Combine(Path, file);
            if (!File.Exists(link))
                File.CreateSymbolicLink(link, "..data/" + file);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory; leaving it behind is harmless.
        }
    }

    private static void Run(string file, params string[] arguments)
    {
        using var process = System.Diagnostics.Process.Start(file, arguments);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}
