"""The interface every model family implements, and device / dtype choice.

An adapter wraps a checkpoint loaded with from_pretrained (model, image processor, tokenizer).
``preprocess`` runs on the CPU, in DataLoader workers, and never touches the model;
``encode_images`` / ``encode_texts`` return float32 CPU tensors (B, D) keyed by representation
name (DESIGN.md: vision.mean, connector.mean, llm.last, llm.mean for an MLLM; vision.mean and
embed for a VLM).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on a GPU and float32 on the CPU (CPU bf16 matmuls are slow and lossy)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of ``hidden`` (B, T, D) where ``mask`` (B, T) is true."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def last_valid(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at each row's last unmasked position (right padding)."""
    last = mask.long().sum(1) - 1
    return hidden[torch.arange(len(hidden), device=hidden.device), last]


class Adapter:
    kind: str = ""
    image_keys: tuple[str, ...] = ()
    text_keys: tuple[str, ...] = ()
    auto_class = "AutoModel"

    trust_remote_code = False
    deferred_readback = False  # set by extraction's pipeline: see _out

    def __init__(self, path: str | Path, model, image_processor, tokenizer, device: torch.device, dtype: torch.dtype):
        self.path, self.model = Path(path), model
        self.image_processor, self.tokenizer = image_processor, tokenizer
        self.device, self.dtype = device, dtype

    def load_weights(self) -> "Adapter":
        """Load the weights if they are not loaded yet (see fgvr.models.load_adapter)."""
        if self.model is None:
            from . import load_model

            self.model = load_model(self)
        return self

    def checkpoint_config(self) -> dict:
        """config.json of the checkpoint folder (empty for a model built in memory)."""
        import json

        config = self.path / "config.json"
        return json.loads(config.read_text()) if config.is_file() else {}

    @property
    def architecture(self) -> str:
        if self.model is not None:
            return type(self.model).__name__
        return (self.checkpoint_config().get("architectures") or [""])[0]

    @property
    def is_demo(self) -> bool:
        if self.model is not None:
            return bool(getattr(self.model.config, "fgvr_demo", False))
        return bool(self.checkpoint_config().get("fgvr_demo", False))

    def preprocess(self, images: list) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def without_model(self) -> "Adapter":
        """A copy for DataLoader workers: preprocessing needs the processors, never the weights
        (so nothing large or on the GPU is pickled into a spawned worker)."""
        import copy

        lite = copy.copy(self)
        lite.model = None
        return lite

    def encode_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def hidden_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def to_device(self, tensor: torch.Tensor, floating: bool = True) -> torch.Tensor:
        if floating and tensor.is_floating_point():
            return tensor.to(self.device, self.dtype, non_blocking=True)
        return tensor.to(self.device, non_blocking=True)

    def _out(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Float32 CPU copies. Under ``deferred_readback`` on a GPU the copies are only queued
        (into pinned memory) and the caller waits on ``readback_event()`` before reading them:
        extraction queues the next batch first, so the GPU never idles while rows are written."""
        queued = self.deferred_readback and self.device.type == "cuda"
        return {k: v.detach().float().to("cpu", non_blocking=queued) for k, v in features.items()}

    def readback_event(self):
        """A CUDA event after everything queued so far (None on the CPU: nothing is queued)."""
        if self.device.type != "cuda":
            return None
        event = torch.cuda.Event()
        event.record()
        return event


@dataclass
class Visual:
    """What an MLLM makes of a batch of images before its LLM: both right-padded with masks."""

    vision: torch.Tensor  # (B, P, Dv) vision-encoder features the connector consumes
    vision_mask: torch.Tensor  # (B, P)
    tokens: torch.Tensor  # (B, T, D) visual tokens in the LLM's input space
    token_mask: torch.Tensor  # (B, T)


class MLLMAdapter(Adapter):
    """Object path shared by the MLLM families (the paper's, REFERENCE.md section 1): the image
    alone becomes visual tokens, the EOS embedding is appended, and the LLM runs on that sequence
    with no prompt. ``llm.last`` is the last layer at EOS, ``llm.mean`` its mean over the
    sequence. Texts: the tokenizer's ids (its own BOS, if any) + EOS through the same LLM.

    Which positions each pooling covers:
    - images: ``llm.last`` the appended EOS; ``llm.mean`` the visual tokens and EOS (no BOS).
    - texts: ``llm.last`` the appended EOS; ``llm.mean`` the text's content tokens and EOS, never
      BOS (or another special token the tokenizer adds) nor padding: a BOS would be shared by
      every text and pull all name means together, which the image side has no counterpart of.
    """

    kind = "mllm"
    image_keys = ("vision.mean", "connector.mean", "llm.last", "llm.mean")
    text_keys = ("llm.last", "llm.mean")
    auto_class = "AutoModelForImageTextToText"

    @property
    def core(self):
        return self.model.model

    @property
    def language_model(self):
        return self.core.language_model

    def visual(self, batch) -> Visual:
        raise NotImplementedError

    def vision_size(self) -> int:
        return self.model.config.vision_config.hidden_size

    def hidden_sizes(self):
        d = self.model.config.text_config.hidden_size
        return {"vision.mean": self.vision_size(), "connector.mean": d, "llm.last": d, "llm.mean": d}

    def object_sequence(self, batch):
        """The object path: visual tokens + EOS through the LLM alone -> (Visual, hidden, mask)."""
        v = self.visual(batch)
        embeds, mask = append_eos(v.tokens, v.token_mask, self.eos_embedding())
        hidden = self.language_model(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        return v, hidden, mask

    def text_sequence(self, texts: list[str]):
        """Texts + EOS through the LLM alone -> (hidden, attention mask, pooling mask)."""
        ids, mask, pool = eos_padded(self.tokenizer, texts, self.device)
        hidden = self.language_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        return hidden, mask, pool

    @torch.inference_mode()
    def encode_images(self, batch):
        v, hidden, mask = self.object_sequence(batch)
        return self._out({"vision.mean": masked_mean(v.vision, v.vision_mask),
                          "connector.mean": masked_mean(v.tokens, v.token_mask),
                          "llm.last": last_valid(hidden, mask), "llm.mean": masked_mean(hidden, mask)})

    def eos_embedding(self) -> torch.Tensor:
        eos = torch.tensor([self.tokenizer.eos_token_id], device=self.device)
        return self.language_model.get_input_embeddings()(eos)[0]

    @torch.inference_mode()
    def encode_texts(self, texts):
        hidden, mask, pool = self.text_sequence(texts)
        return self._out({"llm.last": last_valid(hidden, mask), "llm.mean": masked_mean(hidden, pool)})

    # ---- training: the analysis's representations with gradients, and answer-only LM batches

    trainable = False  # families whose fine-tuning is supported set this (fgvr.train)
    lora_modules = ""  # regex of the module names LoRA adapts

    def object_states(self, batch) -> torch.Tensor:
        """``llm.last`` of each image, with gradients (what stage 1 aligns)."""
        _, hidden, mask = self.object_sequence(batch)
        return last_valid(hidden, mask)

    def text_states(self, texts: list[str]) -> torch.Tensor:
        """``llm.last`` of each text, with gradients."""
        hidden, mask, _ = self.text_sequence(texts)
        return last_valid(hidden, mask)

    def answer_batch(self, prompts: list[str], images: list | None, answers: list[str], scope: str = "answer") -> dict:
        """Model inputs for "user: prompt (about the image) / assistant: answer", right-padded, with
        ``labels`` = the answer's tokens (and the turn's end), everything else -100; ``scope:
        sequence``: every attended token (the official training's labels = input_ids)."""
        return {k: self.to_device(v) for k, v in self.answer_encode(prompts, images, answers, scope).items()}

    def answer_encode(self, prompts: list[str], images: list | None, answers: list[str], scope: str = "answer") -> dict:
        """``answer_batch`` as CPU tensors (no weights used: runs in DataLoader workers)."""
        from ..io import FgvrError

        tok = self.processor.tokenizer
        image = images is not None
        prompt_texts = self.chat_texts(prompts, image)
        content = [{"type": "image"}] if image else []
        full = [self.processor.apply_chat_template(
            [{"role": "user", "content": content + [{"type": "text", "text": p}]},
             {"role": "assistant", "content": [{"type": "text", "text": a}]}], tokenize=False)
            for p, a in zip(prompts, answers)]
        side, tok.padding_side = tok.padding_side, "right"
        try:
            inputs = self.chat_encode(full, images)
            prompt_ids = self.chat_encode(prompt_texts, images) if scope == "answer" else None
        finally:
            tok.padding_side = side
        labels = inputs["input_ids"].clone()
        labels[inputs["attention_mask"] == 0] = -100
        for row, n in enumerate(prompt_ids["attention_mask"].sum(1).tolist() if prompt_ids is not None else []):
            if not torch.equal(inputs["input_ids"][row, :n], prompt_ids["input_ids"][row, :n]):
                raise FgvrError(f"{self.path}: the chat template's prompt is not a prefix of prompt + answer; "
                                "answer-only training and names scoring cannot mask it")
            labels[row, :n] = -100
        inputs["labels"] = labels
        return inputs

    def chat_encode(self, texts: list[str], images: list | None) -> dict:
        """Processor outputs (CPU tensors) for chat text i about image i (or text only), tokenized
        with the processor's defaults, as the official evaluation and training call it (Idefics2
        and LLaVA prompts then start with BOS). A template that writes BOS itself (Idefics3's
        real one) gets no second: transformers' ``apply_chat_template(tokenize=True)`` rule."""
        kwargs = dict(text=texts, padding=True, return_tensors="pt")
        bos = self.processor.tokenizer.bos_token
        if bos is not None and texts and texts[0].startswith(bos):
            kwargs["add_special_tokens"] = False
        if images is not None:
            kwargs.update(images=self.chat_images(images), **self.chat_image_kwargs)
        return {k: v for k, v in self.processor(**kwargs).items() if isinstance(v, torch.Tensor)}

    def answer_logits(self, inputs: dict) -> torch.Tensor:
        return self.model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False).logits


    # ---- chat: the checkpoint's own processor and chat template, left padding, greedy

    @property
    def processor(self):
        """The checkpoint's full processor (AutoProcessor), loaded on first use, padding left."""
        if getattr(self, "_processor", None) is None:
            from transformers import AutoProcessor

            from ..io import FgvrError

            try:
                try:
                    processor = AutoProcessor.from_pretrained(self.path, trust_remote_code=self.trust_remote_code)
                except (ImportError, OSError) as err:
                    if not wants_torchvision(err):
                        raise
                    processor = image_only_processor(self.path, self.trust_remote_code)
            except (OSError, ValueError, ImportError) as err:
                missing = missing_package(err)
                if missing:
                    raise FgvrError(f"{self.path}: its processor needs the {missing} package, which is not installed "
                                    f"(pip install {missing}); chat prompts, generation and letter scoring need it") from err
                raise FgvrError(f"{self.path}: its processor cannot be loaded for chat prompts ({err})") from err
            if not getattr(processor, "chat_template", None):
                raise FgvrError(f"{self.path}: the checkpoint has no chat template; generation and multiple-choice "
                                "prompts need one (chat_template.jinja in the checkpoint folder)")
            processor.tokenizer.padding_side = "left"
            self._processor = processor
        return self._processor

    def chat_texts(self, prompts: list[str], image: bool) -> list[str]:
        """Each prompt as the user turn of the model's chat template (the image first), ready for
        the assistant's answer."""
        content = [{"type": "image"}] if image else []
        return [self.processor.apply_chat_template([{"role": "user", "content": content + [{"type": "text", "text": p}]}],
                                                   add_generation_prompt=True, tokenize=False) for p in prompts]

    chat_image_kwargs: dict = {}

    def chat_images(self, images: list) -> list:
        return images

    @torch.inference_mode()
    def generate(self, prompts: list[str], images: list | None = None, max_new_tokens: int = 24) -> list[str]:
        """Greedy answers, one per prompt (about the matching image, if images are given). Prompts
        that pass the same image object share its visual tokens (``shared_embeddings``)."""
        image_of = [id(image) for image in images] if images is not None else None
        return self.generate_batch(self.chat_batch(prompts, images), max_new_tokens, image_of)

    def chat_image_tokens(self, inputs: dict, rows: list[int]) -> torch.Tensor | None:
        """(len(rows), T, D) visual tokens of the given rows' images in a chat batch, in the LLM's
        input space, as the model splices them in at its image tokens; None where the family has
        not said how (its rows then each run their own image)."""
        return None

    def shared_embeddings(self, inputs: dict, image_of: list | None) -> torch.Tensor | None:
        """Input embeddings of a chat batch whose rows share images (describe's VQA: every attribute
        of an image in one batch): each distinct image goes through the vision encoder and connector
        once and its tokens are spliced into every row about it. Greedy answers are the same as
        the plain path's; None where no image repeats (nothing to share) or the family cannot
        (``chat_image_tokens``)."""
        from ..io import FgvrError

        if image_of is None or len(set(image_of)) == len(image_of):
            return None

        first_row: dict = {}
        for row, image in enumerate(image_of):
            first_row.setdefault(image, row)
        tokens = self.chat_image_tokens(inputs, list(first_row.values()))
        if tokens is None:
            return None
        slot = {image: n for n, image in enumerate(first_row)}
        tokens = tokens[torch.tensor([slot[image] for image in image_of], device=tokens.device)]
        ids = inputs["input_ids"]
        slots = (ids == self.model.config.image_token_id).unsqueeze(-1)
        embeds = self.language_model.get_input_embeddings()(ids)
        if int(slots.sum()) != tokens.shape[0] * tokens.shape[1]:
            raise FgvrError(f"{self.path}: the chat prompts hold {int(slots.sum())} image tokens but the images give "
                            f"{tokens.shape[0]} x {tokens.shape[1]}; cannot splice the shared visual tokens in")
        return embeds.masked_scatter(slots, tokens.to(embeds.dtype))

    # ---- evaluation (fgvr.evaluate): CPU-side batches for DataLoader workers, next-token scores
    # over given choices, greedy answers from prepared batches. Left padding throughout; the
    # positions are the ones generate gives its first step (the model's own rule, M-RoPE included),
    # so a prompt's scores do not depend on what else is in its batch.

    def chat_batch(self, prompts: list[str], images: list | None) -> dict:
        """Processor outputs for prompt i about image i, left-padded, on the CPU (no weights used:
        runs in DataLoader workers on a ``without_model`` copy)."""
        return self.chat_encode(self.chat_texts(prompts, images is not None), images)

    def choice_token_ids(self, choices: list[str]) -> list[list[int]]:
        """For each choice (a letter), the vocabulary entries that are exactly it, with or without
        a leading space ("A", "\u2581A", "\u0120A"): what a model may emit first when it answers it."""
        from ..io import FgvrError

        if getattr(self, "_choice_ids", (None,))[0] != tuple(choices):
            tok = self.processor.tokenizer
            special = set(tok.all_special_ids)
            found = {c: [] for c in choices}
            for token, index in sorted(tok.get_vocab().items(), key=lambda kv: kv[1]):
                bare = token.lstrip("\u2581\u0120 ")
                if bare in found and index not in special and tok.convert_tokens_to_string([token]).strip() == bare:
                    found[bare].append(index)
            lacking = [c for c, ids in found.items() if not ids]
            if lacking:
                raise FgvrError(f"{self.path}: the tokenizer has no single token for the choice(s) {lacking}; "
                                "letter scoring needs one per choice (use scoring: generate)")
            self._choice_ids = (tuple(choices), [found[c] for c in choices])
        return self._choice_ids[1]

    def first_positions(self, inputs: dict) -> torch.Tensor | None:
        """The position ids generate uses for its first step (left padding: cumsum of the mask)."""
        prepare = getattr(self.model, "_prepare_position_ids_for_generation", None)
        if prepare is None:
            return None
        return prepare(inputs["input_ids"], dict(inputs))

    @torch.inference_mode()
    def choice_scores(self, prompts: list[str] | None, images: list | None, choices: list[str],
                      inputs: dict | None = None) -> torch.Tensor:
        """(B, len(choices)) float32 CPU: log P(the next token is choice j) after prompt i's chat
        turn, summed over the choice's spellings (``choice_token_ids``); one forward pass.
        ``inputs``: a prepared ``chat_batch`` instead of prompts and images."""
        inputs = self.chat_batch(prompts, images) if inputs is None else inputs
        inputs = {k: self.to_device(v) for k, v in inputs.items()}
        positions = self.first_positions(inputs)
        extra = {"position_ids": positions} if positions is not None else {}
        logits = self.model(**inputs, **extra, use_cache=False, logits_to_keep=1).logits[:, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        return torch.stack([logp[:, ids].logsumexp(-1) for ids in self.choice_token_ids(choices)], 1).cpu()

    @torch.inference_mode()
    def answer_scores(self, inputs: dict, image_of: list | None = None) -> torch.Tensor:
        """(B,) float32 CPU: log P(row i's answer and its turn's end | row i's prompt), summed over
        the labelled tokens of an ``answer_encode`` batch (teacher forcing, one forward pass).
        Right padding: a row's scores do not depend on its batch. ``image_of`` as in
        ``generate_batch``: rows about one image share its visual tokens."""
        inputs = {k: self.to_device(v) for k, v in inputs.items()}
        targets = inputs.pop("labels")[:, 1:]
        embeds = self.shared_embeddings(inputs, image_of)
        if embeds is not None:  # the forward takes embeddings or ids, not both
            inputs = {"attention_mask": inputs["attention_mask"], "inputs_embeds": embeds}
        logp = torch.log_softmax(self.model(**inputs, use_cache=False).logits[:, :-1].float(), dim=-1)
        picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * (targets != -100)).sum(1).cpu()

    @torch.inference_mode()
    def generate_batch(self, inputs: dict, max_new_tokens: int, image_of: list | None = None) -> list[str]:
        """Greedy answers for a prepared ``chat_batch`` (``generate`` from CPU inputs). ``image_of``:
        which image each row asks about (equal keys, one image), so the vision side runs once per image."""
        inputs = {k: self.to_device(v) for k, v in inputs.items()}
        embeds = self.shared_embeddings(inputs, image_of)
        if embeds is not None:  # generate keeps the ids, for the prompt length
            inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"],
                      "inputs_embeds": embeds}
        tok = self.processor.tokenizer
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return [t.strip() for t in tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)]


