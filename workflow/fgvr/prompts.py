"""The questions the workflow asks an MLLM, as the paper's official evaluation asks them
(REFERENCE.md section 4: FOCI-Benchmark's prepare_prompt_mc and scripts/Finedefics.sh).

Evaluation (``mc4-*``, ``open``) and stage-2 training build their prompts here, so the two stay
word-identical; the tokens come from the checkpoint's own processor with its defaults
(``MLLMAdapter.chat_encode``).
"""
from __future__ import annotations

# Bumped whenever the tokens a prompt becomes change (BOS, question, wrap, option names, answer
# parsing): it is part of the evaluation and describe params, the evaluation's resume
# fingerprint and describe's answer-cache key, so results made with other prompts rerun.
# 1: before BOS, per-data-set questions, FOCI's wrap and official names; 2: now.
PROMPT_FORMAT = 2

LETTERS = "ABCD"
MC_PROMPT = "{question}\nChoices:\n{choices}\nAnswer with the letter from the given choices directly."
OPEN_PROMPT = "What is the name of the {super} in the image?"
QUESTION = "Which of these {objects} is shown in the image?"
# The official runs' word per data set (scripts/Finedefics.sh), "aircrafts" spelt as there.
OFFICIAL_OBJECTS = {"cub200": "birds", "cars196": "cars", "dogs120": "dogs", "flowers102": "flowers",
                    "pets37": "pets", "aircraft100": "aircrafts"}
# FOCI's model_template wraps the prompt text in "User: {}" for every model whose path contains
# "idefics" (the released Finedefics runs had such paths): the user turn then reads "User: Which
# of these ...". Reproduced under mc4-foci for these checkpoint model types.
FOCI_WRAP = "User: {}"
FOCI_WRAP_MODEL_TYPES = ("idefics", "idefics2", "idefics3")


def plural(noun: str) -> str:
    """A plain English plural of a super-category for the question ("butterfly" -> "butterflies")."""
    noun = noun.strip()
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    return noun + "s"


def question(loader: str, super_: str, override: str | None = None) -> str:
    """The multiple-choice question of a data set: its ``question`` key, else the official one of
    the paper's six, else one from its super-category ("Which of these birds is shown in the image?")."""
    if override:
        return override
    return QUESTION.format(objects=OFFICIAL_OBJECTS.get(loader) or plural(super_))


def mc_prompt(names: list[str], question_: str, wrap: str | None = None) -> str:
    """FOCI's multiple-choice prompt: the question, the lettered options, the instruction; ``wrap``
    (FOCI_WRAP) around the whole text where FOCI puts one."""
    choices = "\n".join(f"{letter}. {name}" for letter, name in zip(LETTERS, names))
    text = MC_PROMPT.format(question=question_, choices=choices)
    return wrap.format(text) if wrap else text


def open_prompt(super_: str) -> str:
    return OPEN_PROMPT.format(super=super_)


def foci_wrap(model_type: str | None, enabled: bool = True) -> str | None:
    """The wrap FOCI applies to this kind of checkpoint under mc4-foci, or None."""
    return FOCI_WRAP if enabled and model_type in FOCI_WRAP_MODEL_TYPES else None
