"""Stage 3, generation: render the prompt template and ask a generator for the reply.

The generator receives the rendered prompt and the top-ranked passages separately
(``resources.generators``' convention), so the same template serves the local
``TemplateGenerator`` and a language model behind an OpenAI-compatible server. A generator
that raises is recorded like one that returns an error: ``Generation(text=None, error=...)``
for that ticket only, so one failing call never stops the other tickets.
"""

from __future__ import annotations

import logging
import time

from resources.generators import Generation, Generator
from workflows.reply_suggestions.config import PromptConfig

log = logging.getLogger(__name__)


def numbered_passages(passages: list[str]) -> str:
    """``[1] first\\n[2] second``: the numbering the citation markers refer to."""
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))


def render_prompt(prompt: PromptConfig, question: str, passages: list[str]) -> str:
    """The template with ``{question}`` (whitespace collapsed to single spaces, so the question
    stays on its one ``Question:`` line) and ``{passages}`` (numbered) filled in."""
    return prompt.template.format(
        question=" ".join(str(question).split()), passages=numbered_passages(passages)
    )


def generate_reply(
    generator: Generator, prompt: PromptConfig, question: str, passages: list[str]
) -> Generation:
    """The generator's answer for one question; an exception it raises becomes the row's
    error (its type and message), logged as a warning."""
    rendered = render_prompt(prompt, question, passages)
    started = time.perf_counter()
    try:
        generation = generator.generate(rendered, passages)
    except Exception as exc:  # a failed call is this row's outcome, recorded, not raised
        error = f"{type(exc).__name__}: {exc}"
        log.warning("generator %s v%s raised: %s", generator.name, generator.version, error)
        return Generation(
            text=None,
            error=f"generator raised {error}",
            model=f"{generator.name}:{generator.version}",
            latency_ms=(time.perf_counter() - started) * 1000,
        )
    if not isinstance(generation, Generation):
        raise TypeError(
            f"generator {generator.name!r} returned {type(generation).__name__}, not a Generation"
        )
    return generation
