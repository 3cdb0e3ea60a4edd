"""The learning role's one-line lesson, asked of Claude in a process of its own.

The operator's process does not load the Claude SDK (a quarter of its memory at 1000
nodes; see the import contract in pyproject.toml), so the lifecycle step that records an
outcome runs `python -m schedcp_operator.lesson_task` with a LessonRequest on stdin and
reads the lesson from stdout, bounded by a timeout. Any failure leaves the structured
lesson to stand alone, as a failed call does.
"""

from __future__ import annotations

import logging
import sys

import anthropic

from schedcp_operator.design.claude import ClaudeLoop, DesignError
from schedcp_operator.design.designer import learn_with_claude
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import Workspace
from schedcp_operator.design_exchange import LESSON_BUDGET, LESSON_MAX_LENGTH, LESSON_TIMEOUT_SECONDS, LessonRequest
from schedcp_operator.kube import api_client

log = logging.getLogger("schedcp.lesson")

def lesson(request: LessonRequest) -> str:
    learned = request.learned
    ws = Workspace(request.profile, Repository.load(api_client()))
    loop = ClaudeLoop(anthropic.Anthropic(timeout=LESSON_TIMEOUT_SECONDS, max_retries=1), request.model,
                      LESSON_BUDGET, max_repairs=1)
    recorded = learn_with_claude(loop, ws, learned.template or "", learned.revision, learned.before, learned.after,
                                 measured=f"{learned.outcome}: {learned.note}")
    return recorded.note.strip().splitlines()[0][:LESSON_MAX_LENGTH] if recorded.note.strip() else ""


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    request = LessonRequest.model_validate_json(sys.stdin.read())
    try:
        print(lesson(request))
    except (DesignError, anthropic.AnthropicError) as error:
        log.warning("no lesson from Claude for %s: %s", request.learned.revision, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
