__version__ = "0.2.0"

from . import compat as _compat  # noqa: F401 (installs the finder for the old module paths)
