"""Node tables: ``pg.describe`` (placeholder replaced by the visualisation issue)."""
