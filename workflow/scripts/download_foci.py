"""Rule download_foci: one official FOCI option file, from the pinned commit (or options.foci_url), checksummed."""
from fgvr.datasets.download import fetch
from fgvr.io import run_script
from fgvr.options import foci_remote


def main(smk):
    fetch(foci_remote(smk.wildcards.file, smk.config["options"].get("foci_url")), smk.output[0])


run_script(main, snakemake)  # noqa: F821
