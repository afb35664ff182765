"""Where our docks settle in napari's window, so that all of them fit a 1366 x 768 screen.

napari stacks every dock opened from the Plugins menu in the right-hand area, one under the
other; five of ours there made the window 1,600 px tall, off any laptop screen, and cut the
trace panel. So each dock, when first shown, settles itself: the docks with controls
(Project, Train, Predict + smooth, Outlier queue, Steer smoothing) become tabs of one group
on the right, the trace panel goes under the canvas (it needs width, not height; the side
columns keep the window's full height, so the heights do not add up), and the legend (a
short bar) stays stacked under the tabs. A dock the user has moved or floated
since is left where it is. ``find_dock`` finds a sibling dock (the trace panel, the labeling
dock) in the same window.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QWidget

#: Window property: its size before a burst of new docks.
USER_SIZE = "nlp_user_size"
AREAS = {
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


def find_dock(anchor: QWidget, cls: type) -> Any:
    """The widget of class ``cls`` docked in the same main window as ``anchor``, or None."""
    found = anchor.window().findChildren(cls)
    return found[0] if found else None


def dock_of(widget: QWidget) -> QDockWidget | None:
    """The dock widget around ``widget`` (napari may wrap it in a scroll area first)."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def _inner(dock: QDockWidget) -> Any:
    inner = getattr(dock, "inner_widget", None)
    return inner() if callable(inner) else dock.widget()


def settle(widget: QWidget, area: str = "right", tabbed: bool = True) -> bool:
    """Move ``widget``'s dock to ``area`` and, when ``tabbed``, make it a tab of the other
    tabbed docks of ours there (the new tab in front). False when it is not docked."""
    dock = dock_of(widget)
    main = dock.parentWidget() if dock is not None else None
    if dock is None or not isinstance(main, QMainWindow) or dock.isFloating():
        return False
    qt_area = AREAS[area]
    if area == "bottom":
        # the side columns keep the full height; the bottom area lies under the canvas only,
        # so its height no longer adds to theirs
        main.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        main.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    if main.dockWidgetArea(dock) != qt_area:
        main.addDockWidget(qt_area, dock)
    if tabbed:
        _tabify(main, dock, qt_area)
    return True


def restore_size(main: QMainWindow, size: QSize) -> None:
    """Give the window back ``size`` as far as its docks' minimum sizes allow."""
    if main.width() > size.width() or main.height() > size.height():
        main.layout().activate()  # the minimum of the new arrangement, not the old one
        least = main.minimumSizeHint()
        main.resize(max(size.width(), least.width()), max(size.height(), least.height()))
    fit_on_screen(main)


def fit_on_screen(main: QMainWindow) -> None:
    """Shrink the window back onto its screen (it grew while a new dock was stacked)."""
    screen = main.screen()
    if screen is None or main.isMaximized() or main.isFullScreen():
        return
    free = screen.availableGeometry()
    frame = main.frameGeometry().size() - main.size()  # the window manager's title bar
    width = min(main.width(), free.width() - frame.width())
    height = min(main.height(), free.height() - frame.height())
    if (width, height) != (main.width(), main.height()):
        main.resize(max(width, main.minimumSizeHint().width()), max(height, 1))


def _tabify(main: QMainWindow, dock: QDockWidget, qt_area: Any) -> None:
    siblings = [
        d
        for d in main.findChildren(QDockWidget)
        if d is not dock
        and not d.isHidden()
        and not d.isFloating()
        and main.dockWidgetArea(d) == qt_area
        and getattr(_inner(d), "tabbed_dock", False)
    ]
    if siblings:
        main.tabifyDockWidget(siblings[0], dock)
        dock.raise_()


def _unless_deleted(settle_step: Any, widget: QWidget) -> None:
    """Run a deferred settling step, unless the dock was closed (and its widget deleted) in
    the meantime."""
    try:
        settle_step(widget)
    except RuntimeError:  # "wrapped C/C++ object ... has been deleted"
        pass


class _FirstShow(QObject):
    """Settles its widget's dock once, after the widget is first shown in a dock.

    The window's size from before a burst of new docks (when the first of them was made)
    is kept on the window; the last dock of the burst to settle gives it back. Nothing here
    holds the window: napari's viewer must be free to go.
    """

    def __init__(self, widget: QWidget, area: str, tabbed: bool, window: Any) -> None:
        super().__init__(widget)
        self.area, self.tabbed, self.pending = area, tabbed, True
        if window is not None and window.property(USER_SIZE) is None:
            window.setProperty(USER_SIZE, window.size())
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # Qt's name
        if event.type() == QEvent.Type.Show and dock_of(obj) is not None:
            obj.removeEventFilter(self)
            # after napari has finished adding the dock (it resizes the area next)
            QTimer.singleShot(0, lambda: _unless_deleted(self._settle, obj))
        return False

    def _settle(self, widget: QWidget) -> None:
        if settle(widget, self.area, self.tabbed):
            # once the dock layout has taken the new arrangement in (next turn of the loop)
            QTimer.singleShot(0, lambda: _unless_deleted(self._done, widget))
        else:
            self.pending = False

    def _done(self, widget: QWidget) -> None:
        self.pending = False
        window = widget.window()
        if not isinstance(window, QMainWindow):
            return
        size = window.property(USER_SIZE)
        waiting = any(f.pending for f in window.findChildren(_FirstShow))
        if size is not None and not waiting:
            window.setProperty(USER_SIZE, None)
            restore_size(window, size)
        dock = dock_of(widget)
        if dock is not None and self.area == "bottom":
            # a third of the window at most: the video stays the main thing
            height = max(dock.minimumSizeHint().height(), window.height() // 3)
            window.resizeDocks([dock], [height], Qt.Orientation.Vertical)


def settle_when_shown(
    widget: QWidget, viewer: Any = None, area: str = "right", tabbed: bool = True
) -> None:
    """Call :func:`settle` for ``widget`` when it is first shown inside a dock, then give
    ``viewer``'s window back the size it had before (adding a dock may grow it)."""
    import warnings

    from napari_lightning_pose.viewer.widgets.warmup import preload_plots

    preload_plots()  # a plot dock opened later finds pyqtgraph imported
    widget.tabbed_dock = tabbed
    with warnings.catch_warnings():  # napari's main window: private, and the only way to it
        warnings.simplefilter("ignore", FutureWarning)
        window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    _FirstShow(widget, area, tabbed, window if isinstance(window, QMainWindow) else None)
