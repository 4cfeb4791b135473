"""Controllers: they wire the views' signals to models and background tasks."""
