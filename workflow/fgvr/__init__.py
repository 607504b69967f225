"""fgvr: analyse and boost fine-grained visual recognition in multimodal LLMs.

The library behind the Snakemake workflow: every stage is a function here, importable and
testable without Snakemake.
"""
__version__ = "0.1.0"
