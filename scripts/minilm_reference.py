"""Write the reference embeddings the sentence model's numpy forward pass is tested against
(``tests/workers/insights/minilm_reference.json``), computed by transformers' ``BertModel``
with torch, mean-pooled and normalised as sentence-transformers does.

Run it in a throwaway venv, never the project's (it needs torch)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 transformers safetensors numpy
    /tmp/refvenv/bin/python scripts/minilm_reference.py MODEL_DIR OUT.json

MODEL_DIR is the folder ``callscribe.workers.insights.encoder.sentence_model_dir()`` made.
"""

from __future__ import annotations

import json
import sys

import torch
from transformers import BertModel, BertTokenizerFast

SENTENCES = [
    "Hi, I was charged twice for my bill this month.",
    "I've been waiting two weeks and it STILL hasn't arrived!!!",
    "Can you help me reset my password?",
    "Thank you so much, that really helps.",
    "ok",
    "My order number is 4 1 1 2, and the total was $89.99 including shipping; "
    "I returned the jacket on the 12th of March, but nobody has refunded me, and "
    "honestly I am starting to think that nobody at your company reads the e-mails I send.",
]


def main(model_dir: str, out: str) -> None:
    tokenizer = BertTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256,
                      return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, dim=1)
    rows = [[round(float(v), 7) for v in row] for row in pooled]
    with open(out, "w") as fh:
        json.dump({"sentences": SENTENCES, "embeddings": rows}, fh)
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
