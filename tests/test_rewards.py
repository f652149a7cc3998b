"""The shipped reward functions, called the way TRL's GRPOTrainer calls them: every column a list, completions
as strings or assistant messages, one float per completion for every task."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core import rewards
from moonshine_core.answers import MAX_ANSWER_CHARS, comparable_output, extract_final_answer, outputs_match
from moonshine_core.rewards import REWARD_FUNCS, accuracy_reward, answer_similarity_reward, format_reward


def call(func, completions, task, solution=None, info=None):
    """``func`` with the keyword arguments GRPOTrainer passes (columns repeated per completion)."""
    n = len(completions)
    return func(prompts=[[{"role": "user", "content": "q"}]] * n, completions=completions,
                completion_ids=[[1, 2]] * n, task=[task] * n, solution=[solution] * n,
                verification_info=[info] * n, answer_source=["user_accepted"] * n, trainer_state=None,
                log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)


def chat(text):
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize("text, expected", [
    ("We get \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("Working...\nFinal answer: **42**", "42"),
    ("So the answer is 7.", "7"),
    ("17 * 23 = 391", "391"),
    ("The mean distance is \\( \\frac{1}{3} \\).", "\\frac{1}{3}"),
    ("The capital is **Canberra**.", "Canberra"),
    ("4", "4"),
    ("```python\nprint('Answer: 5')\n```\nRun it to see.", None),   # an Answer: inside code is no answer
    ("Sure! Here is a poem about tea.", None),
])
def test_final_answer_extraction(text, expected):
    assert extract_final_answer(text) == expected


def test_math_rows_are_checked_with_math_verify():
    completions = [chat("The average is \\boxed{1/3}."), "It is 0.5, i.e. \\boxed{\\frac{1}{2}}", "I get 2/3.", "no idea"]
    assert call(accuracy_reward, completions, "math", "\\frac{1}{3}") == [1.0, 0.0, 0.0, 0.0]
    # math-verify equivalence, not string equality
    assert call(accuracy_reward, ["Answer: 0.5", "Answer: $\\frac{2}{4}$", "Answer: 1/2"], "math", "1/2") == [1.0] * 3


def test_a_math_gold_math_verify_cannot_parse_is_compared_as_text():
    assert rewards.parse_math("Canberra") == []
    assert call(accuracy_reward, ["Answer: canberra", "Answer: Sydney"], "math", "Canberra") == [1.0, 0.0]


def test_exact_answers_compare_normalised():
    got = call(accuracy_reward, ["Final answer: **Canberra**.", "The answer is canberra", "Sydney"],
               "exact_answer", "Canberra")
    assert got == [1.0, 1.0, 0.0]


CODE_INFO = json.dumps({"kind": "execution_trace", "language": "python", "tool": "python",
                        "setup_cells": ["nums = list(range(1, 11))"], "reference_code": "sum(n * n for n in nums)",
                        "expected_output": "385", "timeout_s": 10, "memory_mb": 1024})


def test_code_rows_run_the_completion_after_the_setup_cells():
    completions = [chat("Here:\n```python\nsum(n * n for n in nums)\n```"),   # uses the setup cell's name
                   "print(sum(i ** 2 for i in range(1, 11)))",                # no fence: the whole text runs
                   chat("```python\nsum(nums)\n```"),                        # runs, prints the wrong value
                   chat("```bash\necho 385\n```"),                            # not Python: nothing to run
                   chat("```python\nprint(385)\nraise SystemExit(1)\n```")]   # right output, but it fails
    assert call(accuracy_reward, completions, "code", info=CODE_INFO) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert call(format_reward, completions, "code", info=CODE_INFO) == [1.0, 0.0, 1.0, 0.0, 1.0]
    similarity = call(answer_similarity_reward, completions, "code", info=CODE_INFO)
    assert similarity[:2] == [1.0, 1.0] and similarity[3] == 0.0
    assert 0.0 < similarity[2] < 1.0   # '55' and '385' share a character
    assert 0.0 < similarity[4] < 1.0   # '385' then the exception, as a notebook shows it


def test_one_run_serves_all_three_functions():
    completion = [chat("```python\nsum(n * n for n in nums) + 0\n```")]
    before = rewards._run.cache_info()
    for func in REWARD_FUNCS:   # format_reward only reads the block
        call(func, completion, "code", info=CODE_INFO)
    after = rewards._run.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_similarity_grades_wrong_answers_and_tops_right_ones():
    completions = ["Answer: 391", "Answer: 390", "Answer: 17", "lorem ipsum", ""]
    scores = call(answer_similarity_reward, completions, "math", "391")
    assert scores[0] == 1.0 and scores[0] > scores[1] > scores[2] >= scores[3] >= scores[4] == 0.0
    assert len(set(scores)) >= 3   # a group of weak completions does not get one value


def test_format_reward_wants_a_final_answer_or_a_python_block():
    assert call(format_reward, ["Answer: 3", "three, I think"], "math", "3") == [1.0, 0.0]
    assert call(format_reward, ["```python\ndef f(:\n```", "```python\nx = 1\n```"], "code", info=CODE_INFO) == [0.0, 1.0]


def test_unknown_tasks_and_missing_columns_still_get_floats():
    for func in REWARD_FUNCS:
        assert call(func, ["Answer: 3"], "translation", "3") == [0.0]
        assert func(completions=["Answer: 3", chat("4")]) == [0.0, 0.0]
        # solution alone reads as a math row (as trl.rewards.accuracy_reward's datasets are)
        assert all(isinstance(v, float) for v in func(completions=["Answer: 3"], solution=["3"]))


def test_outputs_compare_without_warnings_and_line_wrapping():
    logged = ("/home/sandbox/ipykernel_12/1.py:3: UserWarning: Glyph missing from current font.\n  plt.tight_layout()\n"
              "[{'page': 1}, {'page': 2}]")
    assert comparable_output(logged) == "[{'page': 1}, {'page': 2}]"
    assert outputs_match("[{'page': 1},\n {'page': 2}]", logged)
    assert not outputs_match("''", "''")   # an empty display is nothing to compare


def test_extraction_stays_fast_on_adversarial_text():
    import time

    for text in ("\\boxed{" * 3000, "is \\(" * 3000 + "x", "* " * 5000 + "answer: 1", "=" * 10000 + " 5"):
        started = time.monotonic()
        extract_final_answer(text)
        comparable_output(text)
        assert time.monotonic() - started < 2.0, text[:20]


completion_strategy = st.one_of(st.text(max_size=300), st.text(max_size=300).map(chat),
                                st.just([{"role": "assistant", "content": [{"type": "text", "text": "Answer: 2"}]}]),
                                st.none())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=2000))
def test_answer_extraction_never_raises(text):
    answer = extract_final_answer(text)
    assert answer is None or 0 < len(answer) <= MAX_ANSWER_CHARS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions=st.lists(completion_strategy, min_size=1, max_size=4),
       task=st.sampled_from(["math", "exact_answer", "code", "other", None]),
       solution=st.one_of(st.none(), st.sampled_from(["391", "\\frac{1}{3}", "Canberra", "x^2 + 1", ""]),
                          st.text(max_size=20)))
def test_every_function_gives_a_float_in_unit_interval(completions, task, solution):
    # a code row whose language is not run keeps the property test fast; code runs are tested above
    info = json.dumps({"kind": "execution_trace", "language": "bash", "expected_output": "ok"})
    for func in REWARD_FUNCS:
        values = call(func, completions, task, solution, info if task == "code" else None)
        assert len(values) == len(completions)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), (func.__name__, values)
