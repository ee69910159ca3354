"""One module per log format, each registered in `inspector.runlog.registry.READERS`.

A reader module defines NAME, DESCRIPTION, `sniff(path, head) -> float` and `read(path, companions) ->
RunLog` (the `Reader` protocol in runlog/registry.py). The helpers they share (step columns, row merging,
companion files, the text pipeline) sit one folder up, in `inspector/runlog/`.
"""
