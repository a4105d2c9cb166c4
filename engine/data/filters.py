"""Which molecules enter the corpus: one fragment, organic elements, sane size.

``check_molecule`` returns the canonical isomeric SMILES or a rejection reason; no
largest-fragment picking (salts and mixtures are dropped, not repaired).
"""
from __future__ import annotations

__all__ = ["ORGANIC_ELEMENTS", "check_molecule", "stereo_isomers"]

ORGANIC_ELEMENTS = frozenset({1, 6, 7, 8, 9, 15, 16, 17, 35, 53})  # H C N O F P S Cl Br I


def check_structure(smiles: str) -> tuple[str | None, int, str | None]:
    """Size-independent checks: ``(canonical_smiles, heavy_atoms, None)`` when the
    structure is acceptable, else ``(None, 0, reason)``."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        return None, 0, "unparseable SMILES"
    if len(Chem.GetMolFrags(mol)) > 1:
        return None, 0, "multi-fragment (salt or mixture)"
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() not in ORGANIC_ELEMENTS:
            return None, 0, f"element {atom.GetSymbol()} not in H C N O F P S Cl Br I"
        if atom.GetIsotope():
            return None, 0, f"isotope label {atom.GetIsotope()}{atom.GetSymbol()}"
        if atom.GetNumRadicalElectrons():
            return None, 0, "radical"
    return Chem.MolToSmiles(mol), mol.GetNumHeavyAtoms(), None


def size_reason(heavy: int, min_heavy_atoms: int, max_heavy_atoms: int) -> str | None:
    if heavy < min_heavy_atoms:
        return f"{heavy} heavy atoms < {min_heavy_atoms}"
    if heavy > max_heavy_atoms:
        return f"{heavy} heavy atoms > {max_heavy_atoms}"
    return None


def check_molecule(smiles: str, min_heavy_atoms: int = 4,
                   max_heavy_atoms: int = 40) -> tuple[str | None, str | None]:
    """``(canonical_smiles, None)`` when the molecule is accepted, else ``(None, reason)``."""
    canonical, heavy, reason = check_structure(smiles)
    if canonical is None:
        return None, reason
    reason = size_reason(heavy, min_heavy_atoms, max_heavy_atoms)
    return (None, reason) if reason else (canonical, None)


def stereo_isomers(smiles: str, max_isomers: int = 4) -> list[str]:
    """Candidate stereoisomers for the unspecified stereocentres / double bonds of a
    molecule (RDKit's deterministic enumeration, at most ``max_isomers``), as canonical
    isomeric SMILES. A fully specified molecule gives just itself. The corpus embeds the
    first one that ETKDG can embed (some bridged-ring assignments are impossible), so all
    conformers of an entry share one stereo configuration."""
    from rdkit import Chem
    from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

    mol = Chem.MolFromSmiles(smiles)
    opts = StereoEnumerationOptions(onlyUnassigned=True, maxIsomers=max_isomers, unique=True)
    out = []
    for isomer in EnumerateStereoisomers(mol, options=opts):
        s = Chem.MolToSmiles(isomer)
        if s not in out:
            out.append(s)
    return out or [Chem.MolToSmiles(mol)]
