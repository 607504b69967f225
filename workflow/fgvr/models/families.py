"""Which families the tiny builders know, by kind (torch-free: read when the config is checked)."""
KINDS = {"mllm": ("idefics2", "idefics3", "smolvlm", "llava", "llava_next", "qwen2_vl", "qwen2_5_vl"),
         "vlm": ("siglip", "siglip2", "clip")}
