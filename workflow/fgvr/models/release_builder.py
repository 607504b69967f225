"""Release-faithful tiny checkpoints: a family's tiny random-init checkpoint (fgvr.models.demo)
whose processor, tokenizer, chat-template and generation files are rewritten to what the real
release stores (fgvr.models.releases), with only the weights and widths tiny and the image sizes
shrunk where the entry's ``shrunk`` says (and why).

The release's file layout is written too: preprocessor_config.json on its own (the releases were
saved by transformers 4, which transformers 5 still loads), processor_config.json only where the
release has one, the chat template where the release keeps it. Tokens are strings in the entry and
become the tiny tokenizer's ids here; the tokens the release names are added to the tiny tokenizer
before its weights are built. The tokenizer class stays the tiny builder's (TokenizersBackend): the
tiny BPE is not the release's vocabulary, and a release's class (LlamaTokenizer, Qwen2Tokenizer)
would rebuild the release's pre-tokenizer around it. Whether BOS / EOS are added is enforced in
tokenizer.json's post-processor: transformers 5 ignores tokenizer_config.json's add_bos_token /
add_eos_token for a tokenizers-backed tokenizer.
"""
from __future__ import annotations

import json
from pathlib import Path

from .families import BY_NAME
from .releases import RELEASES, TINY
from .tokenizer import more_special

TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


