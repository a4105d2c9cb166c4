"""The scenes the 3D view draws, one class per kind, each owning its PyVista data and actors.

- :class:`MoleculeScene`: ball-and-stick, licorice or space-filling — glyph spheres and
  two half-cylinders per stick (two or three sticks for double and triple bonds);
- :class:`LargeMoleculeScene`: the ``points`` level of detail of big molecules — point
  sprites and line bonds over one point set;
- :class:`HighlightScene`: the halo of the fixed atoms, the spheres of the picked atoms
  and the measurement's path;
- :class:`OverlayScene`: a second conformer (the ETKDG reference) as a translucent ghost;
- :class:`LatticeScene`: lattice sites as points (with edges) or arrows.

A scene is built once per structure (``build``), shows a frame by overwriting point
coordinates and per-glyph arrays in place (``update``) and takes its actors out of the
renderer with ``remove``. :class:`gdapp.views.viewer.Viewer` holds the widget, the
plotter, picking and measuring, and the scenes of the structure shown.
"""
from __future__ import annotations

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersGeneral import vtkTransformFilter
from vtkmodules.vtkFiltersSources import vtkArrowSource, vtkCylinderSource, vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkGlyph3DMapper, vtkPolyDataMapper

from engine import api
from gdapp import chem
from gdapp.views.elements import element_colours, vdw_radii

STYLES = ("ball-and-stick", "licorice", "space-filling")
BOND_RADIUS = {"ball-and-stick": 0.1, "licorice": 0.16, "space-filling": 0.0}
SPRITE_SIZE = {"ball-and-stick": 5.0, "licorice": 3.0, "space-filling": 9.0}   # large molecules
LARGE_LATTICE = 2000      # above this many sites: flat points, line-segment arrows and
                          # no edges unless asked for (they cost ~30 % of a frame at 10^4)
LATTICE_MODES = ("points", "arrows")
FIXED_COLOUR = (255, 200, 0)
SELECTED_COLOUR = (60, 230, 120)     # atoms picked for information or measurement


# ------------------------------------------------------------------------------ VTK helpers
def glyph_actor(source_port, poly: pv.PolyData, scale_array: str, vector_scale: bool,
                orient_array: str | None = None) -> tuple[vtkActor, vtkGlyph3DMapper]:
    mapper = vtkGlyph3DMapper()
    mapper.SetInputData(poly)
    mapper.SetSourceConnection(source_port)
    mapper.SetScaleArray(scale_array)
    if vector_scale:
        mapper.SetScaleModeToScaleByVectorComponents()
    else:
        mapper.SetScaleModeToScaleByMagnitude()
    mapper.ScalingOn()
    if orient_array:
        mapper.SetOrientationArray(orient_array)
        mapper.SetOrientationModeToDirection()
        mapper.OrientOn()
    else:
        mapper.OrientOff()
    mapper.SetScalarModeToUsePointFieldData()
    mapper.SelectColorArray("rgb")
    mapper.SetColorModeToDirectScalars()
    mapper.ScalarVisibilityOn()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetInterpolationToPhong()
    prop.SetSpecular(0.3)
    prop.SetSpecularPower(30)
    return actor, mapper


def set_points(poly: pv.PolyData, coords: np.ndarray):
    """Overwrite point coordinates in place (same count) and mark them modified."""
    if poly.n_points == len(coords) and len(coords):
        poly.points[:] = coords
        poly.GetPoints().Modified()
    else:
        pts = vtkPoints()
        pts.SetData(numpy_to_vtk(np.ascontiguousarray(coords, dtype=np.float64).reshape(-1, 3),
                                 deep=True))
        poly.SetPoints(pts)
    poly.Modified()


def set_array(poly: pv.PolyData, name: str, values: np.ndarray):
    """Set (replace) a point-data array; empty arrays are allowed (unlike pyvista's)."""
    values = np.ascontiguousarray(values)
    if values.ndim == 2 and values.shape[0] == 0:
        values = values.reshape(0, values.shape[1])
    arr = numpy_to_vtk(values, deep=True)
    arr.SetName(name)
    poly.GetPointData().AddArray(arr)
    poly.Modified()


def _x_axis_source(source, length_axis_is_y: bool = True):
    """Rotate a y-axis source (cylinder) so that its axis is x (glyph orientation axis)."""
    tf = vtkTransform()
    if length_axis_is_y:
        tf.RotateZ(-90)
    flt = vtkTransformFilter()
    flt.SetTransform(tf)
    flt.SetInputConnection(source.GetOutputPort())
    return flt


