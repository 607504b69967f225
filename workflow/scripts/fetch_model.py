"""Rule fetch_model: snapshot a Hub checkpoint into resources/models/{model}, recording its commit."""
from fgvr.io import run_script
from fgvr.models.fetch import fetch


def main(smk):
    fetch(smk.params.hf_id, smk.params.revision, smk.output[0])


run_script(main, snakemake)  # noqa: F821
