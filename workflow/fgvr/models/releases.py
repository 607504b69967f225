"""What the real releases store: data only (no torch, no transformers).

One entry per release the configs name (config/paper.yaml, config/zoo.yaml; keyed by Hub id), with
the values of its own processor / tokenizer / chat-template / generation files, so that a tiny test
checkpoint (fgvr.models.release_builder) stores what the release stores and only its weights and
widths are tiny. No Hub access was possible: the values come from stored copies of the release files
(Hub file pages, verbatim mirrors, transformers' conversion scripts), each cited in ``sources`` with
a confidence (HIGH: the release's own file page or two verbatim copies; MED: one faithful copy or
the conversion script that wrote it; LOW: a derivative). What could not be found is listed in
``not_found``; the tiny builder's own choice stays there, never a guessed value.

Fields of an entry:
- ``family``: the fgvr.models.families row whose demo builder makes the tiny weights.
- ``image_processor``: preprocessor_config.json (every release here keeps it as its own file);
  None: not found (the tiny builder's image processor is written there).
- ``processor``: processor_config.json; None: the release has no such file (or it was not found:
  see not_found).
- ``tokenizer``: tokenizer_config.json keys. Token ids never appear: the tiny vocabulary is not the
  release's. ``add_bos_token``/``add_eos_token`` are enforced in tokenizer.json's post-processor
  (transformers 5 ignores the config keys for a tokenizers-backed tokenizer).
- ``chat_template``: the verbatim template, or None where the release has none;
  ``template_files``: where the release keeps it ("processor_config.json", "chat_template.json",
  "chat_template.jinja").
- ``generation``: generation_config.json with token ids written as token STRINGS (lists of strings
  for lists of ids), mapped onto the tiny tokenizer's ids by the builder; None: not found.
- ``config``: config.json values the processor and model must agree on (LLaVA-OneVision's pinpoints).
- ``shrunk``: "part.key" -> why the tiny checkpoint changes it (test time, tiny widths); the tiny
  value is the tiny builder's own, or, for ("name", why), ``TINY[name](image_size)``.
- ``adds``: (BOS first, EOS last) as the release's tokenizer adds them, where its file stores no
  add_bos_token / add_eos_token (SigLIP's class appends </s>; Qwen2's adds nothing); else those keys.
"""
from __future__ import annotations

# ------------------------------------------------------------------------------ chat templates

IDEFICS2_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}{% if message['content'][0]['type'] == 'image' %}"
    "{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}"
    "{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
IDEFICS3_TEMPLATE = "<|begin_of_text|>" + IDEFICS2_TEMPLATE
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")
ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN25_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}")
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}")
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""
PIXTRAL_TEMPLATE = (
    '{%- if messages[0]["role"] == "system" %}{%- if messages[0]["content"] is not string %}{%- if messages[0]'
    '["content"]|length == 1 and messages[0]["content"][0]["type"] == "text" %}{%- set system_message = messages[0]'
    '["content"][0]["content"] %}{%- endif %}{%- else %}{%- set system_message = messages[0]["content"] %}{%- endif %}'
    '{%- set loop_messages = messages[1:] %}\n{%- else %}{%- set loop_messages = messages %}{%- endif %}'
    '{{- bos_token }}{%- for message in loop_messages %}{%- if (message[\'role\'] == \'user\') != (loop.index0 % 2 == 0)'
    ' %}{{- raise_exception(\'After the optional system message, conversation roles must alternate user/assistant/'
    'user/assistant/...\') }}{%- endif %}{%- if message["role"] == "user" %}{%- if loop.first and system_message is '
    'defined %}{{- "[INST]" + system_message + "\\n\\n" }}{%- else %}{{ "[INST]" }}{%- endif %}{%- endif %}'
    '{%- if message["content"] is not string %}{%- for chunk in message["content"] %}{%- if chunk["type"] == "text" %}'
    '{%- if "content" in chunk %}{{- chunk["content"] }}{%- elif "text" in chunk %}{{- chunk["text"] }}{%- endif %}'
    '{%- elif chunk["type"] == "image" %}{{- "[IMG]" }}{%- else %}{{- raise_exception("Unrecognized content type!") }}'
    '{%- endif %}{%- endfor %}{%- else %}{{- message["content"] }}{%- endif %}{%- if message["role"] == "user" %}'
    '{{- "[/INST]" }}{%- elif message["role"] == "assistant" %}{{- eos_token}}{%- else %}{{- raise_exception("Only '
    'user and assistant roles are supported, with the exception of an initial optional system message!") }}'
    '{%- endif %}{%- endfor %}')

