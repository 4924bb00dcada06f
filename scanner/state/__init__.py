"""The memory between scans: a SQLite state database (through sqlite-utils) holding, per file,
its identity and the detection results of its last scan, and a history of scans. It never
holds vectors, crops, names or probe data — only what the reports hold."""
