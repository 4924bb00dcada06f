"""faceaudit: find stored face images and face templates, and report them.

The package is a library (scanner.engine.run_scan) with a thin CLI (scanner.cli).
"""
