# syntax=docker/dockerfile:1
# The injector (mutating admission webhook) image.
# Build from the repository root:
#   docker build -f docker/injector.Dockerfile -t ghcr.io/governor/injector:0.1.0 .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# global.json is left out on purpose: it pins this machine's SDK band, the image has its own.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY injector-webhook/ injector-webhook/
RUN dotnet publish injector-webhook/Governor.Injector/Governor.Injector.csproj \
      -c Release -o /out -p:UseAppHost=false

# Chiseled: no shell, no package manager, non-root by default.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled
WORKDIR /app
COPY --from=build /out/ ./
# HTTPS only, on the port Kestrel is told (Injector__Port); no default HTTP listener.
# Workstation GC: a small, mostly idle service does not need a heap per core.
ENV ASPNETCORE_HTTP_PORTS= \
    DOTNET_gcServer=0
USER 1654:1654
EXPOSE 8443
ENTRYPOINT ["dotnet", "Governor.Injector.dll"]