def _strings(value) -> list[str]:
    """Every token string in a generation value (a string, a list, a list of lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def release_tokens(entry: dict) -> list[str]:
    """The token strings the release's files name, which the tiny tokenizer must hold."""
    tok = entry.get("tokenizer") or {}
    found = [tok.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token", "image_token")]
    found += list(tok.get("additional_special_tokens") or []) + list((tok.get("extra_special_tokens") or {}).values())
    for key, value in (entry.get("generation") or {}).items():
        if key.endswith("token_id") or key.endswith("_ids"):
            found += _strings(value)
    if entry.get("chat_template") and "<|begin_of_text|>" in entry["chat_template"]:
        found.append("<|begin_of_text|>")
    return [t for t in dict.fromkeys(found) if t]


def shrunk_value(entry: dict, key: str, tiny: dict, size: int):
    """The tiny checkpoint's value of ``part.key``: computed (``TINY``), else the tiny builder's."""
    how = entry["shrunk"][key]
    if isinstance(how, tuple):
        return TINY[how[0]](size)
    return tiny.get(key.split(".", 1)[1])


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _write(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _tokens_to_ids(value, vocab: dict):
    if isinstance(value, str):
        if value not in vocab:
            raise KeyError(f"token {value!r} is not in the tiny vocabulary")
        return vocab[value]
    if isinstance(value, (list, tuple)):
        return [_tokens_to_ids(v, vocab) for v in value]
    return value


def build_release(hub_id: str, out: str | Path, texts: list[str], image_size: int = 32, seed: int = 0) -> Path:
    """A tiny checkpoint of ``hub_id`` (a key of fgvr.models.releases.RELEASES) in ``out``."""
    from .demo import build_demo

    entry, out = RELEASES[hub_id], Path(out)
    family = BY_NAME[entry["family"]]
    with more_special(release_tokens(entry)):
        build_demo(family.kind, out, texts, image_size, seed, family=family.name)
    shrunk = {k for k in entry["shrunk"]}

    # --- image processor and processor: preprocessor_config.json alone, processor_config.json as the release
    saved = _read(out / "processor_config.json")
    tiny_images = saved.pop("image_processor", None) or _read(out / "preprocessor_config.json")
    tiny_processor = {k: v for k, v in saved.items() if k != "chat_template"}
    images = dict(entry["image_processor"]) if entry["image_processor"] is not None else dict(tiny_images)
    processor = dict(entry["processor"]) if entry["processor"] is not None else None
    config = _read(out / "config.json")
    for key in sorted(shrunk):
        part, name = key.split(".", 1)
        if part == "image_processor":
            images[name] = shrunk_value(entry, key, tiny_images, image_size)
        elif part == "processor":
            processor = processor if processor is not None else {"processor_class": tiny_processor["processor_class"]}
            processor[name] = shrunk_value(entry, key, tiny_processor, image_size)
        elif part == "config":
            config[name] = shrunk_value(entry, key, config, image_size)
    images.setdefault("processor_class", tiny_processor.get("processor_class"))
    _write(out / "preprocessor_config.json", images)
    if processor is not None:
        _write(out / "processor_config.json", processor)
    else:
        (out / "processor_config.json").unlink(missing_ok=True)
    config["fgvr_release"] = hub_id  # beside fgvr_demo: the files are this release's, the weights tiny
    _write(out / "config.json", config)

    # --- chat template: where the release keeps it, nowhere else
    if entry["template_files"] or entry["chat_template"] is None:
        for name in TEMPLATE_FILES:
            (out / name).unlink(missing_ok=True)
    for name in entry["template_files"]:
        if name == "chat_template.jinja":
            (out / name).write_text(entry["chat_template"])
        elif name == "chat_template.json":
            _write(out / name, {"chat_template": entry["chat_template"]})
        elif (processor or {}).get("chat_template") != entry["chat_template"]:
            raise ValueError(f"{hub_id}: its template lives in {name}, which does not hold it")

    # --- tokenizer: the release's keys; BOS / EOS as its tokenizer adds them
    tok_config = _read(out / "tokenizer_config.json")
    for key, value in (entry["tokenizer"] or {}).items():
        if value is None:
            tok_config.pop(key, None)
        else:
            tok_config[key] = value
    _write(out / "tokenizer_config.json", tok_config)
    tok_file = _read(out / "tokenizer.json")
    vocab = {t["content"]: t["id"] for t in tok_file["added_tokens"]}
    vocab.update(tok_file["model"]["vocab"])
    _set_post_processor(entry, tok_config, tok_file, vocab)
    _write(out / "tokenizer.json", tok_file)

    # --- generation config, token strings as the tiny ids
    if entry["generation"] is not None:
        _write(out / "generation_config.json", {k: _tokens_to_ids(v, vocab) if k.endswith(("token_id", "_ids")) else v
                                                for k, v in entry["generation"].items()})
    return out


def _set_post_processor(entry: dict, tok_config: dict, tok_file: dict, vocab: dict) -> None:
    """tokenizer.json's template: BOS first / EOS last as the release's tokenizer adds them (its
    add_bos_token / add_eos_token, or the entry's ``adds``); unknown: the tiny builder's rule,
    with the release's BOS spelling."""
    tok = entry["tokenizer"] or {}
    adds = entry.get("adds") or (tok.get("add_bos_token"), tok.get("add_eos_token"))
    post = tok_file.get("post_processor") or {}
    single = post.get("single", [])  # the tiny builder's template: a special token around $A or not
    tiny_bos = len(single) > 1 and "SpecialToken" in single[0]
    tiny_eos = len(single) > 1 and "SpecialToken" in single[-1]
    add_bos = tiny_bos if adds[0] is None else adds[0]
    add_eos = tiny_eos if adds[1] is None else adds[1]
    bos, eos = tok_config.get("bos_token"), tok_config.get("eos_token")
    if (add_bos and bos is None) or (add_eos and eos is None):
        raise ValueError(f"the release adds a {'BOS' if add_bos else 'EOS'} token its tokenizer does not name")
    pieces = ([bos] if add_bos else []) + ["$A"] + ([eos] if add_eos else [])
    pair = ([bos] if add_bos else []) + ["$A"] + ([eos] if add_eos else []) + ["$B:1"]

    def part(p):
        if p == "$A":
            return {"Sequence": {"id": "A", "type_id": 0}}
        if p == "$B:1":
            return {"Sequence": {"id": "B", "type_id": 1}}
        return {"SpecialToken": {"id": p, "type_id": 0}}

    used = [t for t in (bos if add_bos else None, eos if add_eos else None) if t]
    tok_file["post_processor"] = {
        "type": "TemplateProcessing", "single": [part(p) for p in pieces], "pair": [part(p) for p in pair],
        "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in dict.fromkeys(used)}}
