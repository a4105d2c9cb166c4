"""The 3D view: a PyVista scene of a molecule or a lattice, updated in place per frame.

Atoms, bonds and arrows are drawn with ``vtkGlyph3DMapper`` (GPU instancing of one
sphere / cylinder / arrow source), so a new frame only overwrites point coordinates and
per-glyph arrays; no mesh is rebuilt. Lattices in point mode are vertices rendered as
spheres plus a line set sharing the same points.

Styles: ``ball-and-stick``, ``licorice``, ``space-filling``. Molecules above
``LARGE_MOLECULE`` atoms are drawn at a lower level of detail (point sprites and line
bonds, as VMD's "lines" and PyMOL's large-structure defaults do) so that a 20,000-atom
structure still renders interactively; the style then sets the sprite size, and bonds
are the molecule's bond graph (dynamic bonds apply to smaller molecules). ``dynamic bonds`` recomputes
bonds from distances for every frame (``engine.api.dynamic_bonds``), as Avogadro and VMD
do for trajectories. Picking: with ``pick_mode`` on, a click (press and release within a
few pixels) on an atom emits ``atomPicked(index)``.
"""
from __future__ import annotations

import numpy as np
import pyvista as pv
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pyvistaqt import QtInteractor
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersGeneral import vtkTransformFilter
from vtkmodules.vtkFiltersSources import vtkArrowSource, vtkCylinderSource, vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkGlyph3DMapper, vtkPolyDataMapper, vtkTextActor

from engine import api
from gdapp import chem
from gdapp.views.elements import element_colours, vdw_radii

STYLES = ("ball-and-stick", "licorice", "space-filling")
LARGE_LATTICE = 2000      # above this many sites: flat points, line-segment arrows and
                          # no edges unless asked for (they cost ~30 % of a frame at 10^4)
LARGE_MOLECULE = 1500     # above this many atoms: level of detail — atoms as point sprites,
                          # bonds as coloured lines (20,000 sphere glyphs took ~1.8 s per
                          # software-OpenGL frame; as sprites and lines ~0.1 s)
LATTICE_MODES = ("points", "arrows")
BACKGROUND = (0.11, 0.12, 0.15)
FIXED_COLOUR = (255, 200, 0)
SELECTED_COLOUR = (60, 230, 120)     # atoms picked for information or measurement
CLICK_MODES = ("info", "fix", "measure")
HOVER_MAX_ATOMS = 1500    # hover tooltips project every atom per mouse move (Python loop)
HOVER_MS = 60


