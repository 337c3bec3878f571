#!/bin/sh
# Leaves out of a built virtualenv what no program of the image runs, before the final stage copies
# it, and compiles the byte-code of what stays, once:
#   sh slim-venv.sh [--strip] VENV
# Left out: the packaging tools (nothing is installed at run time), the packages' own test suites
# (pycryptodome's is SelfTest), translation sources (*.po: Django reads the compiled *.mo), Django's
# translations but English (the API answers in English; 20 MB), the kubernetes package's asyncio
# client (the job launcher uses the synchronous one; it doubles the package's size), and what only
# building against or type-checking a package reads: the C/C++ and Cython sources of its
# extensions, C headers, type stubs (*.pyi). drf-spectacular-sidecar keeps Swagger UI, which the
# services serve (kafkaml/services/registry/urls.py), without its source maps (only a browser's developer
# tools ask for them), and loses Redoc, which no route serves.
# --strip: the wheels' extension modules carry their symbol tables and debug sections (a third of
# the services' shared objects, 36 MB; TensorFlow's 320 MB); strip(1) (binutils, installed in the
# builder stage) drops them, the dynamic symbols stay. Left as they are: libraries vendored by
# auditwheel (*.libs/: patchelf rewrote their headers, which strip may damage; they come mostly
# stripped) and NVIDIA's CUDA wheels (nvidia/, the worker's GPU variant: not tried here).
# Byte-code: pip installs with --no-compile and this compiles every module, once, but the
# kubernetes client's generated API and model modules (50 MB with their byte-code): the package
# loads them lazily and the launcher uses two APIs (BatchV1Api, CoreV1Api, compiled here) and the
# models of the objects it reads, which Python compiles in memory the first time a process needs
# them (a few milliseconds each; PYTHONDONTWRITEBYTECODE and a read-only root keep nothing).
set -eu
strip=false
if [ "$1" = --strip ]; then
    strip=true
    shift
fi
venv=$1
"$venv/bin/python" -m pip uninstall --yes --quiet pip setuptools
for site in "$venv"/lib/python3*/site-packages; do
    find "$site" -depth -type d \( -name tests -o -name SelfTest \) -exec rm -rf {} +
    if [ -d "$site/django" ]; then
        find "$site/django" -path '*/locale/*' -type d -prune ! -name en -exec rm -rf {} +
    fi
    find "$site" -type f \( -name '*.po' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' \
        -o -name '*.hpp' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.pyi' \) -delete
    rm -rf "$site/kubernetes/aio"
    if [ -d "$site/drf_spectacular_sidecar" ]; then
        rm -rf "$site/drf_spectacular_sidecar/static/drf_spectacular_sidecar/redoc"
        find "$site/drf_spectacular_sidecar" -type f -name '*.map' -delete
    fi
    if $strip; then
        find "$site" -type f \( -name '*.so' -o -name '*.so.*' \) ! -path '*.libs/*' ! -path '*/nvidia/*' -exec strip --strip-unneeded {} +
    fi
    "$venv/bin/python" -m compileall -q -j 0 \
        -x '/kubernetes/client/(api|models)/(?!(__init__|batch_v1_api|core_v1_api)\.py$)' "$site"
done
