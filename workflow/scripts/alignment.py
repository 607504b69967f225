"""Rule alignment: object -> category-name accuracy and cosine gaps on the test split."""
from fgvr.alignment import alignment_stores
from fgvr.io import run_script, write_json
from fgvr.store import read_store


def main(smk):
    write_json(smk.output[0], alignment_stores(read_store(smk.input.objects), read_store(smk.input.categories)))


run_script(main, snakemake)  # noqa: F821