def image_only(cls: type) -> type:
    """``cls``, a processor class whose constructor wants a video processor, without it: images and
    text are all this workflow gives a processor. Its video processor (Qwen-VL, SmolVLM, ...) is
    what needs torchvision, which does not import beside the CPU build of torch."""
    from transformers.processing_utils import ProcessorMixin

    class ImageOnly(cls):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                             chat_template=chat_template, **kwargs)

        def apply_chat_template(self, conversation, chat_template=None, **kwargs):
            # a family's own override only fills in video defaults (SmolVLM: frames, fps) from the
            # video processor this one lacks; the template itself is the generic mixin's work
            return ProcessorMixin.apply_chat_template(self, conversation, chat_template, **kwargs)

    # the family's own arguments (SmolVLM's image_seq_len ...) but the video processor: what
    # transformers reads to load, save and pass them
    import inspect

    signature = inspect.signature(cls.__init__)
    ImageOnly.__init__.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "video_processor"])
    ImageOnly.__name__ = ImageOnly.__qualname__ = cls.__name__
    return ImageOnly


def image_only_processor(path: str | Path, trust_remote_code: bool = False):
    """The checkpoint's own processor class (by its model type), loaded without the video
    processor that AutoProcessor could not import."""
    import json
    import logging

    import transformers
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    model_type = json.loads((Path(path) / "config.json").read_text()).get("model_type")
    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    if not isinstance(name, str) or not hasattr(transformers, name):
        raise ImportError(f"no processor class is known for model type {model_type!r}; it requires the torchvision "
                          "library")
    logging.getLogger("fgvr.models").info("%s: torchvision is not installed; %s loaded for images and text only",
                                          path, name)
    cls = image_only(getattr(transformers, name))
    processor = cls.from_pretrained(path, trust_remote_code=trust_remote_code)
    # transformers passes processor_config.json's values by the constructor's own argument names,
    # which the image-only constructor does not spell out: set the family's plain ones here
    # (SmolVLM's image_seq_len)
    import inspect

    saved = Path(path) / "processor_config.json"
    own = set(inspect.signature(cls.__init__).parameters) - {"self", "image_processor", "tokenizer", "chat_template"}
    for key, value in (json.loads(saved.read_text()) if saved.is_file() else {}).items():
        if key in own and not isinstance(value, dict):
            setattr(processor, key, value)
    return processor


