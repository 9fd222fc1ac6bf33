"""The deployment's workflows: one package per monitored model, `workflows/<name>/`.

Folders named in $AFTERLAUNCH_WORKFLOW_PATH (os.pathsep-separated, each holding
`<name>/workflow.py`) are searched too, so a workflow can live outside this repository (one
`afterlaunch init --into DIR` wrote, a team's own repository) and still import as
`workflows.<name>`.
"""

import os

PATH_ENV = "AFTERLAUNCH_WORKFLOW_PATH"


def extend_search_path() -> list[str]:
    """Append the folders of $AFTERLAUNCH_WORKFLOW_PATH not yet searched (read at each call:
    the variable may be set after this package was imported); returns the search path."""
    for folder in os.environ.get(PATH_ENV, "").split(os.pathsep):
        if folder and os.path.abspath(folder) not in __path__:
            __path__.append(os.path.abspath(folder))
    return list(__path__)


extend_search_path()
