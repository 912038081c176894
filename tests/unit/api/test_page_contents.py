"""What the launch pages tell a person in each state: the truth about rollbacks, what to do next, where to look."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from chalicelib.api.pages.launch import Links, render_launch
from tests.unit.api.page_states import START, states

KEY = b"a key of the tests, thirty-two bytes"
NOW = START + timedelta(minutes=20)


def _render(state: str, paused: bool = False) -> str:
    launch, approvals, timeline = states()[state]
    return render_launch(launch, approvals, timeline, NOW, Links(KEY, 2_000_000_000, "tok", paused)).html


def test_a_requested_rollback_is_titled_and_coloured_as_what_it_is() -> None:
    page = _render("requested-rollback")
    assert "<title>Rollback of 1.2.0 in local: ROLLED_BACK</title>" in page
    assert "asked to roll back <a href='local-20261201-140000-eeeeee?token=" in page
    assert "RollbackRequested" not in page  # not an error banner
    assert "Not required" in page
    assert "waiting" not in page
    assert page.count("not needed") == 7  # every stage but the rollback itself


def test_a_launch_rolled_back_later_says_so_and_links_the_rollback() -> None:
    page = _render("rolled-back-later")
    assert "rolled back later" in page
    assert "by <a href='local-20261201-160000-ffffff?token=" in page


def test_what_to_do_next_is_highlighted_in_the_channels_words() -> None:
    page = _render("rolled-back-by-smoke")
    steps = re.search(r"<section class='steps'.*?</section>", page)
    assert steps is not None
    assert "What to do now" in steps[0]
    assert "switch the application to the restored database acme-db-restored-1a2b3c4d" in steps[0]
    assert "class='notice warn'><strong>SmokeTestFailed" in page  # rolled back: a warning, not a failure


def test_passed_preflight_rows_are_folded_and_the_rest_shown_with_what_was_seen() -> None:
    page = _render("blocked")
    shown, folded = page.split("<details><summary>The 41 checks that passed</summary>", 1)
    assert "Backend image exists in ECR" in shown
    assert "digest: none" in shown
    assert "Logs are kept long enough" in shown
    assert "Infrastructure item 0" not in shown
    assert "Infrastructure item 0" in folded


def test_each_chart_draws_the_limit_its_checkpoint_was_judged_by_the_baseline_and_a_scale() -> None:
    page = _render("succeeded")
    error_chart = re.search(r"<svg[^>]*aria-label='Error rate \(%\): 15 min: 0.03; 1 h: 0.02'.*?</svg>", page)
    assert error_chart is not None, page
    limit = re.search(r"<polyline points='([^']+)' fill='none' stroke='#a3262b'", error_chart[0])
    values = re.search(r"<polyline points='([^']+)' fill='none' stroke='#1a56c4'", error_chart[0])
    assert limit is not None
    assert values is not None
    # The judged limit (0.05 %) sits above the readings (0.03 %, 0.02 %), not at the profile's 0.1 %: on
    # screen, a smaller y. And the scale's top is the limit's, not twice over it.
    pairs = zip(limit[1].split(), values[1].split(), strict=True)
    assert all(float(judged.split(",")[1]) < float(read.split(",")[1]) for judged, read in pairs)
    assert "stroke-dasharray='1 3'" in error_chart[0]  # the baseline
    # The y scale tops at the highest line drawn: the judged 0.05 %, not the profile's 0.1 % threshold.
    assert "text-anchor='end'>0.05</text>" in error_chart[0]
    assert ">0.1</text>" not in error_chart[0]
    table = page.split("The figures as a table", 1)[1]
    assert "<td>baseline</td>" in table
    assert "<td>15 min</td><td>2.7e+03</td><td>0.03</td><td>0.05</td>" in table


def test_the_links_out_lead_to_the_commit_its_ci_runs_the_execution_and_the_logs() -> None:
    page = _render("running")
    assert "https://github.com/acme/web/actions/runs/1" in page
    assert "console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states" in page
    assert "logs-insights" in page


@pytest.mark.parametrize("paused", [False, True])
def test_a_reader_can_pause_the_refresh(paused: bool) -> None:
    page = _render("running", paused)
    assert ('http-equiv="refresh"' in page) is not paused
    assert ("Pause the refresh" in page) is not paused
    assert ("Refresh again" in page) is paused


def test_the_rollback_says_what_was_undone_in_sentences_and_the_page_links_the_list() -> None:
    page = _render("rolled-back-by-smoke")
    rollback = page.split("<h2>Rollback</h2>", 1)[1]
    assert "the service is back on acme-api:41" in rollback
    assert "restored into a new instance, acme-db-restored-1a2b3c4d: switch the application to it" in rollback
    assert "task definition arn:" not in rollback  # not a dump of the record's keys
    assert "../environments/local?token=" in page


def test_each_traffic_step_is_charted_release_against_old_revision_with_its_verdict_and_the_exposure() -> None:
    page = _render("canary-rolled-back")
    section = page.split("<h2>Traffic steps</h2>", 1)[1].split("<h2>", 1)[0]
    error_chart = re.search(r"<svg[^>]*aria-label='Error rate \(%\): ([^']*)'.*?</svg>", section)
    assert error_chart is not None, section
    assert error_chart[1] == "10 %: release 0.5, old 0.389; 30 %: release 20, old 0.429"
    assert error_chart[0].count("fill='#1a56c4'") == 2  # one bar of the release per step
    assert error_chart[0].count("fill='#9aa4b2'") == 2  # and one of the old revision beside it
    assert "aria-label='p95 latency (ms): 10 %: release 121, old 118; 30 %: release 180, old 118'" in section
    assert "<td>30 %</td><td>14:13:00</td><td><span class='badge bad'>fail</span></td>" in section
    assert "<td>600, 120</td><td>1400, 6</td><td>1.2e-30</td><td>0.004</td>" in section
    assert (
        "The release's revision served 212 requests (43 failed), the release&#x27;s target group, from its first "
        "traffic step (10 %), until the backend was restored." in section
    )
