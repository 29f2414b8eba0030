"""The pure core: the cost_lines contract, settings, errors, rules and their data, and the
models every page and report uses. Imports no package of ours and no I/O library.
"""
