"""Widgets: layout and styling only. Controllers connect their signals; views hold no logic or I/O."""
