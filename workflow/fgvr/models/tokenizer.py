"""Small BPE tokenizers trained offline on a data set's own text, for the demo checkpoints.

The alphabet is every printable ASCII character and the newline, so any English text (and any
chat template) encodes without <unk>; merges come from the class names and descriptions, so
they tokenize into few pieces, and from ``CHAT_TEXTS``.
"""
from __future__ import annotations

import contextlib
import contextvars
import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

# pad first: CLIP treats eos_token_id == 2 as a legacy config and pools at argmax(ids) instead
SPECIAL = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
# Answers a chat model gives in this workflow, as often as common English has them: a real LLM's
# tokenizer has " A" ... " D" as single tokens, and multiple-choice letter scoring (and training
# on letter answers) reads the answer's first token as the letter.
CHAT_TEXTS = [f"Answer: {letter}" for letter in "ABCDEFGH"] * 64
# special tokens a caller wants in every tokenizer built meanwhile (a release's own, e.g. Gemma's
# <eos>): a checkpoint's vocabulary cannot grow after its weights are built (``more_special``)
_MORE_SPECIAL: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("more_special", default=())


@contextlib.contextmanager
def more_special(tokens):
    """Within the block, ``train_tokenizer`` also adds ``tokens`` (those it lacks) as special tokens."""
    reset = _MORE_SPECIAL.set(tuple(tokens))
    try:
        yield
    finally:
        _MORE_SPECIAL.reset(reset)


def train_tokenizer(texts: list[str], template: str, vocab_size: int = 512,
                    extra_special: list[str] = (), named: dict[str, str] | None = None,
                    bos: str | None = None) -> PreTrainedTokenizerFast:
    """A BPE over printable ASCII plus merges learnt from ``texts``.

    ``template`` is the post-processor, as the real family's tokenizer does it: "<s> $A" for
    Llama/Mistral-style LLMs (BOS first), "$A </s>" for SigLIP's text tower (EOS last).
    ``named``: special tokens a processor reads by attribute (Gemma 3's ``boi_token``, InternVL's
    ``context_image_token`` ...); ``bos``: another BOS spelling than "<s>" (Gemma's "<bos>").
    """
    named = dict(named or {})
    extra_special = list(extra_special) + [t for t in [*named.values(), bos] if t and t not in extra_special]
    extra_special += [t for t in dict.fromkeys(_MORE_SPECIAL.get())
                      if t not in extra_special and t not in SPECIAL.values()]
    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = list(SPECIAL.values()) + list(extra_special)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=list(string.printable.strip()) + ["\u2581", "\n"],
        show_progress=False,
    )
    tok.train_from_iterator(sorted(set(texts)) + CHAT_TEXTS, trainer=trainer)
    special = dict(SPECIAL, **({"bos_token": bos} if bos else {}))
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, tok.token_to_id(t)) for t in special.values() if t in template])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special, **({"extra_special_tokens": named} if named else {}))
    if extra_special:
        fast.add_special_tokens({"additional_special_tokens": list(extra_special)})
    return fast