def _line_cells(edges: np.ndarray) -> np.ndarray:
    """VTK line cells ``[2, i, j, 2, …]`` of an ``(E, 2)`` edge list."""
    return np.hstack([np.full((len(edges), 1), 2), edges]).ravel()


class GlyphSources:
    """The unit sphere, cylinder (axis x) and arrow every glyph scene instances."""

    def __init__(self):
        sphere = vtkSphereSource()
        sphere.SetRadius(1.0)
        sphere.SetThetaResolution(16)
        sphere.SetPhiResolution(12)
        self.sphere = sphere
        cyl = vtkCylinderSource()
        cyl.SetRadius(1.0)
        cyl.SetHeight(1.0)
        cyl.SetResolution(10)
        cyl.CappingOff()
        self.cylinder = _x_axis_source(cyl)
        arrow = vtkArrowSource()
        arrow.SetTipResolution(8)
        arrow.SetShaftResolution(8)
        arrow.SetShaftRadius(0.07)
        arrow.SetTipRadius(0.18)
        self.arrow = arrow


def atom_radii(atomic_numbers, style: str) -> np.ndarray:
    """Drawn atom radii (Å) of a molecule style."""
    z = atomic_numbers
    if style == "space-filling":
        return vdw_radii(z)
    if style == "licorice":
        return np.full(len(z), 0.16)
    return 0.28 * vdw_radii(z)


# ------------------------------------------------------------------------------ scenes
class Scene:
    """Actors in the plotter's renderer that one scene owns; :meth:`remove` takes them out."""

    def __init__(self, plotter, sources: GlyphSources):
        self.plotter = plotter
        self.sources = sources
        self.actors: list = []

    def _add(self, actor):
        self.plotter.renderer.AddActor(actor)
        self.actors.append(actor)

    def remove(self):
        for actor in self.actors:
            self.plotter.renderer.RemoveActor(actor)
        self.actors = []