# ------------------------------------------------------------------------------ shrunk values the
# tiny builders do not make themselves: image size -> the tiny value

HF = "https://huggingface.co/"


def onevision_pinpoints(size: int) -> list[list[int]]:
    """The release's 36 anyres pinpoints, (h, w) in {1..6} x 384, scaled to the tiny base view."""
    return [[h * size, w * size] for h in range(1, 7) for w in range(1, 7)]


def tiny_patch(size: int) -> int:
    """The tiny builders' patch size (fgvr.models.demo._patch); Qwen's is even."""
    return max(2, size // 8) // 2 * 2 or 2


TINY = {"onevision_pinpoints": onevision_pinpoints,
        "qwen_min_pixels": lambda size: 4 * (2 * tiny_patch(size)) ** 2,
        "qwen_max_pixels": lambda size: 16384 * (2 * tiny_patch(size)) ** 2}

# ------------------------------------------------------------------------------ the releases

RELEASES: dict[str, dict] = {
    "HuggingFaceM4/idefics2-8b": dict(
        family="idefics2",
        image_processor={
            "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
            "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "Idefics2ImageProcessor", "image_std": [0.5, 0.5, 0.5],
            "processor_class": "Idefics2Processor", "resample": 2, "rescale_factor": 0.00392156862745098,
            "size": {"longest_edge": 980, "shortest_edge": 378}},
        processor={"chat_template": IDEFICS2_TEMPLATE, "image_seq_len": 64, "processor_class": "Idefics2Processor"},
        template_files=("processor_config.json",),
        chat_template=IDEFICS2_TEMPLATE,
        tokenizer={
            "add_bos_token": True, "add_eos_token": False,
            "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
            "bos_token": "<s>", "clean_up_tokenization_spaces": False, "eos_token": "</s>", "legacy": False,
            "model_max_length": 1000000000000000019884624838656, "pad_token": "<unk>",
            "processor_class": "Idefics2Processor", "spaces_between_special_tokens": False},
        generation={"_from_model_config": True, "bad_words_ids": [["<fake_token_around_image>"], ["<image>"]],
                    "bos_token_id": "<s>", "eos_token_id": ["</s>", "<end_of_utterance>"], "pad_token_id": "<unk>",
                    "transformers_version": "4.39.0.dev0"},
        shrunk={"image_processor.size": "378..980 px -> 32..64: the tiny vision tower is 32 px (CPU test time); "
                                         "the release's 2.6x longest/shortest ratio becomes the tiny builder's 2x",
                "processor.image_seq_len": "64 -> 16: the tiny perceiver has 16 latents (each image gives "
                                           "resampler_n_latents tokens)"},
        sources={
            "image_processor": f"{HF}huz-relay/idefics2-8b-ocr/blob/main/preprocessor_config.json ('Duplicate from "
                               "HuggingFaceM4/idefics2-8b', 460 B = the official file's size in the tree listing "
                               f"{HF}HuggingFaceM4/idefics2-8b/tree/dc2d28fc9986944eb6ea61c80fc0f71a4ea245e5); the "
                               "model card's 'only the sft model has been trained with image splitting' (MED-HIGH)",
            "processor": f"{HF}HuggingFaceM4/idefics2-8b/commit/8e6111a41f34a86e25dd1ed30dbf87b0652e07b2 and "
                         f"{HF}HuggingFaceM4/idefics2-8b/blob/refs%2Fpr%2F63/processor_config.json (483 B, HIGH)",
            "chat_template": "processor_config.json, as above (HIGH)",
            "tokenizer": f"{HF}HuggingFaceM4/idefics2-8b/blame/main/tokenizer_config.json (HIGH for the keys shown)",
            "generation": f"{HF}HuggingFaceM4/idefics2-8b/commit/dc2d28fc9986944eb6ea61c80fc0f71a4ea245e5 (HIGH; "
                          "ids 1/2/0/32000/32001/32002 = <s>/</s>/<unk>/<fake_token_around_image>/<image>/"
                          "<end_of_utterance> by tokenizer_config's added_tokens_decoder)"},
        not_found={"tokenizer.unk_token": "cut off in the excerpt (id 0 is <unk>): the tiny builder's <unk>",
                   "tokenizer.tokenizer_class": "cut off ('LlamaToke...'); the tiny tokenizer stays "
                                                "TokenizersBackend (see release_builder)",
                   "tokenizer.padding_side": "not stored in the file (the class default applies)"},
    ),
    "HuggingFaceM4/Idefics3-8B-Llama3": dict(
        family="idefics3",
        image_processor={
            "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
            "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "Idefics3ImageProcessor", "image_std": [0.5, 0.5, 0.5],
            "processor_class": "Idefics3Processor", "resample": 1, "rescale_factor": 0.00392156862745098,
            "size": {"longest_edge": 1456}},
        processor=None,  # deleted on main (c510f0c): image_seq_len is the class default, 169
        template_files=("chat_template.json",),
        chat_template=IDEFICS3_TEMPLATE,
        tokenizer={"bos_token": "<|begin_of_text|>"},
        generation={"_from_model_config": True, "bos_token_id": "<|begin_of_text|>",
                    "eos_token_id": ["<end_of_utterance>"], "transformers_version": "4.44.0.dev0"},
        shrunk={"image_processor.size": "longest edge 1456 (4 x 364) -> 4 x 32: the tiny vision tower is 32 px",
                "image_processor.max_image_size": "not stored (the class default, 364) -> 32, the tiny vision tower",
                "processor.image_seq_len": "no processor_config.json on main (the class default 169 = (364/14)^2/4)"
                                           " -> a file with 16 = (32/4)^2/4, the tiny tower's patches / scale_factor^2"},
        sources={
            "image_processor": f"{HF}HuggingFaceM4/Idefics3-8B-Llama3/blob/refs%2Fpr%2F9/preprocessor_config.json "
                               f"= main 30d4b60 ({HF}HuggingFaceM4/Idefics3-8B-Llama3/commit/"
                               "30d4b60994f70085927eb68334a1146344f8ffd7) (HIGH)",
            "processor": f"{HF}HuggingFaceM4/Idefics3-8B-Llama3/tree/main lists no processor_config.json (deleted "
                         "in c510f0c) (MED-HIGH)",
            "chat_template": "chat_template.json (434 B, 92a708a) reconstructed from the same string in the official "
                             f"{HF}HuggingFaceM4/Idefics3-8B-Llama3/blob/92a708af3b96e7fe9aeac5d439a1f64083868a05/"
                             "processor_config.json; json.dumps of it is exactly 434 B (MED)",
            "tokenizer": "bos_token <|begin_of_text|>: the template writes it and generation_config's bos_token_id "
                         "is 128000 (HIGH)",
            "generation": f"{HF}HuggingFaceM4/Idefics3-8B-Llama3/blob/e493ce0fdb968f1bd694d713ea12a4c46f84d832/"
                          "generation_config.json (HIGH); 128258 = <end_of_utterance> by PR #18 'Add EOS token id' "
                          "(MED)"},
        not_found={"tokenizer": "tokenizer_config.json (add_bos_token, eos/pad strings, padding_side): the tiny "
                                "builder's (BOS added, except where the prompt already starts with it)",
                   "generation.eos_token_id": "the strings of ids 128001, 128008, 128009 (only <end_of_utterance> "
                                              "= 128258 is placed): left out",
                   "generation.pad_token_id": "the string of id 128002: left out (the tiny tokenizer's pad)"},
    ),
    "llava-hf/llava-1.5-7b-hf": dict(
        family="llava",
        image_processor={
            "crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711], "processor_class": "LlavaProcessor", "resample": 3,
            "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}},
        processor={"image_token": "<image>", "num_additional_image_tokens": 1, "patch_size": 14,
                   "processor_class": "LlavaProcessor", "vision_feature_select_strategy": "default"},
        template_files=("chat_template.json", "chat_template.jinja"),
        chat_template=LLAVA_TEMPLATE,
        tokenizer={"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "image_token": "<image>",
                   "extra_special_tokens": {"image_token": "<image>"}, "padding_side": "left",
                   "model_max_length": 1000000000000000019884624838656, "legacy": False,
                   "use_default_system_prompt": False, "clean_up_tokenization_spaces": False},
        generation={"_from_model_config": True, "bos_token_id": "<s>", "eos_token_id": "</s>",
                    "pad_token_id": "<pad>", "transformers_version": "4.36.0.dev0"},
        shrunk={"image_processor.size": "shortest edge 336 -> 32: the tiny CLIP tower is 32 px",
                "image_processor.crop_size": "336 x 336 -> 32 x 32, likewise",
                "processor.patch_size": "14 -> 4, the tiny tower's patch"},
        sources={"*": "github tung2kg1/AI-Stock-Chart-Analysis@61f63b568cf2def9b3e13740ee072bf3b48dac8a:"
                      "llava-1.5-7b-hf/ (a vendored copy of the Hub repo of unknown, probably 2025, date: "
                      "preprocessor_config.json, processor_config.json, chat_template.json/.jinja, "
                      "tokenizer_config.json, added_tokens.json, generation_config.json) (MED-HIGH)"},
        not_found={},
    ),
    "llava-hf/llava-onevision-qwen2-7b-ov-hf": dict(
        family="llava_onevision",
        image_processor=None,
        processor={"num_image_tokens": 729, "vision_feature_select_strategy": "full",
                   "processor_class": "LlavaOnevisionProcessor"},
        template_files=("chat_template.json",),
        chat_template=ONEVISION_TEMPLATE,
        tokenizer=None,
        generation={"_from_model_config": True, "bos_token_id": "<|endoftext|>", "eos_token_id": "<|im_end|>",
                    "transformers_version": "4.45.0.dev0"},
        config={"image_grid_pinpoints": "36 entries (h, w) in {1..6} x 384 (written scaled: see shrunk)"},
        shrunk={"image_processor.image_grid_pinpoints": ("onevision_pinpoints", "the 36 pinpoints {1..6} x 384 -> {1..6} x 32 (and in "
                                                        "config.json): the tiny SigLIP tower is 32 px"),
                "config.image_grid_pinpoints": ("onevision_pinpoints", "likewise: the model tiles as its processor"),
                "processor.num_image_tokens": "729 = (384/14)^2 -> 64 = (32/4)^2, the tiny tower's patches"},
        sources={
            "generation": f"{HF}llava-hf/llava-onevision-qwen2-7b-ov-hf/blob/8521f2543263710a473b961b637e7a4793ef5076"
                          "/generation_config.json (HIGH); 151643 = <|endoftext|>, 151645 = <|im_end|> in the Qwen2 "
                          "vocabulary (Qwen2.5-VL's tokenizer listing, MED)",
            "processor": "huggingface/transformers@01080c629600d4ff3121446bb4f4a2e240c2cf41:src/transformers/models/"
                         "llava_onevision/convert_llava_onevision_weights_to_hf.py (LlavaOnevisionProcessor("
                         "num_image_tokens=729, vision_feature_select_strategy='full')) (MED)",
            "chat_template": "the same conversion script's template; json.dumps of it is 824 B, the size of the "
                             "'Upload processor' chat_template.json (871fbb1) (MED)",
            "config": f"{HF}mgoin/llava-onevision-qwen2-7b-ov-hf-bnb-full-4bit/blob/main/config.json "
                      "(image_grid_pinpoints: 36 entries, _name_or_path the release) (MED)"},
        not_found={"image_processor": "preprocessor_config.json (size, do_pad, pinpoints as stored): the tiny "
                                      "builder's (the class defaults), with the config's pinpoints scaled",
                   "chat_template": "the current 826 B revision (2 bytes more than the uploaded one)",
                   "tokenizer": "tokenizer_config.json of the hf repo: the tiny builder's (eos <|im_end|>, no BOS "
                                "as Qwen2's; lmms-lab's original stores bos null, eos <|im_end|>, pad <|endoftext|>, "
                                "padding right: another repo, not applied)"},
    ),
    "Qwen/Qwen2.5-VL-7B-Instruct": dict(
        family="qwen2_5_vl",
        image_processor={
            "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "image_processor_type": "Qwen2_5_VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"},
        processor=None,
        template_files=("chat_template.json",),
        chat_template=QWEN25_TEMPLATE,
        adds=(False, False),
        tokenizer={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
                   "model_max_length": 131072, "clean_up_tokenization_spaces": False},
        generation={"bos_token_id": "<|endoftext|>", "pad_token_id": "<|endoftext|>", "do_sample": True,
                    "eos_token_id": ["<|im_end|>", "<|endoftext|>"], "repetition_penalty": 1.05, "temperature": 0.1,
                    "top_p": 0.001, "top_k": 1, "transformers_version": "4.37.0"},
        shrunk={"image_processor.patch_size": "14 -> 4, the tiny vision tower's patch",
                "image_processor.min_pixels": ("qwen_min_pixels", "3136 = 4 x 28^2 -> 4 x (4 x 2)^2 = 256: the same 4..16384 visual "
                                              "tokens at the tiny patch x merge size"),
                "image_processor.max_pixels": ("qwen_max_pixels", "12845056 = 16384 x 28^2 -> 16384 x 8^2 = "
                                                                   "1048576, likewise")},
        sources={
            "image_processor": "github remodlai/qwen-2.5-vl-7b-instruct-lexiq@a22b9b202f87d21defc75df2652beed712e52261"
                               f":preprocessor_config.json and {HF}Diankun/Spatial-MLLM-v1.1-Instruct-820K/blob/main/"
                               "preprocessor_config.json (two copies agree, HIGH)",
            "chat_template": "github huggingface/huggingface.js@fe42e68017ffc76d09922ea8f9b38a6964345710:packages/"
                             "jinja/test/e2e.test.js, key Qwen/Qwen2.5-VL-7B-Instruct (HIGH-MED)",
            "tokenizer": "the release's AutoProcessor repr (Qwen2TokenizerFast: eos <|im_end|>, pad <|endoftext|>, "
                         "model_max_length 131072, no bos_token) (LOW-MED: a printed object, not the file)",
            "generation": "github remodlai/qwen-2.5-vl-7b-instruct-lexiq@a22b9b2:generation_config.json (MED); ids "
                          "151643/151645 = <|endoftext|>/<|im_end|> by the same repr"},
        not_found={"tokenizer": "add_bos_token, padding_side and the file's own chat_template: no BOS added (the "
                                "repr lists no bos_token), padding the tiny builder's",
                   "processor": "whether a processor_config.json exists: none written"},
    ),
    "OpenGVLab/InternVL3-8B-hf": dict(
        family="internvl",
        image_processor={
            "do_resize": True, "size": {"height": 448, "width": 448}, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225], "do_convert_rgb": True,
            "image_processor_type": "GotOcr2ImageProcessorFast", "processor_class": "InternVLProcessor"},
        processor={"image_seq_length": 256, "processor_class": "InternVLProcessor"},
        template_files=("chat_template.jinja",),
        chat_template=INTERNVL_TEMPLATE,
        adds=(False, False),
        tokenizer={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None, "model_max_length": 8192,
                   "extra_special_tokens": {"start_image_token": "<img>", "end_image_token": "</img>",
                                            "context_image_token": "<IMG_CONTEXT>"}},
        generation=None,
        shrunk={"image_processor.size": "448 x 448 -> 32 x 32: the tiny InternViT is 32 px",
                "processor.image_seq_length": "256 = (448/14)^2/4 -> 16 = (32/4)^2/4"},
        sources={
            "image_processor": "huggingface/transformers@015d3b273cbc4a72f2feb1da386896655a23b3da:src/transformers/"
                               "models/internvl/convert_internvl_weights_to_hf.py (GotOcr2ImageProcessorFast(...)) (MED)",
            "processor": f"{HF}OpenGVLab/InternVL3-14B-hf/blob/refs%2Fpr%2F2/processor_config.json and "
                         f"{HF}OpenGVLab/InternVL3-38B-hf/blob/refs%2Fpr%2F2/processor_config.json (sibling releases "
                         "of the same converter, HIGH for them)",
            "chat_template": "the -hf template as vendored in several public InternVL3-hf training scripts "
                             "(find_string ids 4736625387, 53222687874, 49265602798, 3879046473: images as "
                             "'<IMG_CONTEXT>\\n', the token transformers' InternVLProcessor expands) (MED-LOW); the "
                             "converter copy at 015d3b2 (research notes) writes '<image>\\n', which transformers 5's "
                             "processor does not expand (0 image tokens for 1 image): not used",
            "tokenizer": "the same conversion script: Qwen2.5-VL's tokenizer (eos <|im_end|>, pad <|endoftext|>, no "
                         "bos) with the named image tokens, model_max_length 8192 (MED)"},
        not_found={"image_processor.crop_to_patches": "crop_to_patches / min_patches / max_patches as stored: the "
                                                      "tiny builder's crop_to_patches false (the family row forces "
                                                      "false anyway)",
                   "template_files": "which file holds the template (converter of transformers 4.5x): "
                                     "chat_template.jinja, as the tiny builder writes it",
                   "generation": "generation_config.json (the converter forces config eos <|im_end|>): the tiny "
                                 "builder's, from the model config (eos <|im_end|>)"},
    ),
    "google/gemma-3-4b-it": dict(
        family="gemma3",
        image_processor={
            "do_convert_rgb": None, "do_normalize": True, "do_pan_and_scan": None, "do_rescale": True,
            "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "Gemma3ImageProcessor",
            "image_seq_length": 256, "image_std": [0.5, 0.5, 0.5], "pan_and_scan_max_num_crops": None,
            "pan_and_scan_min_crop_size": None, "pan_and_scan_min_ratio_to_activate": None,
            "processor_class": "Gemma3Processor", "resample": 2, "rescale_factor": 0.00392156862745098,
            "size": {"height": 896, "width": 896}},
        processor={"image_seq_length": 256, "processor_class": "Gemma3Processor"},
        template_files=("chat_template.jinja",),
        chat_template=GEMMA3_TEMPLATE,
        tokenizer={"add_bos_token": True, "add_eos_token": False, "padding_side": "left",
                   "extra_special_tokens": {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
                                            "eoi_token": "<end_of_image>"}},
        generation={"bos_token_id": "<bos>", "cache_implementation": "hybrid", "do_sample": True,
                    "eos_token_id": ["<eos>", "<end_of_turn>"], "top_k": 64, "top_p": 0.95},
        shrunk={"image_processor.size": "896 x 896 -> 32 x 32: the tiny SigLIP tower is 32 px",
                "image_processor.image_seq_length": "256 -> 4: the tiny model's mm_tokens_per_image",
                "processor.image_seq_length": "256 -> 4, likewise"},
        sources={
            "image_processor": "the verbatim copy in NVIDIA NeMo-RL's example (find_string id 52504556433), matching "
                               "huggingface/transformers@0d7e95d96b4e187c651e2b2406ed98ed40d74963:src/transformers/"
                               "models/gemma3/convert_gemma3_weights.py (MED)",
            "processor": f"{HF}junnei/gemma-3-4b-it-speech/blob/main/processor_config.json (a derivative, LOW-MED)",
            "chat_template": "convert_gemma3_weights.py@0d7e95d's _CHAT_TEMPLATE (MED)",
            "tokenizer": "convert_gemma3_weights.py@0d7e95d: GemmaTokenizer(add_bos_token=True, add_eos_token=False, "
                         "padding_side='left', extra_special_tokens=...) (MED)",
            "generation": f"convert_gemma3_weights.py@0d7e95d (eos [1, 106] = <eos>, <end_of_turn>; do_sample, top_k "
                          f"64, top_p 0.95, cache_implementation hybrid) and the saved instance {HF}tylee4/gemma_trl/"
                          "blob/main/generation_config.json (MED)"},
        not_found={"tokenizer.eos_token": "the eos/pad strings of tokenizer_config.json: the tiny builder's "
                                          "(eos <end_of_turn>, pad <pad>)",
                   "generation.pad_token_id": "the string of id 0: the tiny tokenizer's pad",
                   "template_files": "where the gated release keeps its template: chat_template.jinja, as the "
                                     "tiny builder writes it",
                   "*": "the google/ files themselves (gated)"},
    ),
    "google/paligemma2-10b-mix-448": dict(
        family="paligemma",
        image_processor={"size": {"height": 448, "width": 448}, "image_seq_length": 1024,
                         "image_processor_type": "SiglipImageProcessor", "processor_class": "PaliGemmaProcessor"},
        processor=None,
        template_files=(),
        chat_template=None,
        tokenizer=None,
        generation=None,
        shrunk={"image_processor.size": "448 x 448 -> 32 x 32: the tiny SigLIP tower is 32 px",
                "image_processor.image_seq_length": "1024 = (448/14)^2 -> 64 = (32/4)^2"},
        sources={"image_processor": "huggingface/transformers@15ea02a2add1672acbeee158a9448720d6093de1:src/"
                                    "transformers/models/paligemma/convert_paligemma2_weights_to_hf.py (size 448, "
                                    "image_seq_length = 1024) (MED)",
                 "chat_template": "the converter writes none (MED)"},
        not_found={"*": "every stored file (gated): mean/std/resample (from paligemma-3b-pt-224's file), "
                        "tokenizer_config.json (add_bos/add_eos), generation_config.json: the tiny builder's"},
    ),
    "mistral-community/pixtral-12b": dict(
        family="pixtral",
        image_processor={
            "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "PixtralImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711], "patch_size": {"height": 16, "width": 16},
            "processor_class": "PixtralProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"longest_edge": 1024}},
        processor={"image_break_token": "[IMG_BREAK]", "image_end_token": "[IMG_END]", "image_token": "[IMG]",
                   "patch_size": 16, "processor_class": "PixtralProcessor"},
        template_files=("chat_template.json",),
        chat_template=PIXTRAL_TEMPLATE,
        tokenizer={"bos_token": "<s>", "eos_token": "</s>"},
        generation={"_from_model_config": True, "bos_token_id": "<s>", "eos_token_id": "</s>",
                    "transformers_version": "4.45.0.dev0"},
        shrunk={"image_processor.size": "longest edge 1024 -> 32: the tiny Pixtral tower is 32 px",
                "image_processor.patch_size": "16 -> 4, the tiny tower's patch",
                "processor.patch_size": "16 -> 4, likewise"},
        sources={
            "image_processor": f"{HF}mlx-community/pixtral-12b-8bit/blame/main/preprocessor_config.json (483 B, the "
                               f"release's size in {HF}mistral-community/pixtral-12b/tree/"
                               "c242c38909d1b17c6b4d9ff1cfe01960e5354deb) (HIGH)",
            "processor": f"{HF}mistral-community/pixtral-12b/blob/77ed10f29328bc5e18a1f532e59152b4dbbf78e8/"
                         "processor_config.json (HIGH; no spatial_merge_size stored)",
            "generation": f"{HF}mistral-community/pixtral-12b/blob/59bdd827040032801ed32232314fcd2e37acd2d9/"
                          "generation_config.json (HIGH)",
            "chat_template": "the later (RaushanTurganbay) chat_template.json as copied in a PixtralHandler for the "
                             "release (find_string id 19840093899) (LOW-MED)",
            "tokenizer": "bos <s> (id 1), eos </s> (id 2): generation_config and config ids (PARTIAL)"},
        not_found={"chat_template": "which of the two template versions is on main today: the later one",
                   "tokenizer": "tokenizer_config.json (add_bos_token, pad): the tiny builder's (BOS added; the "
                                "template also writes bos_token, and a prompt starting with it gets no second)"},
    ),
    "google/siglip-so400m-patch14-384": dict(
        family="siglip",
        image_processor={
            "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5],
            "processor_class": "SiglipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"height": 384, "width": 384}},
        processor=None,
        template_files=(),
        chat_template=None,
        adds=(False, True),
        tokenizer={"additional_special_tokens": [],
                   "clean_up_tokenization_spaces": True, "do_lower_case": True, "eos_token": "</s>",
                   "model_input_names": ["input_ids"], "model_max_length": 64, "pad_token": "</s>",
                   "processor_class": "SiglipProcessor", "unk_token": "<unk>"},
        generation=None,
        shrunk={"image_processor.size": "384 x 384 -> 32 x 32: the tiny SigLIP tower is 32 px"},
        sources={
            "image_processor": f"{HF}mlx-community/siglip-so400m-patch14-384/blob/main/preprocessor_config.json "
                               f"and {HF}ChuuniZ/comfyui-image-models/commit/c828fc837ff834b6a8791109fa7ab85224b67f0b "
                               "(two copies, HIGH)",
            "tokenizer": f"{HF}google/siglip-so400m-patch14-384/blob/7067f6db2baa594bab7c6d965fe488c7ac62f1c8/"
                         "tokenizer_config.json (HIGH); add_bos false / add_eos true: SiglipTokenizer appends </s> "
                         "(the file stores no add_* key; written here as the post-processor's rule)"},
        not_found={"image_processor": "the google/ repo's own blob (mirrors only)"},
    ),
}

# the ones config/paper.yaml and config/zoo.yaml name (Idefics3 beside them: its stored splitting)
IN_CONFIGS = [k for k in RELEASES if k != "HuggingFaceM4/Idefics3-8B-Llama3"]
