__version__ = "0.2.0"

from . import core as _core  # noqa: F401 (first: its warning filter silences a dependency's import-time notice in every command)
from . import compat as _compat  # noqa: F401 (installs the finder for the old module paths)