class MoleculeScene(Scene):
    """A molecule at full detail: one sphere glyph per atom and two half-cylinders per
    stick, each coloured like its atom; single bonds are one stick, double and triple
    bonds two and three thinner ones."""

    level_of_detail = "full"

    def __init__(self, plotter, sources: GlyphSources, structure: api.Structure, style: str):
        super().__init__(plotter, sources)
        self.structure = structure
        self.style = style
        self.colours = element_colours(structure.atomic_numbers)
        self.atoms: pv.PolyData | None = None
        self.bonds: pv.PolyData | None = None
        self.bond_actor = None
        self.point_actor = None                   # the sprites of the large-molecule scene
        self.bonds_drawn = np.zeros((0, 2), dtype=np.int64)   # the bonds of the frame shown
        empty = np.zeros(0, np.int64)
        self.bond_keys = self.bond_orders = self.bond_third = empty

    def atom_radii(self) -> np.ndarray:
        return atom_radii(self.structure.atomic_numbers, self.style)

    def bond_radius(self) -> float:
        return BOND_RADIUS[self.style]

    def sprite_size(self) -> float:
        return SPRITE_SIZE[self.style]

    def build(self):
        n = self.structure.n
        atoms = pv.PolyData(np.zeros((n, 3)))
        atoms.point_data["radius"] = self.atom_radii()
        atoms.point_data["rgb"] = self.colours
        self.atoms = atoms
        actor, _ = glyph_actor(self.sources.sphere.GetOutputPort(), atoms, "radius", False)
        self._add(actor)
        self.bonds = pv.PolyData()
        self.set_bond_arrays(np.zeros((0, 2), dtype=np.int64), np.zeros((n, 3)))
        actor, _ = glyph_actor(self.sources.cylinder.GetOutputPort(), self.bonds, "scale", True,
                               "orient")
        self.bond_actor = actor
        self._add(actor)
        self._build_bond_orders()
        self.apply_style_visibility()

    def _build_bond_orders(self):
        # bond orders for drawing: a lookup from bond key (i * n + j, i < j) to order and
        # to a third atom that fixes the plane of a double bond's two sticks
        s = self.structure
        edges = np.sort(np.asarray(s.edges, dtype=np.int64).reshape(-1, 2), axis=1)
        keys = edges[:, 0] * s.n + edges[:, 1]
        order = np.argsort(keys)
        self.bond_keys = keys[order]
        self.bond_orders = chem.bond_orders(s)[order] if len(edges) else np.zeros(0, np.int64)
        third = np.full(len(edges), -1, dtype=np.int64)
        nbrs = [[] for _ in range(s.n)]
        for i, j in edges:
            nbrs[i].append(j)
            nbrs[j].append(i)
        for k, (i, j) in enumerate(edges):
            others = [c for c in nbrs[i] if c != j] or [c for c in nbrs[j] if c != i]
            third[k] = others[0] if others else -1
        self.bond_third = third[order]

    def set_style(self, style: str):
        self.style = style
        self.atoms.point_data["radius"] = self.atom_radii()
        self.atoms.Modified()
        self.apply_style_visibility()

    def apply_style_visibility(self):
        self.bond_actor.SetVisibility(self.bond_radius() > 0)

    def update(self, coords: np.ndarray, dynamic: bool):
        """Show a frame: atoms moved in place; the sticks (the bond graph, or bonds
        perceived from distances when ``dynamic``) unless the style draws none."""
        set_points(self.atoms, coords)
        if self.bond_radius() > 0:
            bonds = (api.dynamic_bonds(self.structure.atomic_numbers, coords) if dynamic
                     else self.structure.edges)
            self.set_bond_arrays(bonds, coords)

    def bond_orders_of(self, bonds: np.ndarray) -> np.ndarray:
        """Drawn order (1, 2, 3) of each bond ``(E, 2)``: the molecule's own order where the
        bond is in its bond graph (Kekulé form), 1 for bonds perceived from distances only."""
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        out = np.ones(len(bonds), dtype=np.int64)
        if not len(bonds) or not len(self.bond_keys):
            return out
        lo, hi = bonds.min(axis=1), bonds.max(axis=1)
        keys = lo * self.structure.n + hi
        pos = np.clip(np.searchsorted(self.bond_keys, keys), 0, len(self.bond_keys) - 1)
        hit = self.bond_keys[pos] == keys
        out[hit] = self.bond_orders[pos[hit]]
        return out

    def sticks(self, bonds: np.ndarray, coords: np.ndarray):
        """One cylinder per single bond, two thinner parallel ones per double bond and
        three per triple bond, offset in the plane of a neighbouring atom (as Avogadro
        and PyMOL's valence mode draw them). Returns (start, end, radius, bond row)."""
        r = self.bond_radius()
        orders = self.bond_orders_of(bonds)
        a, b = coords[bonds[:, 0]], coords[bonds[:, 1]]
        d = b - a
        u = np.zeros_like(d)
        multi = np.flatnonzero(orders > 1)
        if len(multi):
            lo, hi = bonds[multi].min(axis=1), bonds[multi].max(axis=1)
            pos = np.clip(np.searchsorted(self.bond_keys, lo * self.structure.n + hi), 0,
                          len(self.bond_keys) - 1)
            third = self.bond_third[pos]
            dm = d[multi]
            ref = np.where((third >= 0)[:, None], coords[np.maximum(third, 0)] - a[multi],
                           np.array([0.0, 0.0, 1.0]))
            n = np.cross(dm, ref)
            bad = np.linalg.norm(n, axis=1) < 1e-6 * np.maximum(np.linalg.norm(dm, axis=1), 1e-9)
            n[bad] = np.cross(dm[bad], np.array([0.3, 1.0, 0.1]))
            v = np.cross(n, dm)
            u[multi] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        rows, offsets, radii = [], [], []
        layouts = {1: ((0.0,), 1.0), 2: ((-1.0, 1.0), 0.55), 3: ((-1.0, 0.0, 1.0), 0.45)}
        for k, (offs, shrink) in layouts.items():
            sel = np.flatnonzero(orders == k)
            if not len(sel):
                continue
            gap = 1.5 * r if k == 2 else 1.7 * r       # centre to centre: clearly apart
            for o in offs:
                rows.append(sel)
                offsets.append(np.full(len(sel), o * gap))
                radii.append(np.full(len(sel), shrink * r))
        rows = np.concatenate(rows)
        off = np.concatenate(offsets)[:, None] * u[rows]
        return a[rows] + off, b[rows] + off, np.concatenate(radii), rows

    def set_bond_arrays(self, bonds: np.ndarray, coords: np.ndarray):
        """Two half-cylinders per stick, each coloured like its atom; double and triple
        bonds are two and three sticks."""
        poly = self.bonds
        self.bonds_drawn = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        if len(bonds) == 0:
            centers = np.zeros((0, 3))
            vec = np.zeros((0, 3))
            rgb = np.zeros((0, 3), dtype=np.uint8)
            rad = np.zeros(0)
        else:
            a, b, rad, rows = self.sticks(bonds, coords)
            bonds = bonds[rows]
            d = b - a
            centers = np.concatenate([a + 0.25 * d, a + 0.75 * d])
            vec = np.concatenate([d, d])
            rgb = np.concatenate([self.colours[bonds[:, 0]], self.colours[bonds[:, 1]]])
            rad = np.concatenate([rad, rad])
        length = np.linalg.norm(vec, axis=1) * 0.5
        scale = np.stack([length, rad, rad], axis=1)
        set_points(poly, centers)
        set_array(poly, "orient", vec.reshape(-1, 3))
        set_array(poly, "scale", scale.reshape(-1, 3))
        set_array(poly, "rgb", rgb.reshape(-1, 3).astype(np.uint8))
        poly.Modified()