def wants_torchvision(err: BaseException) -> bool:
    """Whether AutoProcessor failed on the video processor that torchvision would have given
    (an ImportError naming it, or the video processor's config not loading without it)."""
    import importlib.util

    if missing_package(err) == "torchvision":
        return True
    return "video processor" in str(err).lower() and importlib.util.find_spec("torchvision") is None


def missing_package(err: BaseException) -> str | None:
    """The package an ImportError-like message from transformers says is missing (torchvision ...)."""
    import re

    found = re.search(r"requires the (\w+) library", str(err))
    return found[1].lower() if found else None


def append_eos(tokens: torch.Tensor, mask: torch.Tensor, eos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put ``eos`` (D,) right after each row's last valid token; returns embeddings and mask."""
    b, t, d = tokens.shape
    out = torch.cat([tokens, torch.zeros(b, 1, d, dtype=tokens.dtype, device=tokens.device)], 1)
    lengths = mask.long().sum(1)
    out[torch.arange(b, device=tokens.device), lengths] = eos.to(tokens.dtype)
    new_mask = torch.cat([mask.bool(), torch.zeros(b, 1, dtype=torch.bool, device=mask.device)], 1)
    new_mask[torch.arange(b, device=mask.device), lengths] = True
    return out, new_mask.long()


def eos_padded(tokenizer, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids of each text with EOS appended, right-padded into one batch; the attention
    mask; and the pooling mask: content tokens and the appended EOS, not the special tokens the
    tokenizer adds itself (BOS)."""
    rows = []
    for text in texts:
        enc = tokenizer(text, return_special_tokens_mask=True)
        rows.append((enc["input_ids"] + [tokenizer.eos_token_id], [1 - m for m in enc["special_tokens_mask"]] + [1]))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(texts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    pool = torch.zeros((len(texts), width), dtype=torch.long)
    for row, (seq, content) in enumerate(rows):
        ids[row, :len(seq)], mask[row, :len(seq)], pool[row, :len(seq)] = torch.tensor(seq), 1, torch.tensor(content)
    return ids.to(device), mask.to(device), pool.to(device)


class VLMAdapter(Adapter):
    """Dual encoders: ``vision.mean`` (mean of the vision tower's last hidden states over real
    patches) and ``embed`` (the model's own image embedding); texts give ``embed``."""

    kind = "vlm"
    image_keys = ("vision.mean", "embed")
    text_keys = ("embed",)

    def hidden_sizes(self):
        cfg = self.model.config
        return {"vision.mean": cfg.vision_config.hidden_size, "embed": self.embed_size()}

    def embed_size(self) -> int:
        return self.model.config.vision_config.hidden_size
