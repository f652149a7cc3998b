"""A tiny causal LM, a tokenizer trained on the spot and capped trainer settings, for training TRL's
trainers on lane folders in seconds on a CPU with no hub access.

Used by tests/test_trl_training.py and tests/test_lane_snippets.py. Import it only after checking that
torch, transformers and trl are installed (the tests skip otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Nothing here may reach the hub: these machines cannot, and CI must not depend on it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: ChatML with tool calls and tool results, and ``{% generation %}`` markers around what the
#: assistant writes (end-of-turn token included) so ``assistant_only_loss`` has a mask. Arguments
#: may be a JSON string (the lane files) or an object (after decoding); both render as JSON once.
CHATML_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n# Tools\\n' }}
    {%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}
    {{- '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'assistant' %}
        {{- '<|im_start|>assistant\\n' }}
        {%- generation %}
        {{- message.content or '' }}
        {%- for call in message.tool_calls or [] %}
            {%- set fn = call.function if call.function is defined else call %}
            {{- '\\n<tool_call>\\n{"name": "' + fn.name + '", "arguments": ' }}
            {%- if fn.arguments is string %}{{- fn.arguments }}{%- else %}{{- fn.arguments | tojson }}{%- endif %}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>' }}
        {%- endgeneration %}
        {{- '\\n' }}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: What every trainer config is held to in the tests, whatever the caller passes: two optimiser
#: steps on tiny batches, on the CPU, writing and reporting nothing.
COMMON_CAPS = dict(max_steps=2, per_device_train_batch_size=2, per_device_eval_batch_size=2,
                   gradient_accumulation_steps=1, learning_rate=1e-3, logging_steps=1, save_strategy="no",
                   eval_strategy="no", report_to="none", use_cpu=True, bf16=False, fp16=False,
                   dataloader_num_workers=0, seed=0, disable_tqdm=True, gradient_checkpointing=False)
CAPS = {
    "SFTConfig": COMMON_CAPS,
    "DPOConfig": COMMON_CAPS,
    "KTOConfig": COMMON_CAPS,
    # Four short completions per prompt: rewards within a group can differ, generation stays cheap.
    "GRPOConfig": dict(COMMON_CAPS, per_device_train_batch_size=4, num_generations=4, max_completion_length=16,
                       temperature=1.0),
}
#: ``max_length`` in the tests: the caller's (it decides which rows TRL keeps: DPO and KTO drop a row
#: whose prompt alone fills it), TRL's default of 1024 when it says nothing, and never more than
#: :data:`MAX_LENGTH_CEILING`: attention over longer rows makes two CPU steps take minutes.
DEFAULT_MAX_LENGTH = 1024
MAX_LENGTH_CEILING = 2048


def capped(config_class):
    """``config_class`` (a TRL ``*Config``) with :data:`CAPS` forced over what the caller passes and
    ``max_length`` held under :data:`MAX_LENGTH_CEILING` (GRPO has none)."""
    name = config_class.__name__

    def make(*args, **kwargs):
        kwargs = {**kwargs, **CAPS[name]}
        if name != "GRPOConfig":
            asked = kwargs.get("max_length", DEFAULT_MAX_LENGTH)
            kwargs["max_length"] = min(asked or MAX_LENGTH_CEILING, MAX_LENGTH_CEILING)
        return config_class(*args, **kwargs)

    make.__name__ = name
    return make


def lane_texts(folder: str | Path, lines: int = 50, chars: int = 20_000) -> Iterator[str]:
    """The first ``lines`` rows (each cut to ``chars``) of each of a lane folder's data files: a corpus
    for the tiny tokenizer. A sample is enough, and training on every row (a KTO folder can hold
    tens of MB) would cost more than the trainings themselves."""
    for name in sorted(Path(folder).glob("*.jsonl")):
        with name.open(encoding="utf-8") as handle:
            for _, line in zip(range(lines), handle):
                yield line[:chars]


def tiny_tokenizer(texts, vocab_size: int = 4000):
    """A byte-level BPE tokenizer trained on ``texts`` with the ChatML template, ``eos`` and ``pad`` set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token=None, unk_token=None)
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_model(tokenizer, seed: int = 0):
    """A two-layer Qwen2 causal LM with random weights, sized to ``tokenizer``."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    return model


def tiny_checkpoint(folder: str | Path, texts) -> str:
    """Save a :func:`tiny_model` and its :func:`tiny_tokenizer` (trained on ``texts``) to ``folder``.

    Returns the folder as a string: what ``model=`` takes in TRL's trainers, like a hub id. DPO and
    KTO build their reference model from the policy's path, so a model object made in memory
    would not do.
    """
    tokenizer = tiny_tokenizer(texts)
    tiny_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def distill_real_exports(root: Path, lanes: tuple[str, ...], run_id: str = "distill_real") -> dict[str, Path]:
    """The real exports tests/real_fixtures.py picks, merged, copied to ``root`` (which must not
    exist yet); distil ``lanes`` (with ``--mix``) under ``[lanes] verify_code =
    true`` (the GRPO lane keeps code rows only when their logged run reproduces), and return each
    lane's folder.

    Skips the calling test when the exports, the provider plugins or ``datasets`` are absent.
    """
    import pytest

    pytest.importorskip("datasets")
    from moonshine_core.distill import distill
    from moonshine_core.plugins import make_plugin_manager
    from real_fixtures import merged_real_workspace   # one choice of real exports for every acceptance test

    pm = make_plugin_manager()
    ws, _ = merged_real_workspace(root, settings="[lanes]\nverify_code = true\n")
    distill(ws, lanes=list(lanes), pm=pm, run_id=run_id, mix=True)
    return {lane: ws.distill_dir(lane, run_id) for lane in lanes}
