"""The 3D view: a PyVista scene of a molecule or a lattice, updated in place per frame.

The scenes themselves are in :mod:`gdapp.views.scenes`, one class per kind: atoms, bonds
and arrows are drawn with ``vtkGlyph3DMapper`` (GPU instancing of one sphere / cylinder /
arrow source), so a new frame only overwrites point coordinates and per-glyph arrays; no
mesh is rebuilt. Lattices in point mode are vertices rendered as spheres plus a line set
sharing the same points. :class:`Viewer` holds the widget and the plotter, picks the scene
for a structure, forwards frames and options to it, and does picking, hover and measuring.
Attached to the :class:`gdapp.state.AppState` (:meth:`Viewer.attach_state`) it follows the
structure, the frame the player shows, the fixed atoms and the ETKDG reference itself.

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
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pyvistaqt import QtInteractor
from vtkmodules.vtkRenderingCore import vtkTextActor

from engine import api
from gdapp import chem
from gdapp.state import AppState
from gdapp.views.scenes import (
    FIXED_COLOUR,
    LARGE_LATTICE,
    LATTICE_MODES,
    SELECTED_COLOUR,
    STYLES,
    GlyphSources,
    HighlightScene,
    LargeMoleculeScene,
    LatticeScene,
    MoleculeScene,
    OverlayScene,
)

__all__ = ["BACKGROUND", "CLICK_MODES", "FIXED_COLOUR", "HOVER_MAX_ATOMS", "HOVER_MS", "LARGE_LATTICE",
           "LARGE_MOLECULE", "LATTICE_MODES", "SELECTED_COLOUR", "STYLES", "Viewer"]

LARGE_MOLECULE = 1500     # above this many atoms: level of detail — atoms as point sprites,
                          # bonds as coloured lines (20,000 sphere glyphs took ~1.8 s per
                          # software-OpenGL frame; as sprites and lines ~0.1 s)
BACKGROUND = (0.11, 0.12, 0.15)
CLICK_MODES = ("info", "fix", "measure")
HOVER_MAX_ATOMS = 1500    # hover tooltips project every atom per mouse move (Python loop)
HOVER_MS = 60
VIEW_ANGLE = 30.0         # VTK's default perspective angle; reset_camera starts from it
CAMERA_FILL = 0.9         # the scene's bounds fill this share of the view's narrower side


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
        self.state: AppState | None = None
        self.structure: api.Structure | None = None
        self.coords: np.ndarray | None = None
        self.style = "ball-and-stick"
        self.dynamic = True
        self.lattice_mode = "points"
        self.lattice_edges: bool | None = None    # None: on up to LARGE_LATTICE sites
        self.pick_mode = False
        self.measure_mode = False
        self.selected: list[int] = []          # atoms picked for info / measurement
        self.info_text = ""
        self.hover_index = -1
        self.hover_text = ""
        self._hover_last = -1e9
        self.fixed: list[int] = []
        self.overlay: np.ndarray | None = None
        # the scenes of the structure shown (gdapp.views.scenes)
        self._sources = GlyphSources()         # shared by all structures
        self.scene: MoleculeScene | LatticeScene | None = None
        self.highlights: HighlightScene | None = None    # molecules: fixed / picked atoms
        self.overlay_scene = OverlayScene(self.plotter, self._sources)
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

    def attach_state(self, state: AppState) -> None:
        """Follow ``state``: draw its structure, the frame shown (``frameShown``: the frame
        path does not pass through the window), its fixed atoms and its ETKDG reference."""
        self.state = state
        state.structureChanged.connect(self.set_structure)
        state.frameShown.connect(self._show_frame)
        state.fixedChanged.connect(self.set_fixed)
        state.referenceChanged.connect(self.set_overlay)

    def _show_frame(self, kind: str, index: int) -> None:
        buf = self.state.trajectory(kind) if self.state is not None else None
        if buf is not None:
            self.set_coords(buf.frames[index])

    # building --------------------------------------------------------------------------
    def clear(self):
        for scene in (self.scene, self.highlights, self.overlay_scene):
            if scene is not None:
                scene.remove()
        self.scene = self.highlights = None
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
            kind = LargeMoleculeScene if self.level_of_detail == "points" else MoleculeScene
            self.scene = kind(self.plotter, self._sources, structure, self.style)
            self.scene.build()
            self.highlights = HighlightScene(self.plotter, self._sources, self.scene)
            self.highlights.build()
        else:
            self.scene = LatticeScene(self.plotter, self._sources, structure)
            self.scene.build(coords, self.lattice_mode, self.edges_visible())
        self.set_coords(coords, render=False)
        self.reset_camera()

    @property
    def level_of_detail(self) -> str:
        """``full`` (glyph spheres and cylinders) or ``points`` (sprites and lines, large molecules)."""
        s = self.structure
        return "points" if s is not None and s.is_molecule and s.n > LARGE_MOLECULE else "full"

    # the scene's data and actors, by the names the tests look at ----------------------------
    @property
    def bonds_drawn(self) -> np.ndarray:
        """The bonds ``(E, 2)`` of the frame shown (full-detail molecules)."""
        if isinstance(self.scene, MoleculeScene):
            return self.scene.bonds_drawn
        return np.zeros((0, 2), dtype=np.int64)

    def _scene_attr(self, name):
        return getattr(self.scene, name, None)

    _atoms = property(lambda self: self._scene_attr("atoms"))
    _bonds = property(lambda self: self._scene_attr("bonds"))
    _bond_actor = property(lambda self: self._scene_attr("bond_actor"))
    _bond_orders = property(lambda self: self._scene_attr("bond_orders"))
    _point_actor = property(lambda self: self._scene_attr("point_actor"))
    _line_actor = property(lambda self: self._scene_attr("line_actor"))
    _arrow_actor = property(lambda self: self._scene_attr("arrow_actor"))
    _halo = property(lambda self: getattr(self.highlights, "halo", None))
    _selection = property(lambda self: getattr(self.highlights, "selection", None))
    _measure_path = property(lambda self: getattr(self.highlights, "measure_path", None))
    _overlay_actors = property(lambda self: self.overlay_scene.actors)

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
            self.scene.update(coords, self.dynamic)
            self._update_halo(coords)
            self._update_selection(coords)
        else:
            self.scene.update(coords)
        self.frames_drawn += 1
        if render:
            self.render()

    def bond_orders_of(self, bonds: np.ndarray) -> np.ndarray:
        """Drawn order (1, 2, 3) of each bond ``(E, 2)``: the molecule's own order where the
        bond is in its bond graph (Kekulé form), 1 for bonds perceived from distances only."""
        return self.scene.bond_orders_of(bonds)

    def _update_halo(self, coords):
        self.highlights.show_fixed(coords, self.fixed)

    def _update_selection(self, coords):
        if self.highlights is None:
            return
        idx = np.asarray(self.selected, dtype=np.int64)
        path = self.measure_mode and len(idx) >= 2
        self.highlights.show_selection(coords, idx, path)
        if path:
            self.set_info_text(chem.describe_measurement(self.structure, coords, list(idx)),
                               render=False)

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


    # options -----------------------------------------------------------------------------
    def set_style(self, style: str):
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
        self.style = style
        if self.structure is not None and self.structure.is_molecule:
            self.scene.set_style(style)
            self.set_coords(self.coords)
            self._refresh_overlay()

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
        self.scene.set_mode(self.lattice_mode, self.edges_visible())

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
        self.overlay_scene.remove()
        if self.overlay is None or self.structure is None or not self.structure.is_molecule:
            return
        self.overlay_scene.build(self.scene, self.overlay)


    # camera, rendering, images --------------------------------------------------------------
    def reset_camera(self):
        """Frame the scene: a 2D grid from above (tilted so out-of-plane vectors show), the
        rest from the current direction; the scene's bounds fill ``CAMERA_FILL`` of the
        view's narrower side (:meth:`_fit`). The framing follows the view's size until the
        camera is moved."""
        s = self.structure
        cam = self.plotter.camera
        cam.SetViewAngle(VIEW_ANGLE)      # zoom narrowed it: start from the same angle each time
        if s is not None and not s.is_molecule and len(s.grid_shape) == 2:
            self.plotter.renderer.view_xy(render=False)
            cam.Elevation(-35)
        self.plotter.reset_camera()
        self._fit()
        self.render()

    def frame_all(self, frames: np.ndarray, margin: float = 1.05):
        """Fit the camera, keeping its direction, to every frame of a run (``(K, N, 3)``),
        so no frame leaves the view and the camera need not move while the run plays."""
        frames = np.asarray(frames, dtype=np.float64).reshape(-1, 3)
        if not len(frames) or not np.all(np.isfinite(frames)):
            return
        lo, hi = frames.min(0), frames.max(0)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * margin + 0.5
        bounds = [c + sign * h for c, h in zip(centre, half) for sign in (-1, 1)]
        self.plotter.camera.SetViewAngle(VIEW_ANGLE)
        self.plotter.renderer.ResetCamera(bounds)
        self._fit(bounds)
        self.render()

    def _camera_state(self) -> tuple:
        cam = self.plotter.camera
        return (tuple(np.round(cam.GetPosition(), 9)), tuple(np.round(cam.GetFocalPoint(), 9)),
                tuple(np.round(cam.GetViewUp(), 9)), round(cam.GetViewAngle(), 9))

    def _fit(self, bounds=None) -> None:
        """Narrow (or widen) the view angle so that the corners of the visible bounds fill
        ``CAMERA_FILL`` of the view in both directions. VTK's reset fits a bounding sphere
        to the *vertical* angle only: in a view narrower than tall the width was cut off (a
        lattice opened clipped at the right edge until R, whose VTK key binding reset
        again without the app's zoom)."""
        ren = self.plotter.renderer
        bounds = ren.ComputeVisiblePropBounds() if bounds is None else bounds
        if bounds[0] > bounds[1]:
            return
        extent = 0.0
        for x in bounds[0:2]:
            for y in bounds[2:4]:
                for z in bounds[4:6]:
                    ren.SetWorldPoint(x, y, z, 1.0)
                    ren.WorldToView()
                    vx, vy, _ = ren.GetViewPoint()
                    extent = max(extent, abs(vx), abs(vy))
        cam = self.plotter.camera
        if extent > 0 and np.isfinite(extent):
            half = np.radians(cam.GetViewAngle()) / 2
            angle = 2 * np.degrees(np.arctan(np.tan(half) * extent / CAMERA_FILL))
            cam.SetViewAngle(float(np.clip(angle, 1.0, 120.0)))
        ren.ResetCameraClippingRange()
        self._fitted = self._camera_state()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        # the docks settle after a structure opens (and the user resizes the window): keep
        # the scene framed while the camera is where the last reset put it
        if self.structure is not None and getattr(self, "_fitted", None) == self._camera_state():
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self._refit)

    def _refit(self):
        if self.structure is not None and getattr(self, "_fitted", None) == self._camera_state():
            self._fit()
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

