"""Who is acting: the named actor, else $AFTERLAUNCH_ACTOR (read at each call), else the OS
user."""

import getpass

from resources.approvals import ACTOR_ENV, acting_person


def test_the_environment_names_the_actor_over_the_os_user(monkeypatch):
    monkeypatch.setenv(ACTOR_ENV, "  support operations lead ")
    assert acting_person() == "support operations lead"
    # Read at the call, not at import: a changed environment names the new person.
    monkeypatch.setenv(ACTOR_ENV, "workflow designer")
    assert acting_person(None) == "workflow designer"


def test_a_named_actor_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(ACTOR_ENV, "workflow designer")
    assert acting_person(" dana ") == "dana"
    assert acting_person("   ") == "workflow designer"  # a blank --actor names no one


def test_without_the_environment_the_os_user_acts(monkeypatch):
    monkeypatch.delenv(ACTOR_ENV, raising=False)
    assert acting_person() == getpass.getuser()
    monkeypatch.setenv(ACTOR_ENV, " ")
    assert acting_person() == getpass.getuser()