class LargeMoleculeScene(MoleculeScene):
    """The level of detail of big molecules: one point set (atoms as sprites) whose lines
    are the bonds, coloured per atom; a frame rewrites points and lines only. The bonds
    are the bond graph (no per-frame perception, no bond orders: the order lookup took
    0.3 s of GUI time at 20,000 atoms); the style sets the sprite size."""

    level_of_detail = "points"

    def build(self):
        s = self.structure
        atoms = pv.PolyData(np.zeros((s.n, 3)))
        atoms.point_data["rgb"] = self.colours
        self.atoms = atoms
        self.point_actor = self.plotter.add_mesh(
            atoms, scalars="rgb", rgb=True, style="points", point_size=self.sprite_size(),
            render_points_as_spheres=True, show_scalar_bar=False, reset_camera=False, render=False)
        bonds = pv.PolyData(np.zeros((s.n, 3)))
        bonds.point_data["rgb"] = self.colours
        self.bonds = bonds
        self.bond_actor = self.plotter.add_mesh(
            bonds, scalars="rgb", rgb=True, line_width=2, show_scalar_bar=False,
            reset_camera=False, render=False)
        self._bond_lines_key = None
        self.actors += [self.point_actor, self.bond_actor]
        self.apply_style_visibility()

    def set_style(self, style: str):
        self.style = style
        self.point_actor.GetProperty().SetPointSize(self.sprite_size())
        self.apply_style_visibility()

    def update(self, coords: np.ndarray, dynamic: bool):
        # dynamic bonds cost ~0.14 s a frame at 20,000 atoms: large molecules keep their
        # bond graph (as VMD does unless asked to recompute)
        set_points(self.atoms, coords)
        self.set_bond_lines(self.structure.edges if self.bond_radius() > 0
                            else np.zeros((0, 2), dtype=np.int64), coords)

    def set_bond_lines(self, bonds: np.ndarray, coords: np.ndarray):
        """Bonds as line cells over the atom points (colours per atom)."""
        poly = self.bonds
        set_points(poly, coords)
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        key = (bonds.shape, hash(bonds.tobytes()))
        if self._bond_lines_key != key:
            poly.lines = _line_cells(bonds) if len(bonds) else np.zeros(0, dtype=np.int64)
            self._bond_lines_key = key
        poly.Modified()


