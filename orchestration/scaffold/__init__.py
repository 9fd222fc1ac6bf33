"""`afterlaunch init`: a workflow scaffolded from a team's own table.

request.py    what was asked (the command's options) and the refusal type
sample.py     the bounded sample read through the engine's own source (so dtypes match)
plan.py       every decision taken from the sample: contract rules, task, lag, slices, policy
render.py     the generated files' source text
workspace.py  the code location appended to workspace.yaml (comments kept)
create.py     the whole command: refuse or write everything, then the next commands
"""

from orchestration.scaffold.create import init_workflow
from orchestration.scaffold.request import InitRefused, InitRequest

__all__ = ["InitRefused", "InitRequest", "init_workflow"]
