"""The package's public API is explicit: everything in __all__ resolves, and nothing heavy loads on import."""

import subprocess
import sys

import assistant


def test_every_public_name_resolves():
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None, name


def test_importing_the_package_stays_light():
    code = "import sys, assistant; print(any(m.startswith(('torch', 'chromadb', 'langchain')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
