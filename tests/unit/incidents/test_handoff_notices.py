"""The shift-change handoff flow's words and its check of a handoff written by hand against the
rotation (the pure `ops.handovers`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.incidents.ops.handovers import (
    ack_notice,
    due_notice,
    event_id,
    rotation_verdict,
    unacknowledged_notice,
)

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HANDOFF = {"id": 7, "from_person": "bob", "to_person": "alice", "schedule": "ops", "handover_at": AT,
           "overlap_ends_at": AT + timedelta(minutes=30), "status": "draft"}
ROTATION = [{"schedule": "ops", "tier": "primary", "from_person": "bob", "to_person": "alice", "at": "2026-12-07T09:00:00Z",
             "overlap_ends_at": "2026-12-07T09:30:00Z"}]


def test_the_outgoing_person_is_asked_to_complete_the_handoff_before_the_handover():
    notice = due_notice(HANDOFF, zone="Europe/Berlin")
    assert (notice.kind, notice.recipients) == ("handoff_due", ("bob",))
    assert notice.title == "Complete your on-call handoff to alice (ops)"
    assert "at 2026-12-07 10:00 CET" in notice.summary and "complete it before the handover" in notice.summary


def test_the_incoming_person_is_asked_to_acknowledge_before_the_overlap_ends():
    notice = ack_notice(HANDOFF, zone="UTC")
    assert (notice.kind, notice.recipients) == ("handoff_ack", ("alice",))
    assert "acknowledge it before the overlap ends at 2026-12-07 09:30 UTC" in notice.summary


def test_an_unacknowledged_handoff_goes_to_the_team_or_without_one_to_both_people():
    assert unacknowledged_notice(HANDOFF, zone="UTC", team=("ops@example.com",)).recipients == ("ops@example.com",)
    notice = unacknowledged_notice(HANDOFF, zone="UTC", team=())
    assert notice.recipients == ("bob", "alice")
    assert "it was never completed by bob" in notice.summary


def test_each_message_of_a_handoff_has_its_own_stable_id():
    assert event_id("handoff_ack", 7) == event_id("handoff_ack", 7)
    assert len({event_id(kind, 7) for kind in ("handoff_due", "handoff_ack", "handoff_unacknowledged")} | {event_id("handoff_ack", 8)}) == 4


def test_a_handoff_by_hand_matching_a_handover_of_the_rotation_is_taken():
    assert rotation_verdict("bob", "alice", ROTATION, now=NOW, zone="UTC") == (True, None)


def test_a_handoff_by_hand_from_or_to_someone_else_names_who_the_rotation_says():
    assert rotation_verdict("alice", "bob", ROTATION, now=NOW, zone="UTC") == (
        False, "the rotation hands ops over from bob to alice at 2026-12-07 09:00 UTC, not from alice to bob")


def test_a_handoff_by_hand_when_the_rotation_hands_nothing_over_says_so():
    matches, why = rotation_verdict("bob", "alice", [], now=NOW, zone="UTC")
    assert not matches
    assert why == ("the rotation has no handover between 2026-12-06 06:00 UTC and 2026-12-08 06:00 UTC, "
                   "so bob does not hand over to alice")
