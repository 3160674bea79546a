# syntax=docker/dockerfile:1
# MoeDetect service image: `moedetect serve --config /config/moedetect.yaml`.
#   CPU (default, last stage):  docker build -t moedetect .
#   NVIDIA GPU (CUDA 13, cuDNN 9, ONNX Runtime's CUDA provider + the ILGPU engine):
#                               docker build --target gpu -t moedetect:gpu .
#   docker run --rm -v "$PWD/configs:/config:ro" -p 9464:9464 moedetect
#   docker run --rm --gpus all -v "$PWD/configs:/config:ro" -p 9464:9464 moedetect:gpu   (config: model.device: gpu)
# In the config, set metrics.host: 0.0.0.0 so that /healthz and /metrics are reachable from outside the container.
# Ubuntu 24.04 ("noble") images: .NET 10 ships no Debian images.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY src/ src/
RUN dotnet publish src/Cli/MoeDetect.Cli.csproj -c Release -r linux-x64 --self-contained false -o /app

# ---- GPU image: only this target carries the ~280 MB CUDA provider (-p:MoeDetectGpu=true); the CPU image never does.
FROM build AS build-gpu
RUN dotnet publish src/Cli/MoeDetect.Cli.csproj -c Release -r linux-x64 --self-contained true -p:MoeDetectGpu=true -o /app-gpu \
 && rm -f /app-gpu/libonnxruntime_providers_tensorrt.so

FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 AS gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgtk-3-0t64 libjpeg62 ffmpeg libicu74 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build-gpu /app-gpu ./
COPY models/ ./models/
COPY configs/ ./configs/
RUN ! ldd /app/libOpenCvSharpExtern.so /app/libonnxruntime.so /app/libonnxruntime_providers_cuda.so | grep "not found"
ENV MOEDETECT_HOME=/app \
    DOTNET_gcServer=0
RUN useradd --uid 1654 --no-create-home app && mkdir -p /data && chown 1654 /data
VOLUME /data
USER 1654
EXPOSE 9464
ENTRYPOINT ["/app/moedetect", "serve"]
CMD ["--config", "/config/moedetect.yaml"]

# ---- CPU image (default target)
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