class HighlightScene(Scene):
    """Translucent spheres around the fixed atoms (the halo), green spheres on the atoms
    picked for information or measurement, and the lines of the measurement between
    them; all empty until there is something to show. Sized by ``molecule``'s style."""

    def __init__(self, plotter, sources: GlyphSources, molecule: MoleculeScene):
        super().__init__(plotter, sources)
        self.molecule = molecule

    def _empty_spheres(self, opacity: float) -> pv.PolyData:
        """An empty set of translucent spheres (points with "radius" and "rgb")."""
        data = pv.PolyData()
        set_points(data, np.zeros((0, 3)))
        set_array(data, "radius", np.zeros(0))
        set_array(data, "rgb", np.zeros((0, 3), dtype=np.uint8))
        actor, _ = glyph_actor(self.sources.sphere.GetOutputPort(), data, "radius", False)
        actor.GetProperty().SetOpacity(opacity)
        self._add(actor)
        return data

    def build(self):
        self.halo = self._empty_spheres(0.45)
        self.selection = self._empty_spheres(0.5)
        path = pv.PolyData()
        set_points(path, np.zeros((0, 3)))
        self.measure_path = path
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(path)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*(c / 255.0 for c in SELECTED_COLOUR))
        actor.GetProperty().SetLineWidth(5)
        self.measure_actor = actor
        self._add(actor)

    def _spheres(self, poly, coords, idx, grow: float, pad: float, colour):
        """Spheres on atoms ``idx``: ``grow`` × the atom's drawn radius + ``pad``."""
        radii = self.molecule.atom_radii()[idx] * grow + pad if len(idx) else np.zeros(0)
        set_points(poly, coords[idx] if len(idx) else np.zeros((0, 3)))
        set_array(poly, "radius", np.asarray(radii, dtype=np.float64))
        set_array(poly, "rgb", np.tile(np.array(colour, dtype=np.uint8), (len(idx), 1)))

    def show_fixed(self, coords: np.ndarray, fixed):
        """The halo on the atoms ``fixed``."""
        self._spheres(self.halo, coords, np.asarray(fixed, dtype=np.int64), 1.25, 0.12, FIXED_COLOUR)

    def show_selection(self, coords: np.ndarray, selected, path: bool):
        """Spheres on the atoms ``selected``, joined by the measurement's path when ``path``."""
        idx = np.asarray(selected, dtype=np.int64)
        self._spheres(self.selection, coords, idx, 1.15, 0.08, SELECTED_COLOUR)
        line = self.measure_path
        if path:
            set_points(line, coords[idx])
            line.lines = np.hstack([[len(idx)], np.arange(len(idx))])
        else:
            set_points(line, np.zeros((0, 3)))
            line.lines = np.zeros(0, dtype=np.int64)
        line.Modified()


class OverlayScene(Scene):
    """A second conformer of the molecule shown (e.g. ETKDG) as a translucent ghost: light
    blue spheres and tube bonds, or sprites and lines at the large-molecule level of detail."""

    def build(self, molecule: MoleculeScene, coords: np.ndarray):
        s = molecule.structure
        if molecule.level_of_detail == "points":
            # large molecules: the ghost as sprites and plain lines, like the structure itself
            ghost = pv.PolyData(np.asarray(coords, dtype=np.float64))
            if len(s.edges):
                ghost.lines = _line_cells(s.edges)
            actor = self.plotter.add_mesh(ghost, color=(0.3, 0.8, 1.0), style="points",
                                          point_size=molecule.sprite_size(), opacity=0.5,
                                          render_points_as_spheres=True, reset_camera=False,
                                          render=False)
            self.actors.append(actor)
            if len(s.edges):
                actor = self.plotter.add_mesh(ghost, color=(0.3, 0.8, 1.0), line_width=1,
                                              opacity=0.5, reset_camera=False, render=False)
                self.actors.append(actor)
            return
        ghost = pv.PolyData(coords)
        ghost.point_data["radius"] = molecule.atom_radii() * 0.9
        ghost.point_data["rgb"] = np.tile(np.array([80, 200, 255], dtype=np.uint8), (s.n, 1))
        actor, _ = glyph_actor(self.sources.sphere.GetOutputPort(), ghost, "radius", False)
        actor.GetProperty().SetOpacity(0.35)
        self._add(actor)
        if len(s.edges):
            lines = pv.PolyData(coords)
            lines.lines = _line_cells(s.edges)
            actor = self.plotter.add_mesh(lines, color=(0.3, 0.8, 1.0), line_width=3,
                                          opacity=0.6, render_lines_as_tubes=True)
            self.actors.append(actor)


