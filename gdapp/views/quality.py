"""Quality panel: checks of the structure currently shown (computed in a worker)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)


class QualityPanel(QWidget):
    refreshRequested = Signal(bool)      # with PoseBusters?

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("structure shown: —")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["check", "value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.posebusters = QCheckBox("PoseBusters (slower)")
        self.posebusters.setChecked(True)
        self.refresh_btn = QPushButton("Check current frame")
        row = QHBoxLayout()
        row.addWidget(self.posebusters)
        row.addWidget(self.refresh_btn)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        self.refresh_btn.clicked.connect(
            lambda: self.refreshRequested.emit(self.posebusters.isChecked()))
        self.rows = []

    def set_busy(self, text: str):
        self.title.setText(text)
        self.refresh_btn.setEnabled(False)

    def set_rows(self, title: str, rows):
        self.rows = list(rows)
        self.title.setText(title)
        self.refresh_btn.setEnabled(True)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            name = QTableWidgetItem(row.name)
            value = QTableWidgetItem(row.value)
            value.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if row.ok is not None:
                value.setForeground(QColor(40, 160, 60) if row.ok else QColor(210, 50, 50))
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, value)

    def set_failed(self, message: str):
        self.refresh_btn.setEnabled(True)
        self.title.setText(f"checks failed: {message}")
