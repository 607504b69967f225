"""Alignment fine-tuning (the paper's section 3; REFERENCE.md section 3): losses, samples, loop."""