def _glyph_actor(source_port, poly: pv.PolyData, scale_array: str, vector_scale: bool,
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


def _set_points(poly: pv.PolyData, coords: np.ndarray):
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


def _set_array(poly: pv.PolyData, name: str, values: np.ndarray):
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


class _ClickFilter(QObject):
    """Turns a press+release without drag on the interactor into a pick request."""

    def __init__(self, viewer: Viewer):
        super().__init__(viewer)
        self.viewer = viewer
        self.press = None

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind == QEvent.MouseMove and event.buttons() == Qt.NoButton:
            pos = event.position()
            self.viewer.hover_at(pos.x(), pos.y(), event.globalPosition().toPoint())
        elif kind == QEvent.MouseButtonPress and event.button() == Qt.LeftButton:
            self.press = event.position()
        elif kind == QEvent.MouseButtonRelease and event.button() == Qt.LeftButton:
            if self.press is not None:
                pos = event.position()
                if abs(pos.x() - self.press.x()) + abs(pos.y() - self.press.y()) < 6:
                    self.viewer.click_at(pos.x(), pos.y())
            self.press = None
        return False


class Viewer(QWidget):
    atomPicked = Signal(int)           # fix mode: the atom clicked (toggle fixed)
    atomInfo = Signal(str)             # info mode: what the clicked atom is ('' for none)
    measurementChanged = Signal(str)   # measure mode: 'distance C1–O2 = 1.23 Å' or a prompt

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plotter = QtInteractor(self, multi_samples=0, auto_update=False)
        self.plotter.set_background(BACKGROUND)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter.interactor)
        self.plotter.interactor.installEventFilter(_ClickFilter(self))
        self.structure: api.Structure | None = None
        self.coords: np.ndarray | None = None
        self.style = "ball-and-stick"
        self.dynamic = True
        self.lattice_mode = "points"
        self.lattice_edges: bool | None = None    # None: on up to LARGE_LATTICE sites
        self.pick_mode = False
        self.bonds_drawn = np.zeros((0, 2), dtype=np.int64)   # the bonds of the frame shown
        self.measure_mode = False
        self.selected: list[int] = []          # atoms picked for info / measurement
        self.info_text = ""
        self.hover_index = -1
        self.hover_text = ""
        self._hover_last = -1e9
        self.fixed: list[int] = []
        self.overlay: np.ndarray | None = None
        self._actors: list = []
        self._overlay_actors: list = []
        self._arrow_scale = 1.0
        self._make_sources()
        self.frames_drawn = 0
        # text in the view's top-left corner: the picked atom or the measurement
        self._text = vtkTextActor()
        prop = self._text.GetTextProperty()
        prop.SetFontSize(15)
        prop.SetColor(0.95, 0.95, 0.85)
        prop.SetBackgroundColor(0.0, 0.0, 0.0)
        prop.SetBackgroundOpacity(0.55)
        self._text.SetDisplayPosition(10, 10)
        self._text.SetVisibility(False)
        self.plotter.renderer.AddViewProp(self._text)

    # sources shared by all structures -----------------------------------------------------
    def _make_sources(self):
        sphere = vtkSphereSource()
        sphere.SetRadius(1.0)
        sphere.SetThetaResolution(16)
        sphere.SetPhiResolution(12)
        self._sphere = sphere
        cyl = vtkCylinderSource()
        cyl.SetRadius(1.0)
        cyl.SetHeight(1.0)
        cyl.SetResolution(10)
        cyl.CappingOff()
        self._cylinder = _x_axis_source(cyl)
        arrow = vtkArrowSource()
        arrow.SetTipResolution(8)
        arrow.SetShaftResolution(8)
        arrow.SetShaftRadius(0.07)
        arrow.SetTipRadius(0.18)
        self._arrow = arrow

    # building --------------------------------------------------------------------------
    def clear(self):
        for actor in self._actors + self._overlay_actors:
            self.plotter.renderer.RemoveActor(actor)
        self._actors = []
        self._overlay_actors = []
        self._atoms = self._bonds = self._halo = self._points = self._lines = None
        self._selection = None
        self._bond_lines_key = None
        self.selected = []
        self.hover_index = -1
        self.set_info_text("")

    def set_structure(self, structure: api.Structure, coords: np.ndarray | None = None):
        """Build the scene for a structure (once per structure) and reset the camera."""
        self.clear()
        self.structure = structure
        self.fixed = []
        self.overlay = None
        coords = structure.positions if coords is None else coords
        if structure.is_molecule:
            self._build_molecule()
        else:
            self._build_lattice(coords)
        self.set_coords(coords, render=False)
        self.reset_camera()

    def _atom_radii(self) -> np.ndarray:
        z = self.structure.atomic_numbers
        if self.style == "space-filling":
            return vdw_radii(z)
        if self.style == "licorice":
            return np.full(len(z), 0.16)
        return 0.28 * vdw_radii(z)

    def _bond_radius(self) -> float:
        return {"ball-and-stick": 0.1, "licorice": 0.16, "space-filling": 0.0}[self.style]

    @property
    def level_of_detail(self) -> str:
        """``full`` (glyph spheres and cylinders) or ``points`` (sprites and lines, large molecules)."""
        s = self.structure
        return "points" if s is not None and s.is_molecule and s.n > LARGE_MOLECULE else "full"

    def _build_molecule(self):
        s = self.structure
        n = s.n
        self._colours = element_colours(s.atomic_numbers)
        if self.level_of_detail == "points":
            self._build_large_molecule()
            return
        atoms = pv.PolyData(np.zeros((n, 3)))
        atoms.point_data["radius"] = self._atom_radii()
        atoms.point_data["rgb"] = self._colours
        self._atoms = atoms
        actor, _ = _glyph_actor(self._sphere.GetOutputPort(), atoms, "radius", False)
        self._add(actor)
        bonds = pv.PolyData()
        self._bonds = bonds
        self._set_bond_arrays(np.zeros((0, 2), dtype=np.int64), np.zeros((n, 3)))
        actor, _ = _glyph_actor(self._cylinder.GetOutputPort(), bonds, "scale", True, "orient")
        self._bond_actor = actor
        self._add(actor)
        self._build_halo()
        self._build_selection()
        self._apply_style_visibility()

    def _build_large_molecule(self):
        """Level of detail for big molecules: one point set (atoms as sprites) whose lines
        are the bonds, coloured per atom; updating a frame rewrites points and lines only."""
        s = self.structure
        atoms = pv.PolyData(np.zeros((s.n, 3)))
        atoms.point_data["rgb"] = self._colours
        self._atoms = atoms
        self._point_actor = self.plotter.add_mesh(
            atoms, scalars="rgb", rgb=True, style="points", point_size=self._sprite_size(),
            render_points_as_spheres=True, show_scalar_bar=False, reset_camera=False, render=False)
        bonds = pv.PolyData(np.zeros((s.n, 3)))
        bonds.point_data["rgb"] = self._colours
        self._bonds = bonds
        self._bond_actor = self.plotter.add_mesh(
            bonds, scalars="rgb", rgb=True, line_width=2, show_scalar_bar=False,
            reset_camera=False, render=False)
        self._build_halo()
        self._build_selection()
        self._actors += [self._point_actor, self._bond_actor]
        self._apply_style_visibility()

    def _build_halo(self):
        """Translucent spheres around the fixed atoms (empty until atoms are fixed)."""
        halo = pv.PolyData()
        _set_points(halo, np.zeros((0, 3)))
        _set_array(halo, "radius", np.zeros(0))
        _set_array(halo, "rgb", np.zeros((0, 3), dtype=np.uint8))
        self._halo = halo
        actor, _ = _glyph_actor(self._sphere.GetOutputPort(), halo, "radius", False)
        actor.GetProperty().SetOpacity(0.45)
        self._add(actor)

    def _build_selection(self):
        """Green spheres on the atoms picked for information or measurement, and the
        lines of the measurement between them."""
        sel = pv.PolyData()
        _set_points(sel, np.zeros((0, 3)))
        _set_array(sel, "radius", np.zeros(0))
        _set_array(sel, "rgb", np.zeros((0, 3), dtype=np.uint8))
        self._selection = sel
        actor, _ = _glyph_actor(self._sphere.GetOutputPort(), sel, "radius", False)
        actor.GetProperty().SetOpacity(0.5)
        self._add(actor)
        path = pv.PolyData()
        _set_points(path, np.zeros((0, 3)))
        self._measure_path = path
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(path)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*(c / 255.0 for c in SELECTED_COLOUR))
        actor.GetProperty().SetLineWidth(5)
        self._measure_actor = actor
        self._add(actor)
        s = self.structure
        if self.level_of_detail == "points":    # line bonds: no orders drawn, and the lookup
            empty = np.zeros(0, np.int64)       # below took 0.3 s of GUI time at 20,000 atoms
            self._bond_keys = self._bond_orders = self._bond_third = empty
            return
        # bond orders for drawing: a lookup from bond key (i * n + j, i < j) to order and
        # to a third atom that fixes the plane of a double bond's two sticks
        edges = np.sort(np.asarray(s.edges, dtype=np.int64).reshape(-1, 2), axis=1)
        keys = edges[:, 0] * s.n + edges[:, 1]
        order = np.argsort(keys)
        self._bond_keys = keys[order]
        self._bond_orders = chem.bond_orders(s)[order] if len(edges) else np.zeros(0, np.int64)
        third = np.full(len(edges), -1, dtype=np.int64)
        nbrs = [[] for _ in range(s.n)]
        for i, j in edges:
            nbrs[i].append(j)
            nbrs[j].append(i)
        for k, (i, j) in enumerate(edges):
            others = [c for c in nbrs[i] if c != j] or [c for c in nbrs[j] if c != i]
            third[k] = others[0] if others else -1
        self._bond_third = third[order]

    def _sprite_size(self) -> float:
        return {"ball-and-stick": 5.0, "licorice": 3.0, "space-filling": 9.0}[self.style]

    def _build_lattice(self, coords):
        s = self.structure
        mags = np.linalg.norm(coords, axis=1)
        self._arrow_scale = 0.9 / max(1e-9, float(np.percentile(mags, 95)))
        try:
            field = api.lattice_system_info(s.system).field
        except api.InputError:
            field = "vector"
        self._spin_colours = field == "spin"
        # point mode: displacement fields move each site by its displacement (the deformed
        # lattice, true scale); other fields nudge it along the vector (at most ~0.45)
        self._point_scale = 1.0 if field == "displacement" else 0.5 * self._arrow_scale
        points = pv.PolyData(s.sites.copy())
        points.point_data["rgb"] = np.zeros((s.n, 3), dtype=np.uint8)
        if len(s.edges):
            lines = np.hstack([np.full((len(s.edges), 1), 2), s.edges]).ravel()
            points.lines = lines
        self._points = points
        large = s.n > LARGE_LATTICE
        self._point_actor = self.plotter.add_mesh(
            points, scalars="rgb", rgb=True, style="points", point_size=4 if large else 7,
            render_points_as_spheres=not large, show_scalar_bar=False)
        self._line_actor = self.plotter.add_mesh(
            points, color=(0.55, 0.6, 0.7), style="wireframe", line_width=1,
            show_scalar_bar=False)
        self._actors += [self._point_actor, self._line_actor]
        if large:
            # a hedgehog of line segments (site → site + v): cheap for 10^4+ sites
            n = s.n
            hog = pv.PolyData(np.concatenate([s.sites, s.sites]))
            hog.lines = np.hstack([np.full((n, 1), 2), np.arange(n)[:, None],
                                   np.arange(n, 2 * n)[:, None]]).ravel()
            hog.point_data["rgb"] = np.zeros((2 * n, 3), dtype=np.uint8)
            self._arrows = hog
            self._arrow_actor = self.plotter.add_mesh(hog, scalars="rgb", rgb=True,
                                                      line_width=2, show_scalar_bar=False)
            self._actors.append(self._arrow_actor)
        else:
            arrows = pv.PolyData(s.sites.copy())
            arrows.point_data["vec"] = np.zeros((s.n, 3))
            arrows.point_data["scale"] = np.zeros((s.n, 3))
            arrows.point_data["rgb"] = np.zeros((s.n, 3), dtype=np.uint8)
            self._arrows = arrows
            actor, _ = _glyph_actor(self._arrow.GetOutputPort(), arrows, "scale", True, "vec")
            self._arrow_actor = actor
            self._add(actor)
        self._hedgehog = large
        self._apply_lattice_mode()

    def _add(self, actor):
        self.plotter.renderer.AddActor(actor)
        self._actors.append(actor)

    # per-frame update --------------------------------------------------------------------
    def set_coords(self, coords: np.ndarray, render: bool = True):
        """Show a frame ``(N, 3)``: update point coordinates (and bonds) in place."""
        if self.structure is None:
            return
        coords = np.asarray(coords, dtype=np.float64)
        if coords.shape != (self.structure.n, 3):
            raise ValueError(f"frame has shape {coords.shape}, expected ({self.structure.n}, 3)")
        self.coords = coords
        if self.structure.is_molecule:
            self._update_molecule(coords)
        else:
            self._update_lattice(coords)
        self.frames_drawn += 1
        if render:
            self.render()

    def _update_molecule(self, coords):
        _set_points(self._atoms, coords)
        if self.level_of_detail == "points":
            self._set_bond_lines(self._current_bonds(coords) if self._bond_radius() > 0
                                 else np.zeros((0, 2), dtype=np.int64), coords)
            self._update_halo(coords)
            self._update_selection(coords)
            return
        if self._bond_radius() > 0:
            bonds = self._current_bonds(coords)
            self._set_bond_arrays(bonds, coords)
        self._update_halo(coords)
        self._update_selection(coords)

    def _current_bonds(self, coords) -> np.ndarray:
        # dynamic bonds cost ~0.14 s a frame at 20,000 atoms: large molecules keep their
        # bond graph (as VMD does unless asked to recompute)
        if self.dynamic and self.level_of_detail == "full":
            return api.dynamic_bonds(self.structure.atomic_numbers, coords)
        return self.structure.edges

    def bond_orders_of(self, bonds: np.ndarray) -> np.ndarray:
        """Drawn order (1, 2, 3) of each bond ``(E, 2)``: the molecule's own order where the
        bond is in its bond graph (Kekulé form), 1 for bonds perceived from distances only."""
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        out = np.ones(len(bonds), dtype=np.int64)
        if not len(bonds) or not len(self._bond_keys):
            return out
        lo, hi = bonds.min(axis=1), bonds.max(axis=1)
        keys = lo * self.structure.n + hi
        pos = np.clip(np.searchsorted(self._bond_keys, keys), 0, len(self._bond_keys) - 1)
        hit = self._bond_keys[pos] == keys
        out[hit] = self._bond_orders[pos[hit]]
        return out

    def _sticks(self, bonds: np.ndarray, coords: np.ndarray):
        """One cylinder per single bond, two thinner parallel ones per double bond and
        three per triple bond, offset in the plane of a neighbouring atom (as Avogadro
        and PyMOL's valence mode draw them). Returns (start, end, radius, bond row)."""
        r = self._bond_radius()
        orders = self.bond_orders_of(bonds)
        a, b = coords[bonds[:, 0]], coords[bonds[:, 1]]
        d = b - a
        u = np.zeros_like(d)
        multi = np.flatnonzero(orders > 1)
        if len(multi):
            lo, hi = bonds[multi].min(axis=1), bonds[multi].max(axis=1)
            pos = np.clip(np.searchsorted(self._bond_keys, lo * self.structure.n + hi), 0,
                          len(self._bond_keys) - 1)
            third = self._bond_third[pos]
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

    def _set_bond_arrays(self, bonds: np.ndarray, coords: np.ndarray):
        """Two half-cylinders per stick, each coloured like its atom; double and triple
        bonds are two and three sticks."""
        poly = self._bonds
        self.bonds_drawn = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        if len(bonds) == 0:
            centres = np.zeros((0, 3))
            vec = np.zeros((0, 3))
            rgb = np.zeros((0, 3), dtype=np.uint8)
            rad = np.zeros(0)
        else:
            a, b, rad, rows = self._sticks(bonds, coords)
            bonds = bonds[rows]
            d = b - a
            centres = np.concatenate([a + 0.25 * d, a + 0.75 * d])
            vec = np.concatenate([d, d])
            rgb = np.concatenate([self._colours[bonds[:, 0]], self._colours[bonds[:, 1]]])
            rad = np.concatenate([rad, rad])
        length = np.linalg.norm(vec, axis=1) * 0.5
        scale = np.stack([length, rad, rad], axis=1)
        _set_points(poly, centres)
        _set_array(poly, "orient", vec.reshape(-1, 3))
        _set_array(poly, "scale", scale.reshape(-1, 3))
        _set_array(poly, "rgb", rgb.reshape(-1, 3).astype(np.uint8))
        poly.Modified()

    def _set_bond_lines(self, bonds: np.ndarray, coords: np.ndarray):
        """Large molecules: bonds as line cells over the atom points (colours per atom)."""
        poly = self._bonds
        _set_points(poly, coords)
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        key = (bonds.shape, hash(bonds.tobytes()))
        if getattr(self, "_bond_lines_key", None) != key:
            poly.lines = (np.hstack([np.full((len(bonds), 1), 2), bonds]).ravel()
                          if len(bonds) else np.zeros(0, dtype=np.int64))
            self._bond_lines_key = key
        poly.Modified()

    def _update_selection(self, coords):
        if self._selection is None:
            return
        idx = np.asarray(self.selected, dtype=np.int64)
        radii = self._atom_radii()[idx] * 1.15 + 0.08 if len(idx) else np.zeros(0)
        _set_points(self._selection, coords[idx] if len(idx) else np.zeros((0, 3)))
        _set_array(self._selection, "radius", np.asarray(radii, dtype=np.float64))
        _set_array(self._selection, "rgb",
                   np.tile(np.array(SELECTED_COLOUR, dtype=np.uint8), (len(idx), 1)))
        path = self._measure_path
        if self.measure_mode and len(idx) >= 2:
            _set_points(path, coords[idx])
            path.lines = np.hstack([[len(idx)], np.arange(len(idx))])
            self.set_info_text(chem.describe_measurement(self.structure, coords, list(idx)),
                               render=False)
        else:
            _set_points(path, np.zeros((0, 3)))
            path.lines = np.zeros(0, dtype=np.int64)
        path.Modified()

    def set_info_text(self, text: str, render: bool = True):
        """Text in the view's top-left corner ('' hides it)."""
        self.info_text = text
        self._text.SetInput(text or " ")
        self._text.SetVisibility(bool(text))
        if render:
            self.render()

    def click_at(self, x: float, y: float) -> int:
        """A click in the view: fix mode toggles the atom (``atomPicked``), measure mode
        adds it to the measurement (2 atoms: distance, 3: angle, 4: dihedral, then anew),
        otherwise the atom's element, index and charge are shown (``atomInfo``)."""
        if self.structure is None or not self.structure.is_molecule or self.coords is None:
            return -1
        if self.pick_mode:
            return self.pick_at(x, y)
        index = self.atom_at(x, y)
        if self.measure_mode:
            if index >= 0:
                self.add_measure_atom(index)
            return index
        self.selected = [index] if index >= 0 else []
        text = chem.atom_info(self.structure, index, self.coords) if index >= 0 else ""
        self.set_info_text(text, render=False)
        self._update_selection(self.coords)
        self.render()
        self.atomInfo.emit(text)
        return index

    def hover_at(self, x: float, y: float, global_pos=None) -> int:
        """Mouse over the view: a tooltip with the atom under the cursor (element, index,
        charge); molecules up to ``HOVER_MAX_ATOMS`` atoms, at most every ``HOVER_MS``."""
        import time

        from PySide6.QtWidgets import QToolTip

        s = self.structure
        if s is None or not s.is_molecule or self.coords is None or s.n > HOVER_MAX_ATOMS:
            return -1
        now = time.monotonic()
        if now - self._hover_last < HOVER_MS / 1000.0:
            return self.hover_index
        self._hover_last = now
        index = self.atom_at(x, y, tolerance_px=12.0)
        if index != self.hover_index:
            self.hover_index = index
            if index >= 0:
                atom = s.mol.GetAtomWithIdx(index)
                charge = atom.GetFormalCharge()
                self.hover_text = (f"{atom.GetSymbol()}{index} — index {index}, formal charge "
                                   f"{charge:+d}" if charge else
                                   f"{atom.GetSymbol()}{index} — index {index}, formal charge 0")
                if global_pos is not None:
                    QToolTip.showText(global_pos, self.hover_text, self.plotter.interactor)
            else:
                self.hover_text = ""
                QToolTip.hideText()
        return index

    def add_measure_atom(self, index: int):
        """Measure mode: one more atom (a fifth starts a new measurement)."""
        if len(self.selected) >= 4 or index in self.selected:
            self.selected = []
        self.selected.append(int(index))
        n = len(self.selected)
        if n == 1:
            sym = self.structure.mol.GetAtomWithIdx(int(index)).GetSymbol()
            text = (f"measure: {sym}{index} — pick a 2nd atom (distance), "
                    "3rd (angle), 4th (dihedral)")
            self.set_info_text(text, render=False)
        self._update_selection(self.coords)
        self.render()
        self.measurementChanged.emit(self.info_text)

    def set_measure_mode(self, on: bool):
        self.measure_mode = bool(on)
        self.selected = []
        self.set_info_text("measure: pick 2, 3 or 4 atoms" if on else "", render=False)
        if self.coords is not None and self.structure is not None and self.structure.is_molecule:
            self._update_selection(self.coords)
        self.render()

    def _update_halo(self, coords):
        idx = np.asarray(self.fixed, dtype=np.int64)
        poly = self._halo
        radii = self._atom_radii()[idx] * 1.25 + 0.12 if len(idx) else np.zeros(0)
        _set_points(poly, coords[idx] if len(idx) else np.zeros((0, 3)))
        _set_array(poly, "radius", np.asarray(radii, dtype=np.float64))
        _set_array(poly, "rgb", np.tile(np.array(FIXED_COLOUR, dtype=np.uint8), (len(idx), 1)))

    def _lattice_colours(self, coords, mags) -> np.ndarray:
        """Spin systems: blue (down) → white → red (up) by ``v_z / |v|``; other fields:
        by ``|v|`` relative to the 95th percentile of the input."""
        if self._spin_colours:
            return _signed_colours(coords[:, 2] / np.maximum(mags, 1e-12))
        return _magnitude_colours(mags, 1.0 / self._arrow_scale)

    def _update_lattice(self, coords):
        mags = np.linalg.norm(coords, axis=1)
        rgb = self._lattice_colours(coords, mags)
        if self.lattice_mode == "points":
            _set_points(self._points, self.structure.sites + coords * self._point_scale)
            _set_array(self._points, "rgb", rgb)
            self._points.GetPointData().SetActiveScalars("rgb")
        elif self._hedgehog:
            tips = self.structure.sites + coords * self._arrow_scale
            _set_points(self._arrows, np.concatenate([self.structure.sites, tips]))
            _set_array(self._arrows, "rgb", np.concatenate([rgb, rgb]))
            self._arrows.GetPointData().SetActiveScalars("rgb")
        else:
            arrows = self._arrows
            arrows.point_data["vec"] = coords
            s = np.clip(mags * self._arrow_scale, 0.0, 1.5)
            arrows.point_data["scale"] = np.stack([s, s, s], axis=1)
            arrows.point_data["rgb"] = rgb
            arrows.Modified()

    # options -----------------------------------------------------------------------------
    def set_style(self, style: str):
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
        self.style = style
        if self.structure is not None and self.structure.is_molecule:
            if self.level_of_detail == "points":
                self._point_actor.GetProperty().SetPointSize(self._sprite_size())
            else:
                self._atoms.point_data["radius"] = self._atom_radii()
                self._atoms.Modified()
            self._apply_style_visibility()
            self.set_coords(self.coords)
            self._refresh_overlay()

    def _apply_style_visibility(self):
        self._bond_actor.SetVisibility(self._bond_radius() > 0)

    def set_dynamic_bonds(self, on: bool):
        self.dynamic = bool(on)
        if self.coords is not None:
            self.set_coords(self.coords)

    def set_lattice_mode(self, mode: str):
        if mode not in LATTICE_MODES:
            raise ValueError(f"unknown lattice mode {mode!r}; choose one of {LATTICE_MODES}")
        self.lattice_mode = mode
        if self.structure is not None and not self.structure.is_molecule:
            self._apply_lattice_mode()
            self.set_coords(self.coords)

    def edges_visible(self) -> bool:
        """Whether lattice edges are drawn in point mode."""
        if self.lattice_edges is not None:
            return self.lattice_edges
        return self.structure is not None and self.structure.n <= LARGE_LATTICE

    def set_lattice_edges(self, on: bool | None):
        """Draw lattice edges in point mode (True/False), or decide by size (None)."""
        self.lattice_edges = None if on is None else bool(on)
        if self.structure is not None and not self.structure.is_molecule:
            self._apply_lattice_mode()
            self.render()

    def _apply_lattice_mode(self):
        points = self.lattice_mode == "points"
        self._point_actor.SetVisibility(points)
        self._line_actor.SetVisibility(points and self.edges_visible())
        self._arrow_actor.SetVisibility(not points)

    def set_fixed(self, indices):
        self.fixed = sorted(int(i) for i in indices)
        if self.structure is not None and self.structure.is_molecule and self.coords is not None:
            self._update_halo(self.coords)
            self.render()

    def set_overlay(self, coords: np.ndarray | None):
        """Draw a second conformer (e.g. ETKDG) as a translucent ghost, or remove it."""
        self.overlay = None if coords is None else np.asarray(coords)
        self._refresh_overlay()
        self.render()

    def _refresh_overlay(self):
        for actor in self._overlay_actors:
            self.plotter.renderer.RemoveActor(actor)
        self._overlay_actors = []
        if self.overlay is None or self.structure is None or not self.structure.is_molecule:
            return
        s = self.structure
        if self.level_of_detail == "points":
            # large molecules: the ghost as sprites and plain lines, like the structure itself
            ghost = pv.PolyData(np.asarray(self.overlay, dtype=np.float64))
            if len(s.edges):
                ghost.lines = np.hstack([np.full((len(s.edges), 1), 2), s.edges]).ravel()
            actor = self.plotter.add_mesh(ghost, color=(0.3, 0.8, 1.0), style="points",
                                          point_size=self._sprite_size(), opacity=0.5,
                                          render_points_as_spheres=True, reset_camera=False,
                                          render=False)
            self._overlay_actors.append(actor)
            if len(s.edges):
                actor = self.plotter.add_mesh(ghost, color=(0.3, 0.8, 1.0), line_width=1,
                                              opacity=0.5, reset_camera=False, render=False)
                self._overlay_actors.append(actor)
            return
        ghost = pv.PolyData(self.overlay)
        ghost.point_data["radius"] = self._atom_radii() * 0.9
        ghost.point_data["rgb"] = np.tile(np.array([80, 200, 255], dtype=np.uint8), (s.n, 1))
        actor, _ = _glyph_actor(self._sphere.GetOutputPort(), ghost, "radius", False)
        actor.GetProperty().SetOpacity(0.35)
        self.plotter.renderer.AddActor(actor)
        self._overlay_actors.append(actor)
        if len(s.edges):
            lines = pv.PolyData(self.overlay)
            lines.lines = np.hstack([np.full((len(s.edges), 1), 2), s.edges]).ravel()
            actor = self.plotter.add_mesh(lines, color=(0.3, 0.8, 1.0), line_width=3,
                                          opacity=0.6, render_lines_as_tubes=True)
            self._overlay_actors.append(actor)

    # camera, rendering, images --------------------------------------------------------------
    def reset_camera(self):
        s = self.structure
        if s is not None and not s.is_molecule and len(s.grid_shape) == 2:
            # a 2D grid: from above, tilted so out-of-plane vectors show
            self.plotter.renderer.view_xy(render=False)
            self.plotter.camera.Elevation(-35)
            self.plotter.reset_camera()
            self.plotter.camera.zoom(1.3)
        else:
            self.plotter.reset_camera()
            if s is not None and s.is_molecule:
                self.plotter.camera.zoom(1.15)
        self.render()

    def render(self):
        """Schedule one repaint: the widget's paintGL renders the scene (calling
        ``plotter.render()`` would render twice, once directly and once in paintGL)."""
        self.plotter.update()

    def image(self) -> np.ndarray:
        """The current 3D view as an ``(H, W, 3)`` uint8 array (rendered now)."""
        self.plotter.ren_win.Render()
        return np.asarray(self.plotter.screenshot(None, return_img=True))

    def save_image(self, path) -> None:
        from PIL import Image

        Image.fromarray(self.image()).save(str(path))

    # picking ---------------------------------------------------------------------------------
    def display_positions(self) -> np.ndarray:
        """Atom positions in widget pixel coordinates ``(N, 2)`` (x right, y down)."""
        ren = self.plotter.renderer
        widget = self.plotter.interactor
        ratio = widget.devicePixelRatioF() or 1.0
        height = ren.GetRenderWindow().GetSize()[1]
        out = np.zeros((self.structure.n, 2))
        for i, p in enumerate(self.coords):
            ren.SetWorldPoint(float(p[0]), float(p[1]), float(p[2]), 1.0)
            ren.WorldToDisplay()
            x, y, _ = ren.GetDisplayPoint()
            out[i] = (x / ratio, (height - y) / ratio)
        return out

    def pick_at(self, x: float, y: float, tolerance_px: float = 25.0) -> int:
        """Emit ``atomPicked`` for the atom drawn nearest to widget pixel (x, y); -1 if none."""
        index = self.atom_at(x, y, tolerance_px)
        if index >= 0:
            self.atomPicked.emit(index)
        return index

    def atom_at(self, x: float, y: float, tolerance_px: float = 25.0) -> int:
        """The atom drawn nearest to widget pixel (x, y), front-most first; -1 if none."""
        if self.structure is None or not self.structure.is_molecule or self.coords is None:
            return -1
        pos = self.display_positions()
        d = np.hypot(pos[:, 0] - x, pos[:, 1] - y)
        # among atoms under the cursor, prefer the one nearest the camera
        cam = np.asarray(self.plotter.camera.position)
        near = np.flatnonzero(d < tolerance_px)
        if near.size == 0:
            return -1
        depth = np.linalg.norm(self.coords[near] - cam, axis=1)
        return int(near[np.argmin(depth + 0.02 * d[near])])

    def close_scene(self):
        self.clear()
        self.structure = None
        self.coords = None
        self.plotter.close()


def _magnitude_colours(mags: np.ndarray, ref: float) -> np.ndarray:
    """Blue (small) → white → red (large) by ``|v| / ref``."""
    return _ramp(np.clip(mags / max(ref, 1e-12), 0.0, 2.0) / 2.0)


def _signed_colours(values: np.ndarray) -> np.ndarray:
    """Blue (-1) → white (0) → red (+1)."""
    return _ramp((np.clip(values, -1.0, 1.0) + 1.0) / 2.0)


def _ramp(x: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1] → ``(N, 3)`` uint8, blue → white → red."""
    r = np.clip(2 * x, 0, 1)
    b = np.clip(2 * (1 - x), 0, 1)
    g = 1 - np.abs(2 * x - 1)
    return (np.stack([r, 0.3 + 0.7 * g, b], axis=1) * 255).astype(np.uint8)
