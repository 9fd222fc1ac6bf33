"""Whose yes counts on a promotion: never the registrant's; only a listed approver's when the
policy lists them; every refusal names who may approve."""

from checks.four_eyes import approval_refusal, same_name, who_may_approve

LISTED = ["workflow designer", "support operations lead"]


def test_the_registrant_is_refused_and_told_who_may_approve():
    refusal = approval_refusal("Data  Scientist", ["data scientist"], LISTED)
    assert refusal is not None
    assert "registered this version" in refusal and "four eyes" in refusal
    assert "'workflow designer' or 'support operations lead' may approve it" in refusal


def test_a_listed_registrant_is_refused_and_the_others_named():
    refusal = approval_refusal("workflow designer", ["drift", "workflow designer"], LISTED)
    assert refusal is not None and "four eyes" in refusal
    assert "'support operations lead' may approve it" in refusal
    assert "'workflow designer' or" not in refusal


def test_an_approver_outside_the_list_is_refused_naming_the_list():
    refusal = approval_refusal("head of support", ["drift"], LISTED)
    assert refusal is not None
    assert "head of support is not a promotion approver in the policy" in refusal
    assert "'workflow designer' or 'support operations lead' may approve it" in refusal


def test_a_listed_approver_who_did_not_register_it_is_accepted():
    assert approval_refusal("Support Operations Lead", ["drift"], LISTED) is None
    assert approval_refusal("workflow designer", [], LISTED) is None


def test_without_a_list_anyone_but_the_registrant_may_approve():
    assert approval_refusal("carol", ["alice"], []) is None
    refusal = approval_refusal("alice", ["alice", " ", ""], [])
    assert refusal is not None and "anyone but 'alice' may approve it" in refusal
    assert who_may_approve([], []) == "anyone may approve it"


def test_when_only_registrants_are_listed_the_refusal_says_to_add_an_approver():
    said = who_may_approve(["alice"], ["alice"])
    assert said.startswith("no one may") and "add another approver to approvers.promotion" in said


def test_names_differ_by_letters_not_by_case_or_spacing():
    assert same_name(" Ana  Lopez", "ana lopez")
    assert not same_name("ana", "anna")
