"""serving_flags: the per-model switch read at scoring time. `off` falls back to the workflow's
rule-based default (recorded as the serving version "rules"); `pin` serves one version to
everyone; `on` is the normal path (the champion, and a rollout's canary if one runs). A
version whose feature set is gone from the code cannot be pinned.

Flipping it is a run of `set_serving_flag` (`afterlaunch flag off --reason ...`): no
deployment, and one materialization per flip, so the UI shows who flipped it, when and why.
The next scoring run applies it.
"""

from dagster import AssetExecutionContext, Config, Failure, Output, asset

from assets.models import NotServable, feature_set_of
from assets.names import FLAGS
from assets.serving import current_flag
from assets.workflow import Workflow
from resources.approvals import acting_person
from resources.clock import ClockResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

STATES = ("on", "off", "pin")


class FlagChange(Config):
    state: str  # on | off | pin
    reason: str
    version: str | None = None  # with `pin`: the version to serve to everyone
    actor: str | None = None


def build(wf: Workflow) -> tuple[list, list]:
    @asset(
        name=FLAGS,
        key_prefix=[wf.name],
        group_name="deployment",
        kinds={"mlflow"},
        owners=[wf.team("model_owner")],
    )
    def serving_flags(
        context: AssetExecutionContext,
        config: FlagChange,
        registry: ModelRegistry,
        storage: HomeStorage,
        clock: ClockResource,
    ) -> Output[dict]:
        """The serving switch of the registered model: on, off (rule-based default) or pinned."""
        if config.state == "off" and wf.fallback is None:
            raise Failure(f"workflow {wf.name} declares no fallback: it cannot be switched off")
        if config.state not in STATES:
            raise Failure(f"unknown flag state {config.state!r}: one of {', '.join(STATES)}")
        if not config.reason.strip():
            raise Failure("a flag change needs a reason: it is what the next person reads")
        if (config.state == "pin") != (config.version is not None):
            raise Failure("`pin` needs a version, and only `pin` takes one")
        if config.version is not None:
            known = {v["version"] for v in registry.versions()}
            if config.version not in known:
                raise Failure(
                    f"cannot pin version {config.version}: registered versions {sorted(known)}"
                )
            try:
                feature_set_of(wf, config.version, registry.version_tags(config.version))
            except NotServable as err:
                raise Failure(f"cannot pin version {config.version}: {err}") from err
        before = current_flag(storage.snapshots) or {"state": "on", "version": None}
        record = {
            "model": registry.model_name,
            "state": config.state,
            "version": config.version,
            "reason": config.reason,
            "actor": acting_person(config.actor),
            "at": clock.now().isoformat(),
            "previous": {"state": before["state"], "version": before["version"]},
        }
        shown = f"pin {config.version}" if config.state == "pin" else config.state
        was = f"pin {before['version']}" if before["state"] == "pin" else before["state"]
        context.log.info(
            "serving flag of %s: %s -> %s (%s)", record["model"], was, shown, config.reason
        )
        return Output(
            record,
            metadata={
                "state": config.state,
                "version": config.version or "none",
                "reason": config.reason,
                "actor": record["actor"],
                "at": record["at"],  # the workflow's clock: a demo's simulated date
                "summary": f"{record['model']}: {was} -> {shown} by {record['actor']}: "
                f"{config.reason} (on {record['at'][:10]})",
            },
        )

    return [serving_flags], []
