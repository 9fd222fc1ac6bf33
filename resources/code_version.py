"""Which code is running: the git commit of the project checkout and whether it was dirty."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CodeVersion:
    commit: str  # "unknown" outside a git checkout
    dirty: bool | None  # None when unknown

    def as_tags(self) -> dict[str, str]:
        return {"code.git_commit": self.commit, "code.git_dirty": str(self.dirty).lower()}


def current_code_version(root: Path = PROJECT_ROOT) -> CodeVersion:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return CodeVersion("unknown (not a git checkout)", None)
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return CodeVersion(commit, dirty)
