"""The measured quality card: duplicates, novelty, shape, synthetic signals and personal data.

`service` runs it (task, progress, report, novelty against the catalog); `measure` reads the
files; `signatures`, `text` and `images` hold the methods, each with the parameters it states.
"""
