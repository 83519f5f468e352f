"""PEP 562 lazy re-exports, so that importing a sub-package does not import every heavy library behind it."""

import importlib


def lazy_exports(package: str, exports: dict[str, list[str]]):
    """``(__getattr__, __dir__, __all__)`` for ``package`` re-exporting ``exports`` = {submodule: [names]}."""
    module_of = {name: module for module, names in exports.items() for name in names}
    names = sorted(module_of)

    def __getattr__(name):
        if name in module_of:
            return getattr(importlib.import_module(f".{module_of[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return names

    return __getattr__, __dir__, names
