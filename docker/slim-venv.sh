#!/bin/sh
# Leaves out of a built virtualenv ($1) what no program of the image runs, before the final stage
# copies it: the packaging tools (nothing is installed at run time), the packages' own test
# suites (pycryptodome's is SelfTest), translation sources (*.po: Django reads the compiled *.mo),
# Django's translations but English (the API answers in English; 20 MB) and the kubernetes
# package's asyncio client (the job launcher uses the synchronous one; it doubles the package's size).
set -eu
venv=$1
"$venv/bin/python" -m pip uninstall --yes --quiet pip setuptools
for site in "$venv"/lib/python3*/site-packages; do
    find "$site" -depth -type d \( -name tests -o -name SelfTest \) -exec rm -rf {} +
    if [ -d "$site/django" ]; then
        find "$site/django" -path '*/locale/*' -type d -prune ! -name en -exec rm -rf {} +
    fi
    find "$site" -type f -name '*.po' -delete
    rm -rf "$site/kubernetes/aio"
done
