# syntax=docker/dockerfile:1
# The agent image: the agent home at /opt/governor on busybox, which provides the `cp` that the
# injected init container runs to copy the home into the pod's shared emptyDir:
#   cp -R /opt/governor/. /governor-target/
# The image holds no runtime: the agent runs inside the app's own .NET process.
#
# Build from the repository root, after the build has laid out artifacts/governor/:
#   dotnet build -c Release
#   docker build -f docker/agent.Dockerfile -t ghcr.io/governor/agent:0.1.0 .
FROM busybox:1.36.1-musl

# Layout (see docs/design.md): Governor.StartupHook.dll at the top, core/, plugins/<name>/.
COPY artifacts/governor/ /opt/governor/
# Root-owned and read-only for everyone else: the init container only reads it.
RUN chmod -R a+rX,go-w /opt/governor && test -f /opt/governor/Governor.StartupHook.dll

# Numeric, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 65532:65532
WORKDIR /opt/governor
CMD ["cp", "-R", "/opt/governor/.", "/governor-target/"]
