"""Optional dependencies: cheap probes and one friendly error at the import site.

``require("vllm", extra="gpu")`` either returns the imported module or raises an
ImportError that names the pip extra to install, instead of a raw traceback deep
inside an engine.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def is_available(module: str) -> bool:
    """True when ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, extra: str | None = None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an ImportError that says how to install it."""
    if not is_available(module):
        hint = f"pip install 'canopy-reasoning[{extra}]'" if extra else f"pip install {package or module}"
        raise ImportError(f"{module} is not installed; install it with: {hint}")
    return importlib.import_module(module)
