# syntax=docker/dockerfile:1
# MoeDetect service image (CPU): `moedetect serve --config /config/moedetect.yaml`.
#   docker build -t moedetect .
#   docker run --rm -v "$PWD/configs:/config:ro" -p 9464:9464 moedetect
# In the config, set metrics.host: 0.0.0.0 so that /healthz and /metrics are reachable from outside the container.
# Ubuntu 24.04 ("noble") images: .NET 10 ships no Debian images.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY src/ src/
RUN dotnet publish src/Cli/MoeDetect.Cli.csproj -c Release -r linux-x64 --self-contained false -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0-noble AS runtime
# OpenCV's native runtime (OpenCvSharpExtern, with FFmpeg built in) links GTK 3 and libjpeg 6.2; network camera
# streams are decoded by the ffmpeg program (the FFmpeg inside OpenCV has no network protocols).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgtk-3-0t64 libjpeg62 ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
COPY models/ ./models/
COPY configs/ ./configs/
# Fail the build, not the first run, when a native library misses a system library.
RUN ! ldd /app/libOpenCvSharpExtern.so /app/libonnxruntime.so | grep "not found"
ENV MOEDETECT_HOME=/app \
    DOTNET_gcServer=0
# The non-root user that .NET images provide (APP_UID); outputs go to a volume it owns.
RUN mkdir -p /data && chown "$APP_UID" /data
VOLUME /data
USER $APP_UID
EXPOSE 9464
ENTRYPOINT ["dotnet", "/app/moedetect.dll", "serve"]
CMD ["--config", "/config/moedetect.yaml"]
