"""The memory between scans: a SQLite state database (through sqlite-utils) holding, per file,
its identity and the detection results of its last scan, and a history of scans. It never
holds vectors, crops, names or probe data — only what the reports hold."""

# How long a run waits, by default, for what it must wait for in the state database (to have
# it alone for an upgrade or a repair while other runs use it, or another run's write).
DEFAULT_WAIT_S = 60.0