class LatticeScene(Scene):
    """A lattice's vector field: in ``points`` mode each site moved along its vector (the
    deformed lattice for displacement fields) with the lattice edges; in ``arrows`` mode an
    arrow glyph per site (line segments above ``LARGE_LATTICE`` sites). Spin systems are
    coloured blue (down) → white → red (up) by ``v_z / |v|``, other fields by ``|v|``."""

    def __init__(self, plotter, sources: GlyphSources, structure: api.Structure):
        super().__init__(plotter, sources)
        self.structure = structure
        self.mode = "points"
        self.arrow_scale = 1.0

    def build(self, coords: np.ndarray, mode: str, edges: bool):
        s = self.structure
        mags = np.linalg.norm(coords, axis=1)
        self.arrow_scale = 0.9 / max(1e-9, float(np.percentile(mags, 95)))
        try:
            field = api.lattice_system_info(s.system).field
        except api.InputError:
            field = "vector"
        self.spin_colours = field == "spin"
        # point mode: displacement fields move each site by its displacement (the deformed
        # lattice, true scale); other fields nudge it along the vector (at most ~0.45)
        self.point_scale = 1.0 if field == "displacement" else 0.5 * self.arrow_scale
        points = pv.PolyData(s.sites.copy())
        points.point_data["rgb"] = np.zeros((s.n, 3), dtype=np.uint8)
        if len(s.edges):
            points.lines = _line_cells(s.edges)
        self.points = points
        large = s.n > LARGE_LATTICE
        self.point_actor = self.plotter.add_mesh(
            points, scalars="rgb", rgb=True, style="points", point_size=4 if large else 7,
            render_points_as_spheres=not large, show_scalar_bar=False)
        self.line_actor = self.plotter.add_mesh(
            points, color=(0.55, 0.6, 0.7), style="wireframe", line_width=1,
            show_scalar_bar=False)
        self.actors += [self.point_actor, self.line_actor]
        if large:
            # a hedgehog of line segments (site → site + v): cheap for 10^4+ sites
            n = s.n
            hog = pv.PolyData(np.concatenate([s.sites, s.sites]))
            hog.lines = np.hstack([np.full((n, 1), 2), np.arange(n)[:, None],
                                   np.arange(n, 2 * n)[:, None]]).ravel()
            hog.point_data["rgb"] = np.zeros((2 * n, 3), dtype=np.uint8)
            self.arrows = hog
            self.arrow_actor = self.plotter.add_mesh(hog, scalars="rgb", rgb=True,
                                                     line_width=2, show_scalar_bar=False)
            self.actors.append(self.arrow_actor)
        else:
            arrows = pv.PolyData(s.sites.copy())
            arrows.point_data["vec"] = np.zeros((s.n, 3))
            arrows.point_data["scale"] = np.zeros((s.n, 3))
            arrows.point_data["rgb"] = np.zeros((s.n, 3), dtype=np.uint8)
            self.arrows = arrows
            actor, _ = glyph_actor(self.sources.arrow.GetOutputPort(), arrows, "scale", True, "vec")
            self.arrow_actor = actor
            self._add(actor)
        self.hedgehog = large
        self.set_mode(mode, edges)

    def set_mode(self, mode: str, edges: bool):
        """``points`` (edges drawn when ``edges``) or ``arrows``."""
        self.mode = mode
        points = mode == "points"
        self.point_actor.SetVisibility(points)
        self.line_actor.SetVisibility(points and edges)
        self.arrow_actor.SetVisibility(not points)

    def field_colours(self, coords: np.ndarray, mags: np.ndarray) -> np.ndarray:
        """Spin systems: blue (down) → white → red (up) by ``v_z / |v|``; other fields:
        by ``|v|`` relative to the 95th percentile of the input."""
        if self.spin_colours:
            return signed_colours(coords[:, 2] / np.maximum(mags, 1e-12))
        return magnitude_colours(mags, 1.0 / self.arrow_scale)

    def update(self, coords: np.ndarray):
        mags = np.linalg.norm(coords, axis=1)
        rgb = self.field_colours(coords, mags)
        sites = self.structure.sites
        if self.mode == "points":
            set_points(self.points, sites + coords * self.point_scale)
            set_array(self.points, "rgb", rgb)
            self.points.GetPointData().SetActiveScalars("rgb")
        elif self.hedgehog:
            tips = sites + coords * self.arrow_scale
            set_points(self.arrows, np.concatenate([sites, tips]))
            set_array(self.arrows, "rgb", np.concatenate([rgb, rgb]))
            self.arrows.GetPointData().SetActiveScalars("rgb")
        else:
            arrows = self.arrows
            arrows.point_data["vec"] = coords
            s = np.clip(mags * self.arrow_scale, 0.0, 1.5)
            arrows.point_data["scale"] = np.stack([s, s, s], axis=1)
            arrows.point_data["rgb"] = rgb
            arrows.Modified()


def magnitude_colours(mags: np.ndarray, ref: float) -> np.ndarray:
    """Blue (small) → white → red (large) by ``|v| / ref``."""
    return _ramp(np.clip(mags / max(ref, 1e-12), 0.0, 2.0) / 2.0)


def signed_colours(values: np.ndarray) -> np.ndarray:
    """Blue (-1) → white (0) → red (+1)."""
    return _ramp((np.clip(values, -1.0, 1.0) + 1.0) / 2.0)


def _ramp(x: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1] → ``(N, 3)`` uint8, blue → white → red."""
    r = np.clip(2 * x, 0, 1)
    b = np.clip(2 * (1 - x), 0, 1)
    g = 1 - np.abs(2 * x - 1)
    return (np.stack([r, 0.3 + 0.7 * g, b], axis=1) * 255).astype(np.uint8)
