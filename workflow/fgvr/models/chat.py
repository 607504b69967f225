"""Chat and scoring for MLLMs: the checkpoint's own processor and chat template (or the family
table's prompt format), greedy generation, next-token scores over given letters and teacher-forced
scores of whole answers. Mixed into the generic MLLM adapter (fgvr.models.mllm).
"""
from __future__ import annotations

import torch

from ..io import FgvrError
from .loading import load_processor

TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")  # the rest of a batch is images


class ChatMixin:
    def answer_batch(self, prompts: list[str], images: list | None, answers: list[str], scope: str = "answer") -> dict:
        """Model inputs for "user: prompt (about the image) / assistant: answer", right-padded, with
        ``labels`` = the answer's tokens (and the turn's end), everything else -100; ``scope:
        sequence``: every attended token (the official training's labels = input_ids)."""
        return {k: self.to_device(v) for k, v in self.answer_encode(prompts, images, answers, scope).items()}

    def answer_encode(self, prompts: list[str], images: list | None, answers: list[str], scope: str = "answer") -> dict:
        """``answer_batch`` as CPU tensors (no weights used: runs in DataLoader workers)."""
        image = images is not None
        prompt_texts = self.chat_texts(prompts, image)
        if self.family.prompt_format is not None:
            # no chat template: the answer is the processor's suffix, as its model card trains it
            # (image tokens, BOS, prompt, "\n", answer, EOS), labelled by the processor
            inputs = self.chat_encode(prompt_texts, images, "right", suffix=answers)
            prompt_ids = None
        else:
            content = [{"type": "image"}] if image else []
            full = [self.processor.apply_chat_template(
                [{"role": "user", "content": content + [{"type": "text", "text": p}]},
                 {"role": "assistant", "content": [{"type": "text", "text": a}]}], tokenize=False)
                for p, a in zip(prompts, answers)]
            inputs = self.chat_encode(full, images, "right")
            prompt_ids = self.chat_encode(prompt_texts, images, "right") if scope == "answer" else None
        labels = inputs.pop("labels", None)
        if labels is None or scope != "answer":
            labels = inputs["input_ids"].clone()
        labels[inputs["attention_mask"] == 0] = -100
        for row, n in enumerate(prompt_ids["attention_mask"].sum(1).tolist() if prompt_ids is not None else []):
            if not torch.equal(inputs["input_ids"][row, :n], prompt_ids["input_ids"][row, :n]):
                raise FgvrError(f"{self.path}: the chat template's prompt is not a prefix of prompt + answer; "
                                "answer-only training and names scoring cannot mask it")
            labels[row, :n] = -100
        inputs["labels"] = labels
        return inputs

    def chat_encode(self, texts: list[str], images: list | None, side: str = "left", **extra) -> dict:
        """Processor outputs (CPU tensors) for chat text i about image i (or text only), tokenized
        with the processor's defaults, as the official evaluation and training call it (Idefics2
        and LLaVA prompts then start with BOS). A template that writes BOS itself (Idefics3's
        real one) gets no second: transformers' ``apply_chat_template(tokenize=True)`` rule."""
        kwargs = dict(text=texts, padding=True, padding_side=side, return_tensors="pt", **extra)
        bos = self.processor.tokenizer.bos_token
        if bos is not None and texts and texts[0].startswith(bos):
            kwargs["add_special_tokens"] = False
        if images is not None:
            kwargs.update(images=self.chat_images(images))  # image arguments: set at load (loading.overridden)
        # labels only where asked for (a suffix): PaliGemma's processor labels every call
        return {k: v for k, v in self.processor(**kwargs).items()
                if isinstance(v, torch.Tensor) and (k != "labels" or "suffix" in extra)}

    def answer_logits(self, inputs: dict) -> torch.Tensor:
        return self.model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False).logits


    # ---- chat: the checkpoint's own processor and chat template, left padding, greedy

    @property
    def any_processor(self):
        """The checkpoint's full processor (AutoProcessor), loaded on first use, padding left;
        with or without a chat template (the model's own object path needs none)."""
        if getattr(self, "_processor", None) is None:
            processor = load_processor(self.path, self.trust_remote_code)
            processor.tokenizer.padding_side = "left"
            self._processor = processor
        return self._processor

    @property
    def processor(self):
        """``any_processor``, for chat: refused when the checkpoint has no chat template and its
        family no prompt format."""
        processor = self.any_processor
        if not getattr(processor, "chat_template", None) and self.family.prompt_format is None:
            raise FgvrError(f"{self.path}: the checkpoint has no chat template; generation and multiple-choice "
                            "prompts need one (chat_template.jinja in the checkpoint folder)")
        return processor

    def chat_texts(self, prompts: list[str], image: bool) -> list[str]:
        """Each prompt as the user turn of the model's chat template (the image first), ready for
        the assistant's answer; a family without a template: the table's prompt format, the
        processor placing the image."""
        fmt = self.family.prompt_format
        if fmt is not None:
            if not image:
                raise FgvrError(f"{self.path}: a {self.family.name} model answers about an image only; it has no "
                                "text-only prompt format")
            return [fmt.format(p) for p in prompts]
        content = [{"type": "image"}] if image else []
        return [self.processor.apply_chat_template([{"role": "user", "content": content + [{"type": "text", "text": p}]}],
                                                   add_generation_prompt=True, tokenize=False) for p in prompts]

    def chat_images(self, images: list) -> list:
        return [[im] for im in images] if self.family.nested_images else images

    @torch.inference_mode()
    def generate(self, prompts: list[str], images: list | None = None, max_new_tokens: int = 24) -> list[str]:
        """Greedy answers, one per prompt (about the matching image, if images are given). Prompts
        that pass the same image object share its visual tokens (``shared_embeddings``)."""
        image_of = [id(image) for image in images] if images is not None else None
        return self.generate_batch(self.chat_batch(prompts, images), max_new_tokens, image_of)

    def chat_image_tokens(self, inputs: dict, rows: list[int]) -> torch.Tensor | None:
        """(len(rows), T, D) visual tokens of the given rows' images in a chat batch, as the model
        splices them in at its image tokens (get_image_features); None where the LLM sees more than
        them (the model's own object path, anyres views, packed images): those rows each run their
        own image."""
        f = self.family
        if f.object_path != "llm" or f.global_view or f.packed:
            return None
        tokens = self.image_tokens({k: v[rows] for k, v in inputs.items() if k not in TEXT_KEYS}, len(rows))
        return torch.stack(tokens) if len({t.shape for t in tokens}) == 1 else None

    def shared_embeddings(self, inputs: dict, image_of: list | None) -> torch.Tensor | None:
        """Input embeddings of a chat batch whose rows share images (describe's VQA: every attribute
        of an image in one batch): each distinct image goes through the vision encoder and connector
        once and its tokens are spliced into every row about it. Greedy answers are the same as
        the plain path's; None where no image repeats (nothing to share) or the family cannot
        (``chat_image_tokens``)."""
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
        slots = (ids == self.image_token_id).unsqueeze(-1)
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
        # greedy whatever the checkpoint's generation_config.json stores (Qwen2.5-VL and Gemma 3 store
        # do_sample: true; Qwen's top_k 1 is greedy anyway): do_sample / num_beams are overridden here,
        # while its other stored settings apply as in the official model.generate call: the stop
        # tokens (eos_token_id lists), repetition_penalty (Qwen2.5-VL's 1.05), bad_words_ids
        # (Idefics2's image tokens). Letter and names scoring read the logits and see none of them.
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return [t.strip() for t in tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)]
