"""AMD's parameters, its cause, the accuracy report's arithmetic, and the scoring of parameter sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.domain.amd import (
    PARAMETER_NAMES,
    AmdCause,
    AmdParams,
    Label,
    Verdict,
    parse_cause,
    route_of,
    verdict_of,
)
from ari_app.domain.amd_accuracy import MIN_LABELS, LabelledCall, Share, accuracy_report, percentile
from ari_app.domain.amd_tuning import Candidate, candidate_sets, rank, score
from ari_app.settings import load_settings
from ari_app.simulator.scenario import AMD_PARAMETERS

P, M = Label.PERSON, Label.MACHINE
VP, VM = Verdict.PERSON, Verdict.MACHINE


# -- parameters ----------------------------------------------------------------------------------------


def test_the_defaults_are_asterisks_own_in_amds_argument_order() -> None:
    # amd.conf.sample and AMD()'s syntax: initialSilence, greeting, afterGreetingSilence,
    # totalAnalysisTime, minimumWordLength, betweenWordsSilence, maximumNumberOfWords,
    # silenceThreshold, maximumWordLength.
    assert AmdParams().as_dict() == {
        "initial_silence": 2500,
        "greeting": 1500,
        "after_greeting_silence": 800,
        "total_analysis_time": 5000,
        "min_word_length": 100,
        "between_words_silence": 50,
        "maximum_number_of_words": 2,
        "silence_threshold": 256,
        "maximum_word_length": 5000,
    }
    assert list(AmdParams().as_dict()) == list(PARAMETER_NAMES)
    assert AMD_PARAMETERS == AmdParams().as_dict()  # the simulator's amd.conf says the same


def test_the_parameters_travel_as_one_channel_variable_each() -> None:
    variables = AmdParams(greeting=2000).channel_variables()
    assert variables["AMD_GREETING"] == "2000"
    assert variables["AMD_MAXIMUM_NUMBER_OF_WORDS"] == "2"
    assert len(variables) == 9


@pytest.mark.parametrize("bad", [{"greeting": -1}, {"silence_threshold": 0}, {"silence_threshold": 40000}])
def test_impossible_parameters_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="AMD parameter"):
        AmdParams(**bad)


def test_each_route_may_override_some_parameters_and_keeps_the_rest() -> None:
    settings = load_settings(
        environ={}, overrides={"amd": {"greeting": 1800, "routes": {"carrier2": {"greeting": 2500}}}}
    )
    assert settings.amd.params_for("trunk").greeting == 1800
    two = settings.amd.params_for("carrier2")
    assert (two.greeting, two.initial_silence) == (2500, 2500)


def test_a_bad_amd_setting_names_its_key() -> None:
    from ari_app.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[amd\.routes\.x\] silence_threshold"):
        load_settings(environ={}, overrides={"amd": {"routes": {"x": {"silence_threshold": 0}}}})


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        ("LONGGREETING-1500-1500", AmdCause("LONGGREETING", (1500, 1500))),
        ("HUMAN-800-800", AmdCause("HUMAN", (800, 800))),
        ("TOOLONG-5000", AmdCause("TOOLONG", (5000,))),
        ("INITIALSILENCE-2500-2500", AmdCause("INITIALSILENCE", (2500, 2500))),
        ("MAXWORDS-3-2", AmdCause("MAXWORDS", (3, 2))),
        ("HANGUP", AmdCause("HANGUP", ())),
    ],
)
def test_amds_cause_keeps_its_reason_and_its_numbers(raw: str, cause: AmdCause) -> None:
    assert parse_cause(raw) == cause


def test_no_cause_is_none() -> None:
    assert parse_cause("") is None and parse_cause(None) is None


@pytest.mark.parametrize(
    ("status", "notsure", "verdict"),
    [
        ("MACHINE", "human", VM),
        ("HUMAN", "machine", VP),
        ("NOTSURE", "human", VP),
        ("NOTSURE", "machine", VM),
        ("HANGUP", "human", None),
        (None, "human", None),
    ],
)
def test_the_verdict_is_what_the_call_acted_on(
    status: str | None, notsure: str, verdict: Verdict | None
) -> None:
    assert verdict_of(status, notsure) is verdict


@pytest.mark.parametrize(
    ("endpoint", "route"),
    [("PJSIP/12015550123@trunk", "trunk"), ("SIP/carrier2/12015550123", "SIP"), ("PJSIP/+1201@a@b", "b")],
)
def test_the_route_is_the_part_after_the_at(endpoint: str, route: str) -> None:
    assert route_of(endpoint) == route


# -- the report's arithmetic -----------------------------------------------------------------------------


def call(label: Label | None, verdict: Verdict | None, route: str = "trunk", **kw: object) -> LabelledCall:
    return LabelledCall(route=route, label=label, verdict=verdict, **kw)  # type: ignore[arg-type]


def test_no_percentage_below_twenty_and_the_count_is_always_there() -> None:
    assert MIN_LABELS == 20
    assert Share.of(3, 19) == Share(3, 19, None)
    assert Share.of(3, 20) == Share(3, 20, 15.0)
    assert Share.of(0, 0) == Share(0, 0, None)


def test_the_confusion_table_counts_each_kind_of_mistake_against_its_own_labels() -> None:
    calls = (
        [call(P, VP)] * 18
        + [call(P, VM)] * 2  # people taken for machines
        + [call(M, VM)] * 15
        + [call(M, VP)] * 5  # machines taken for people
        + [call(None, VM)] * 7  # answered, not labelled
        + [call(P, None)]  # labelled, but AMD never judged it: not AMD's mistake
    )
    [route] = accuracy_report(calls).routes
    assert (route.answered, route.labelled, route.people, route.machines) == (47, 40, 20, 20)
    assert route.person_as_machine == Share(2, 20, 10.0)
    assert route.machine_as_person == Share(5, 20, 25.0)
    assert route.correct == Share(33, 40, 82.5)


def test_a_few_labels_give_counts_but_no_percentage() -> None:
    [route] = accuracy_report([call(P, VM), call(M, VM)]).routes
    assert route.person_as_machine == Share(1, 1, None)
    assert route.correct == Share(1, 2, None)


def test_time_to_decide_median_and_p90() -> None:
    calls = [call(P, VP, decide_seconds=float(s)) for s in range(1, 11)] + [call(P, VP)]
    [route] = accuracy_report(calls).routes
    assert route.decide_median == 5.5 and route.decide_p90 == 9.1 and route.decided == 10


def test_drops_before_the_beep_are_counted_among_the_drops() -> None:
    calls = [call(M, VM, drop_early=True)] * 3 + [call(M, VM, drop_early=False)] * 17 + [call(M, VM)] * 5
    [route] = accuracy_report(calls).routes
    assert route.drops == 20 and route.drops_early == Share(3, 20, 15.0)


def test_each_route_on_its_own_and_all_together() -> None:
    report = accuracy_report([call(P, VP, "b"), call(P, VM, "a"), call(M, VM, "a")])
    assert [r.route for r in report.routes] == ["a", "b"]
    assert (
        report.total is not None and report.total.labelled == 3 and report.total.person_as_machine.count == 1
    )
    assert accuracy_report([]).total is None


@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1))
def test_a_percentile_lies_within_the_values(values: list[float]) -> None:
    for q in (0.0, 0.5, 0.9, 1.0):
        p = percentile(values, q)
        assert p is not None and min(values) - 1e-9 <= p <= max(values) + 1e-9
    assert percentile(values, 0.5) <= (percentile(values, 0.9) or 0) + 1e-9  # type: ignore[operator]


@given(st.lists(st.tuples(st.sampled_from([P, M, None]), st.sampled_from([VP, VM, None]))))
def test_the_report_adds_up(pairs: list[tuple[Label | None, Verdict | None]]) -> None:
    report = accuracy_report([call(label, verdict) for label, verdict in pairs])
    if report.total is None:
        assert pairs == []
        return
    t = report.total
    assert t.people + t.machines == t.labelled <= t.answered
    assert t.correct.count + t.person_as_machine.count + t.machine_as_person.count == t.labelled


# -- scoring for tuning -----------------------------------------------------------------------------------


LABELS = {"c1": P, "c2": P, "c3": M, "c4": M}


def test_a_person_hung_up_on_costs_more_than_a_machine_missed() -> None:
    hangs_up = Candidate("hangs-up", AmdParams(greeting=1000), {"c1": VM, "c2": VP, "c3": VM, "c4": VM})
    misses = Candidate("misses", AmdParams(greeting=2500), {"c1": VP, "c2": VP, "c3": VP, "c4": VM})
    a, b = score(hangs_up, LABELS, 5.0), score(misses, LABELS, 5.0)
    assert (a.cost, a.person_as_machine, a.machine_as_person) == (5.0, 1, 0)
    assert (b.cost, b.person_as_machine, b.machine_as_person) == (1.0, 0, 1)
    assert [s.name for s in rank([hangs_up, misses], LABELS, 5.0)] == ["misses", "hangs-up"]
    # With the weight below 1 a missed machine is the worse mistake, and the order turns.
    assert [s.name for s in rank([hangs_up, misses], LABELS, 0.5)] == ["hangs-up", "misses"]


def test_a_call_without_a_verdict_counts_against_the_candidate() -> None:
    s = score(Candidate("gaps", AmdParams(), {"c1": VP}), LABELS, 2.0)
    assert (s.missing, s.person_as_machine, s.machine_as_person, s.cost) == (3, 1, 2, 4.0)


def test_on_a_tie_the_current_set_given_first_stays() -> None:
    current = Candidate("current", AmdParams(), {"c1": VP, "c2": VP, "c3": VM, "c4": VP})
    same = Candidate("other", AmdParams(greeting=2000), {"c1": VP, "c2": VP, "c3": VP, "c4": VM})
    assert [s.name for s in rank([current, same], LABELS)] == ["current", "other"]


def test_the_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="person_weight"):
        score(Candidate("x", AmdParams(), {}), LABELS, 0)


def test_candidates_start_with_the_current_set_and_vary_the_deciding_parameters_once_each() -> None:
    current = AmdParams()
    sets = candidate_sets(current)
    assert sets[0] == current
    assert len(sets) == len(set(sets)) == 4 * 4 * 3
    assert {s.greeting for s in sets} == {1000, 1500, 2000, 2500}
    assert all(s.initial_silence == 2500 for s in sets)  # the others are left alone
    low = candidate_sets(AmdParams(greeting=400), {"greeting": (-500, 0)})
    assert [s.greeting for s in low] == [400]  # a limit below 1 ms is no candidate
