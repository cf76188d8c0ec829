using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text.Json;
using Governor.Injector.Admission;
using Governor.Injector.Mutation;
using Governor.Injector.Observability;
using Governor.Injector.Tls;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Governor.Injector;

/// <summary>Builds the webhook host: HTTPS-only Kestrel, the admission endpoint, health and metrics.</summary>
internal static class InjectorApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        var options = InjectorOptions.FromConfiguration(builder.Configuration);

        // One JSON object per line on stdout, the shape log collectors parse without rules.
        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(json =>
        {
            json.UseUtcTimestamp = true;
            json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            json.JsonWriterOptions = new JsonWriterOptions { Indented = false };
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<InjectorMetrics>();
        builder.Services.AddSingleton<CertificateStore>();
        builder.Services.AddHostedService(services => services.GetRequiredService<CertificateStore>());
        builder.Services.AddSingleton<PodInjector>();
        builder.Services.AddSingleton<AdmissionHandler>();

        // HTTPS only: the one endpoint below; ASPNETCORE_URLS / HTTP_PORTS are not used.
        builder.WebHost.UseSetting(WebHostDefaults.PreferHostingUrlsKey, "false");
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            var store = kestrel.ApplicationServices.GetRequiredService<CertificateStore>();
            void Https(ListenOptions listen)
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    // Asked on every handshake, so a reloaded certificate is used at once.
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = store.Current
                            ?? throw new AuthenticationException("no serving certificate has been loaded"),
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    }),
                });
            }

            if (options.ListenAddress.Equals(IPAddress.IPv6Any))
                kestrel.ListenAnyIP(options.Port, Https);
            else
                kestrel.Listen(options.ListenAddress, options.Port, Https);
        });

        var app = builder.Build();
        var handler = app.Services.GetRequiredService<AdmissionHandler>();
        var metrics = app.Services.GetRequiredService<InjectorMetrics>();
        var certificates = app.Services.GetRequiredService<CertificateStore>();

        app.MapPost("/mutate", handler.HandleAsync);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () => certificates.NotAfter is { } notAfter && notAfter > DateTimeOffset.UtcNow
            ? Results.Text("ok")
            : Results.Text("no valid serving certificate", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", () => Results.Text(metrics.ToPrometheusText(), "text/plain; version=0.0.4; charset=utf-8"));
        return app;
    }
}
