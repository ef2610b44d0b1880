"""Runs one evaluation over a stored dataset in its own process, for the tests that
kill or interrupt it mid-run: ``python eval_child.py <db url> <data dir> <upstream url>``."""

from __future__ import annotations

import sys
from pathlib import Path

from llmloop.evaluation import ModelTarget, evaluate
from llmloop.runtime import Runtime
from llmloop.settings import Settings


def main() -> None:
    db_url, data_dir, base_url = sys.argv[1:4]
    with Runtime(Settings(data_dir=Path(data_dir), database_url=db_url)) as runtime:
        runtime.providers.register_endpoint("scripted", base_url=base_url)
        evaluate(
            ModelTarget("scripted/gpt-4o-mini", prompt="{q}"),
            "tickets@golden",
            ["exact_match"],
            runtime=runtime,
            concurrency=4,
            cache=False,
            resamples=50,
        )


if __name__ == "__main__":
    main()
