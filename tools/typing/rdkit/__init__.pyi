# RDKit typed as Any for mypy ([tool.mypy] mypy_path in pyproject.toml): the stubs RDKit ships
# (rdkit-stubs) miss what AllChem re-exports from its C++ modules and mistype parameter
# objects. Each module the engine imports has a file here (mypy looks up every submodule).
from typing import Any

def __getattr__(name: str) -> Any: ...
